"""Property-based fuzzing of the image decoders (hypothesis, fixed budget, derandomised).

The invariant for any message: a clear error (``ImageDecodeError``, a ``ValueError``) or a correct
``(H, W, 3) uint8`` array, never another exception, never more pixels than the cap, and never an
allocation out of proportion with the message (the decompression-bomb guard).
"""

from __future__ import annotations

import tracemalloc
import zlib
from types import SimpleNamespace

import cv2
import numpy as np
from codec_layouts import ENCODINGS
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from t2g_ros.image_codec import ImageDecodeError, compressed_msg_to_rgb, image_msg_to_rgb

FUZZ = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
CAP = 64 * 64  # max_pixels in these tests: small, so a bomb is one that exceeds it
# Peak Python/numpy allocation allowed beyond the result and the input (cv2's scratch is untraced).
SLACK_BYTES = 1 << 20

encodings = st.one_of(
    st.sampled_from(sorted(ENCODINGS)),
    st.text(max_size=12),
    st.sampled_from(["RGB8", "rgb8 ", "yuv422", "32FC1", "bayer_rggb8", "8UC3", ""]),
)
dims = st.one_of(st.integers(0, 9), st.sampled_from([2**16, 2**31 - 1, 2**32 - 1]))


def reference_rgb(msg) -> np.ndarray:
    """What a correct decoder returns, pixel by pixel from the definition of the encoding."""
    channels, itemsize, order = ENCODINGS[msg.encoding]
    data = bytes(msg.data)
    out = np.zeros((msg.height, msg.width, 3), np.uint8)
    for r in range(msg.height):
        for c in range(msg.width):
            base = r * msg.step + c * channels * itemsize
            for k, stored in enumerate(order):
                raw = data[base + stored * itemsize : base + (stored + 1) * itemsize]
                value = int.from_bytes(raw, "big" if msg.is_bigendian else "little")
                out[r, c, k] = (
                    value if itemsize == 1 else (value + 128) // 257
                )  # round(v * 255 / 65535)
    return out


def peak_bytes(call):
    """``(result or exception, peak traced bytes)`` of ``call()``."""
    tracemalloc.start()
    try:
        result = call()
    except Exception as exc:  # noqa: BLE001 - returned to the test, which checks its type
        result = exc
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return result, peak


def check_decoded(result, *, limit: int) -> None:
    """The invariant: a clear error, or an RGB array within the pixel cap."""
    if isinstance(result, Exception):
        assert isinstance(result, ImageDecodeError), f"unexpected {type(result).__name__}: {result}"
        assert str(result), "an error must say what is wrong"
        return
    assert result.ndim == 3 and result.shape[2] == 3 and result.dtype == np.uint8
    assert 0 < result.shape[0] * result.shape[1] <= limit


@FUZZ
@given(
    height=dims,
    width=dims,
    encoding=encodings,
    is_bigendian=st.integers(0, 1),
    step=st.one_of(st.integers(0, 80), st.sampled_from([2**31, 2**32 - 1])),
    data=st.binary(max_size=1024),
)
@example(height=3, width=2, encoding="bgra16", is_bigendian=1, step=20, data=bytes(range(60)))
@example(
    height=2**32 - 1, width=2**32 - 1, encoding="rgb8", is_bigendian=0, step=2**32 - 1, data=b""
)
def test_raw_image_is_an_error_or_the_reference_pixels(
    height, width, encoding, is_bigendian, step, data
):
    msg = SimpleNamespace(
        height=height,
        width=width,
        encoding=encoding,
        is_bigendian=is_bigendian,
        step=step,
        data=data,
    )
    result, peak = peak_bytes(lambda: image_msg_to_rgb(msg, max_pixels=CAP))
    check_decoded(result, limit=CAP)
    if isinstance(result, Exception):
        assert peak <= len(data) + SLACK_BYTES, (
            f"{peak} bytes allocated to reject a {len(data)}-byte message"
        )
        return
    np.testing.assert_array_equal(result, reference_rgb(msg))
    assert peak <= 8 * result.nbytes + len(data) + SLACK_BYTES


def _encoded(fmt: str, height: int, width: int, seed: int, channels: int) -> bytes:
    rng = np.random.default_rng(seed)
    shape = (height, width) if channels == 1 else (height, width, channels)
    image = cv2.GaussianBlur(rng.integers(0, 256, shape, dtype=np.uint8), (3, 3), 0)
    ok, encoded = cv2.imencode(f".{fmt}", image)
    assert ok
    return encoded.tobytes()


