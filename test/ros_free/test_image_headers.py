"""t2g_ros.image_headers reads every size the way cv2.imdecode will, and refuses what it cannot bound.

The property: for any image ``cv2.imencode`` writes (PNG, JPEG, TIFF; random sizes, channels,
depths and JPEG modes), the header reader's size is the decoder's. Crafted files (a TIFF listing
its size twice, 10000 x 10000 first and 10 x 10 last, as libtiff keeps the first; multi-page
TIFFs; a second JPEG frame header; tiles larger than the image; lying size fields) are refused
before anything is decoded.
"""

from __future__ import annotations

import struct
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from t2g_ros import image_codec
from t2g_ros.image_codec import ImageDecodeError, compressed_msg_to_rgb
from t2g_ros.image_headers import HeaderError, read_header

PROPERTY = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
JPEG_MODES = {
    "baseline": [],
    "progressive": [cv2.IMWRITE_JPEG_PROGRESSIVE, 1],
    "optimized": [cv2.IMWRITE_JPEG_OPTIMIZE, 1],
    "restarts": [cv2.IMWRITE_JPEG_RST_INTERVAL, 2],
    "444": [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444],
    "422": [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_422],
}
SHORT, LONG = 3, 4


def array(data: bytes) -> np.ndarray:
    return np.frombuffer(data, np.uint8)


def encode(ext: str, image: np.ndarray, params=()) -> bytes:
    ok, encoded = cv2.imencode(ext, image, list(params))
    assert ok
    return encoded.tobytes()


def small_tiff(height: int = 10, width: int = 10) -> bytes:
    return encode(".tiff", np.full((height, width, 3), 77, np.uint8))


# --- TIFF directory surgery (classic TIFF as cv2 writes it: one IFD, inline size fields) --------


def tiff_entries(data: bytes) -> tuple[str, list[bytes]]:
    order = "<" if data[:2] == b"II" else ">"
    ifd = struct.unpack(order + "I", data[4:8])[0]
    count = struct.unpack(order + "H", data[ifd : ifd + 2])[0]
    return order, [data[ifd + 2 + 12 * i : ifd + 14 + 12 * i] for i in range(count)]


def tiff_entry(order: str, tag: int, kind: int, value: int, count: int = 1) -> bytes:
    packed = struct.pack(order + ("H" if kind == SHORT else "I"), value).ljust(4, b"\0")
    return struct.pack(order + "HHI", tag, kind, count) + packed


def with_directory(data: bytes, entries: list[bytes], order: str, following: int = 0) -> bytes:
    """``data`` with a new first directory (appended at the end) holding ``entries``."""
    offset = len(data) + len(data) % 2
    out = bytearray(data.ljust(offset, b"\0"))
    out[4:8] = struct.pack(order + "I", offset)
    out += struct.pack(order + "H", len(entries)) + b"".join(entries)
    out += struct.pack(order + "I", following)
    return bytes(out)


def tiff_with_sizes(data: bytes, *, first: tuple[int, int], kind: int = LONG) -> bytes:
    """``data`` whose directory lists ImageWidth/ImageLength ``first`` before its own ones."""
    order, entries = tiff_entries(data)
    width, height = first
    extra = [tiff_entry(order, 256, kind, width), tiff_entry(order, 257, kind, height)]
    return with_directory(data, extra + entries, order)


def multi_page(data: bytes) -> bytes:
    """``data`` with its directory written twice, the first pointing to the second."""
    order, entries = tiff_entries(data)
    second = with_directory(data, entries, order)
    return with_directory(
        second, entries, order, following=struct.unpack(order + "I", second[4:8])[0]
    )


def replace_tags(data: bytes, replacements: dict[int, bytes]) -> bytes:
    order, entries = tiff_entries(data)
    tags = [struct.unpack(order + "H", entry[:2])[0] for entry in entries]
    return with_directory(data, [replacements.get(t, e) for t, e in zip(tags, entries)], order)


# --- the property --------------------------------------------------------------------------------