def with_declared_size(data: bytes, width: int, height: int) -> bytes:
    """``data`` (JPEG or PNG) claiming ``width`` x ``height``: a decompression bomb (valid CRC)."""
    out = bytearray(data)
    if data[:2] == b"\xff\xd8":
        sof = data.index(b"\xff\xc0")  # cv2 writes baseline JPEGs
        out[sof + 5 : sof + 9] = height.to_bytes(2, "big") + width.to_bytes(2, "big")
    else:
        out[16:24] = width.to_bytes(4, "big") + height.to_bytes(4, "big")
        out[29:33] = zlib.crc32(bytes(out[12:29])).to_bytes(4, "big")  # IHDR type + data
    return bytes(out)


@st.composite
def compressed_data(draw) -> bytes:
    """Valid JPEG/PNG damaged (cut, extended, overwritten, size inflated), or byte soup."""
    kind = draw(st.sampled_from(["soup", "valid", "mutated", "cut", "appended", "bomb"]))
    if kind == "soup":
        prefix = draw(
            st.sampled_from(
                [b"", b"\xff\xd8", b"\xff\xd8\xff\xe0", b"\x89PNG\r\n\x1a\n", b"II*\x00"]
            )
        )
        return prefix + draw(st.binary(max_size=512))
    data = _encoded(
        draw(st.sampled_from(["jpg", "png"])),
        draw(st.integers(1, 48)),
        draw(st.integers(1, 48)),
        draw(st.integers(0, 3)),
        draw(st.sampled_from([1, 3, 4])),
    )
    if kind == "bomb":
        return with_declared_size(data, draw(st.integers(1, 3000)), draw(st.integers(1, 3000)))
    if kind == "cut":
        return data[: draw(st.integers(0, len(data)))]
    if kind == "appended":
        return data + draw(
            st.one_of(st.binary(max_size=256), st.just(bytes(200)), st.just(b"\xff" * 200))
        )
    if kind == "mutated":
        patched = bytearray(data)
        for _ in range(draw(st.integers(1, 4))):
            # Mostly in the first 64 bytes, where PNG dimensions live.
            position = draw(
                st.integers(0, min(len(patched) - 1, draw(st.sampled_from([64, len(data)]))))
            )
            patched[position] = draw(st.integers(0, 255))
        return bytes(patched)
    return data


@FUZZ
@given(
    data=compressed_data(),
    fmt=st.one_of(
        st.sampled_from(["jpeg", "png", "rgb8; jpeg compressed bgr8"]), st.text(max_size=20)
    ),
)
def test_compressed_image_is_an_error_or_an_rgb_array_within_the_cap(data, fmt):
    msg = SimpleNamespace(format=fmt, data=data)
    result, peak = peak_bytes(lambda: compressed_msg_to_rgb(msg, max_pixels=CAP))
    check_decoded(result, limit=CAP)
    # The cap bounds the work: nothing near a bomb's size is allocated for a small message.
    assert peak <= 16 * CAP * 3 + 4 * len(data) + SLACK_BYTES, (
        f"{peak} bytes for a {len(data)}-byte message"
    )


@FUZZ
@given(
    fmt=st.sampled_from(["jpg", "png"]),
    height=st.integers(1, 40),
    width=st.integers(1, 40),
    seed=st.integers(0, 3),
    channels=st.sampled_from([1, 3]),
    trailer=st.one_of(
        st.binary(min_size=1, max_size=300), st.sampled_from([bytes(100), b"\xff" * 100])
    ),
)
def test_bytes_after_a_complete_image_change_nothing(fmt, height, width, seed, channels, trailer):
    """Fixed-size camera buffers (zero padding), 0xFF fill and metadata follow real frames."""
    data = _encoded(fmt, height, width, seed, channels)
    clean = compressed_msg_to_rgb(SimpleNamespace(format=fmt, data=data))
    padded = compressed_msg_to_rgb(SimpleNamespace(format=fmt, data=data + trailer))
    np.testing.assert_array_equal(padded, clean)


@FUZZ
@given(
    height=st.integers(1, 40),
    width=st.integers(1, 40),
    seed=st.integers(0, 3),
    channels=st.sampled_from([1, 3, 4]),
    fmt=st.text(max_size=20),
)
def test_a_valid_png_decodes_exactly_whatever_the_format_string(height, width, seed, channels, fmt):
    data = _encoded("png", height, width, seed, channels)
    stored = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    codes = {1: cv2.COLOR_GRAY2RGB, 3: cv2.COLOR_BGR2RGB, 4: cv2.COLOR_BGRA2RGB}
    expected = cv2.cvtColor(stored, codes[channels])
    np.testing.assert_array_equal(
        compressed_msg_to_rgb(SimpleNamespace(format=fmt, data=data)), expected
    )