@st.composite
def encodable(draw) -> bytes:
    """Any image cv2.imencode writes as PNG, JPEG or TIFF."""
    fmt = draw(st.sampled_from([".png", ".jpg", ".tiff"]))
    height, width = draw(st.integers(1, 300)), draw(st.integers(1, 300))
    channels = draw(st.sampled_from([1, 3] if fmt == ".jpg" else [1, 3, 4]))
    depth = np.uint8 if fmt == ".jpg" else draw(st.sampled_from([np.uint8, np.uint16]))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    shape = (height, width) if channels == 1 else (height, width, channels)
    image = rng.integers(0, np.iinfo(depth).max, shape, dtype=depth, endpoint=True)
    params = JPEG_MODES[draw(st.sampled_from(sorted(JPEG_MODES)))] if fmt == ".jpg" else []
    return encode(fmt, image, params)


@PROPERTY
@given(data=encodable())
def test_the_header_size_is_the_decoders_for_any_encodable_image(data):
    header = read_header(array(data))
    decoded = cv2.imdecode(array(data), cv2.IMREAD_UNCHANGED)
    assert (header.height, header.width) == decoded.shape[:2]
    assert header.kind == {b"\xff\xd8": "jpeg", b"\x89P": "png"}.get(data[:2], "tiff")


@PROPERTY
@given(
    first=st.tuples(st.integers(1, 20000), st.integers(1, 20000)),
    last=st.tuples(st.integers(1, 64), st.integers(1, 64)),
    kind=st.sampled_from([SHORT, LONG]),
    big_endian=st.booleans(),
)
def test_a_tiff_listing_its_size_twice_with_two_values_is_refused(first, last, kind, big_endian):
    first = tuple(min(side, 65535) if kind == SHORT else side for side in first)
    data = small_tiff(*reversed(last))
    if big_endian:
        data = _big_endian_tiff(last)
    if first == last:
        header = read_header(array(tiff_with_sizes(data, first=first, kind=kind)))
        assert (header.width, header.height) == last
        return
    with pytest.raises(HeaderError, match="twice, .* then .*the decoder would use the first"):
        read_header(array(tiff_with_sizes(data, first=first, kind=kind)))


@PROPERTY
@given(height=st.integers(1, 64), width=st.integers(1, 64), channels=st.sampled_from([1, 3]))
def test_a_multi_page_tiff_is_refused(height, width, channels):
    shape = (height, width) if channels == 1 else (height, width, channels)
    ok, pages = cv2.imencodemulti(".tiff", [np.zeros(shape, np.uint8), np.ones(shape, np.uint8)])
    assert ok
    with pytest.raises(HeaderError, match="more than one page"):
        read_header(pages)
    with pytest.raises(HeaderError, match="more than one page"):
        read_header(array(multi_page(small_tiff(height, width))))


@PROPERTY
@given(
    mode=st.sampled_from(sorted(JPEG_MODES)),
    second=st.tuples(st.integers(1, 20000), st.integers(1, 20000)),
)
def test_a_jpeg_with_a_second_frame_header_is_refused(mode, second):
    """libjpeg stops at a second SOF; a reader that took either one could be told a lie."""
    data = encode(".jpg", np.zeros((16, 24, 3), np.uint8), JPEG_MODES[mode])
    sof = next(data.index(bytes([0xFF, m])) for m in (0xC0, 0xC1, 0xC2) if bytes([0xFF, m]) in data)
    length = int.from_bytes(data[sof + 2 : sof + 4], "big")
    copy = bytearray(data[sof : sof + 2 + length])
    copy[5:9] = second[1].to_bytes(2, "big") + second[0].to_bytes(2, "big")
    for crafted in (
        data[: sof + 2 + length] + copy + data[sof + 2 + length :],
        data[:2] + copy + data[2:],
    ):
        with pytest.raises(HeaderError, match="second frame header"):
            read_header(array(crafted))


# --- lying and unknown layouts -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("craft", "message"),
    [
        (
            lambda order: {256: tiff_entry(order, 256, LONG, 10, count=2)},
            "ImageWidth has field type 4 and count 2",
        ),
        (lambda order: {257: tiff_entry(order, 257, 5, 10)}, "ImageLength has field type 5"),
        (lambda order: {256: tiff_entry(order, 256, SHORT, 0)}, "empty image size: 0x10"),
        (
            lambda order: {278: tiff_entry(order, 322, LONG, 8192)},
            "TileWidth 8192 is larger than the image",
        ),
    ],
    ids=["size_count_2", "size_rational", "zero_width", "giant_tile"],
)
def test_tiff_size_fields_the_decoder_could_read_otherwise_are_refused(craft, message):
    data = small_tiff()
    order, _ = tiff_entries(data)
    with pytest.raises(HeaderError, match=message):
        read_header(array(replace_tags(data, craft(order))))


def test_a_tile_of_the_image_rounded_up_to_16_is_accepted():
    data = small_tiff()
    order, _ = tiff_entries(data)
    crafted = replace_tags(data, {278: tiff_entry(order, 322, LONG, 16)})
    header = read_header(array(crafted))
    assert (header.width, header.height) == (10, 10)


@pytest.mark.parametrize(
    ("craft", "message"),
    [
        (lambda png: png[:8] + b"\x00\x00\x00\x0e" + png[12:], "no 13-byte IHDR chunk first"),
        (lambda png: png[:12] + b"IDAT" + png[16:], "no 13-byte IHDR chunk first"),
        (lambda png: b"II+\x00" + png[4:], "BigTIFF"),
    ],
    ids=["ihdr_length", "ihdr_not_first", "bigtiff"],
)
def test_other_unknown_layouts_are_refused(craft, message):
    png = encode(".png", np.zeros((4, 4), np.uint8))
    with pytest.raises(HeaderError, match=message):
        read_header(array(craft(png)))


# --- through the decoder: refused before cv2.imdecode runs ---------------------------------------


@pytest.fixture()
def no_decoding(monkeypatch):
    """cv2.imdecode fails the test if the codec calls it."""

    def decode(*args, **kwargs):
        raise AssertionError("cv2.imdecode was called on an image the headers should refuse")

    monkeypatch.setattr(image_codec.cv2, "imdecode", decode)


def test_the_tiff_bomb_of_issue_20_is_refused_before_decoding(no_decoding):
    """10000 x 10000 listed first (libtiff's choice), 10 x 10 last (what the old reader kept)."""
    bomb = tiff_with_sizes(small_tiff(), first=(10000, 10000))
    with pytest.raises(ImageDecodeError, match="ImageWidth twice, 10000 then 10"):
        compressed_msg_to_rgb(SimpleNamespace(format="tiff", data=bomb), max_pixels=1000)


def test_a_multi_page_tiff_is_refused_before_decoding(no_decoding):
    with pytest.raises(ImageDecodeError, match="more than one page"):
        compressed_msg_to_rgb(SimpleNamespace(format="tiff", data=multi_page(small_tiff())))


def test_a_lying_jpeg_size_is_refused_before_decoding(no_decoding):
    data = encode(".jpg", np.zeros((16, 16, 3), np.uint8))
    sof = data.index(b"\xff\xc0")
    lie = (
        data[:2] + data[sof : sof + 19].replace(b"\x00\x10\x00\x10", b"\x27\x10\x27\x10") + data[2:]
    )
    with pytest.raises(ImageDecodeError, match="second frame header"):
        compressed_msg_to_rgb(SimpleNamespace(format="jpeg", data=lie))


def test_decoding_agrees_with_the_header_that_was_checked():
    """The first size listed is the one decoded: what read_header reports is what cv2 allocates."""
    data = small_tiff(12, 20)
    first = tiff_with_sizes(data, first=(20, 12))  # listed twice, the same: accepted
    header = read_header(array(first))
    assert (header.width, header.height) == (20, 12)
    assert compressed_msg_to_rgb(SimpleNamespace(format="tiff", data=first)).shape == (12, 20, 3)


def _big_endian_tiff(size: tuple[int, int]) -> bytes:
    """A big-endian ("MM") 8-bit grey TIFF of ``size`` (width, height), uncompressed, one strip."""
    width, height = size
    pixels = bytes(width * height)
    entries = [
        tiff_entry(">", 256, LONG, width),
        tiff_entry(">", 257, LONG, height),
        tiff_entry(">", 258, SHORT, 8),
        tiff_entry(">", 259, SHORT, 1),
        tiff_entry(">", 262, SHORT, 1),
        tiff_entry(">", 273, LONG, 8),
        tiff_entry(">", 277, SHORT, 1),
        tiff_entry(">", 278, LONG, height),
        tiff_entry(">", 279, LONG, len(pixels)),
    ]
    return with_directory(b"MM\x00*" + b"\0" * 4 + pixels, entries, ">")
