"""Tests for t2g_ros.image_codec with namespace messages; expected pixels are built by hand."""

from __future__ import annotations

import array
import os
import sys
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from codec_layouts import ENCODINGS

from t2g_ros import image_codec
from t2g_ros.image_codec import (
    ImageDecodeError,
    ImageTooLargeError,
    compressed_msg_to_rgb,
    image_msg_to_rgb,
    rgb_to_compressed_fields,
    rgb_to_image_fields,
)


def to8(values: np.ndarray) -> np.ndarray:
    """cv_bridge's 16 -> 8 bit rule, round(v * 255 / 65535), in exact integer arithmetic."""
    return ((values.astype(np.int64) + 128) // 257).astype(np.uint8)


def raw_message(
    stored: np.ndarray, encoding: str, *, pad: int = 0, bigendian: bool = False, data_type=bytes
):
    """An Image-like namespace holding ``stored`` (H, W, C) in the encoding's own channel order."""
    height, width, _ = stored.shape
    itemsize = ENCODINGS[encoding][1]
    dtype = np.uint8 if itemsize == 1 else (">u2" if bigendian else "<u2")
    rows = [
        stored[r].astype(dtype).tobytes() + b"\xab" * pad for r in range(height)
    ]  # garbage padding
    data = b"".join(rows)
    return SimpleNamespace(
        height=height,
        width=width,
        encoding=encoding,
        is_bigendian=int(bigendian),
        step=len(rows[0]),
        data=data_type(data) if data_type is not bytes else data,
    )


def random_stored(rng, encoding, shape=(5, 7)):
    channels, itemsize, _ = ENCODINGS[encoding]
    high = 256 if itemsize == 1 else 65536
    return rng.integers(0, high, (*shape, channels))


def expected_rgb(stored, encoding):
    _, itemsize, order = ENCODINGS[encoding]
    rgb = stored[:, :, order]
    return rgb.astype(np.uint8) if itemsize == 1 else to8(rgb)


# --- sensor_msgs/Image decoding -----------------------------------------------------------------


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
@pytest.mark.parametrize("pad", [0, 3])
@pytest.mark.parametrize("bigendian", [False, True])
def test_image_msg_to_rgb_every_encoding_padding_and_byte_order(encoding, pad, bigendian):
    rng = np.random.default_rng([sorted(ENCODINGS).index(encoding), pad, int(bigendian)])
    stored = random_stored(rng, encoding)
    out = image_msg_to_rgb(raw_message(stored, encoding, pad=pad, bigendian=bigendian))
    assert out.dtype == np.uint8 and out.shape == (5, 7, 3) and out.flags.c_contiguous
    np.testing.assert_array_equal(out, expected_rgb(stored, encoding))


def test_16_bit_scaling_matches_cv_bridge_rounding_not_a_shift():
    values = np.array([0, 128, 129, 255, 32767, 32768, 65406, 65407, 65535])
    # round(v / 257): 128/257 = 0.498 -> 0, 129/257 = 0.502 -> 1, 65407/257 = 254.502 -> 255.
    expected = [0, 0, 1, 1, 127, 128, 254, 255, 255]
    msg = raw_message(values.reshape(1, -1, 1), "mono16")
    np.testing.assert_array_equal(image_msg_to_rgb(msg)[0, :, 0], expected)
    assert expected != (values >> 8).tolist()


@pytest.mark.parametrize(
    "data_type",
    [bytes, bytearray, lambda b: array.array("B", b), lambda b: np.frombuffer(b, np.uint8)],
)
def test_image_msg_to_rgb_accepts_any_bytes_like_data(data_type):
    stored = random_stored(np.random.default_rng(5), "bgr8")
    out = image_msg_to_rgb(raw_message(stored, "bgr8", pad=2, data_type=data_type))
    np.testing.assert_array_equal(out, expected_rgb(stored, "bgr8"))


def test_image_msg_to_rgb_returns_a_new_array():
    stored = random_stored(np.random.default_rng(6), "rgb8")
    msg = raw_message(stored, "rgb8", data_type=bytearray)
    out = image_msg_to_rgb(msg)
    out[:] = 0
    np.testing.assert_array_equal(image_msg_to_rgb(msg), expected_rgb(stored, "rgb8"))


def test_data_longer_than_needed_is_accepted():
    stored = random_stored(np.random.default_rng(7), "mono8")
    msg = raw_message(stored, "mono8")
    msg.data += b"\x00" * 10
    np.testing.assert_array_equal(image_msg_to_rgb(msg), expected_rgb(stored, "mono8"))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (dict(encoding="yuv422"), "unsupported encoding 'yuv422'"),
        (dict(encoding="32FC1"), "unsupported encoding '32FC1'"),
        (dict(height=0), "empty image"),
        (dict(width=0), "empty image"),
        (dict(step=20), "step 20 is shorter than a row of 7 px x 3 bytes = 21"),
        (
            dict(data=b"\x00" * (21 * 5 - 1)),
            "data has 104 bytes, expected step 21 x height 5 = 105",
        ),
    ],
)
def test_image_msg_to_rgb_errors_name_the_problem(change, message):
    msg = raw_message(random_stored(np.random.default_rng(8), "rgb8"), "rgb8")
    for key, value in change.items():
        setattr(msg, key, value)
    with pytest.raises(
        ImageDecodeError, match=message.replace("(", r"\(").replace(")", r"\)")
    ) as info:
        image_msg_to_rgb(msg)
    assert isinstance(info.value, ValueError)


def test_step_check_counts_16_bit_pixels():
    msg = raw_message(random_stored(np.random.default_rng(9), "mono16"), "mono16")
    msg.step = 7  # one byte per pixel is too short for mono16 (14 bytes per row)
    with pytest.raises(ImageDecodeError, match="= 14"):
        image_msg_to_rgb(msg)


# --- sensor_msgs/CompressedImage decoding -------------------------------------------------------


def smooth_rgb(shape=(24, 32)):
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    return np.stack([xx * 7 % 256, yy * 9 % 256, (xx + yy) * 3 % 256], axis=-1).astype(np.uint8)


def compressed(data, fmt="jpeg"):
    return SimpleNamespace(format=fmt, data=bytes(data))


def test_jpeg_decodes_to_rgb_like_opencv():
    rgb = smooth_rgb()
    ok, jpeg = cv2.imencode(".jpg", rgb[:, :, ::-1].copy(), [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    out = compressed_msg_to_rgb(compressed(jpeg))
    np.testing.assert_array_equal(out, cv2.imdecode(jpeg, cv2.IMREAD_COLOR)[:, :, ::-1])
    assert np.abs(out.astype(int) - rgb).mean() < 3  # and it is the image (RGB, not BGR)


def test_png_variants_decode_losslessly():
    rgb = smooth_rgb()
    bgr = rgb[:, :, ::-1].copy()
    cases = {
        "bgr": (bgr, rgb),
        "gray": (rgb[:, :, 0].copy(), np.repeat(rgb[:, :, :1], 3, axis=2)),
        "bgra": (np.dstack([bgr, np.full(rgb.shape[:2], 17, np.uint8)]), rgb),
        "bgr16": (bgr.astype(np.uint16) * 257 + 100, to8(rgb.astype(np.uint16) * 257 + 100)),
    }
    for name, (stored, expected) in cases.items():
        ok, png = cv2.imencode(".png", stored)
        assert ok
        np.testing.assert_array_equal(
            compressed_msg_to_rgb(compressed(png, "png")), expected, err_msg=name
        )


@pytest.mark.parametrize(
    "trailer",
    [b"\x00" * 8, b"\x00" * 100, b"\xff" * 100, b"EXIF-like metadata" * 8],
    ids=["zeros8", "zeros100", "ff_fill", "metadata"],
)
def test_bytes_after_the_jpeg_end_marker_are_ignored(trailer):
    """Fixed-size camera buffers, 0xFF fill and appended metadata follow real frames (issue 13, D4)."""
    _, jpeg = cv2.imencode(".jpg", smooth_rgb())
    clean = compressed_msg_to_rgb(compressed(jpeg))
    np.testing.assert_array_equal(
        compressed_msg_to_rgb(compressed(jpeg.tobytes() + trailer)), clean
    )


def textured(shape=(240, 320, 3)) -> np.ndarray:
    texture = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    return cv2.GaussianBlur(texture, (5, 5), 0)


JPEG_MODES = {
    "baseline": [],
    "progressive": [cv2.IMWRITE_JPEG_PROGRESSIVE, 1],
    "optimized": [cv2.IMWRITE_JPEG_OPTIMIZE, 1],
    "restarts": [cv2.IMWRITE_JPEG_RST_INTERVAL, 3],
}
CUT = "cut short|truncated|incomplete"


@pytest.mark.parametrize("mode", sorted(JPEG_MODES))
@pytest.mark.parametrize("kept", [0.5, 0.9, 0.995])
@pytest.mark.parametrize("end_marker", [False, True], ids=["bare", "end_marker_appended"])
def test_a_cut_jpeg_is_refused_with_or_without_an_end_marker(mode, kept, end_marker):
    """Issue 20 #4: a frame cut at 99.5 % with an end marker appended passed the grey-row test."""
    _, jpeg = cv2.imencode(".jpg", textured(), JPEG_MODES[mode])
    cut = jpeg.tobytes()[: int(jpeg.size * kept)] + (b"\xff\xd9" if end_marker else b"")
    with pytest.raises(ImageDecodeError, match=CUT):
        compressed_msg_to_rgb(compressed(cut))


def grey_band(image: np.ndarray) -> np.ndarray:
    banded = image.copy()
    banded[-40:] = 128
    return banded


@pytest.mark.parametrize(
    "image",
    [
        grey_band(textured()),
        grey_band(textured()[:, :, 0]),
        np.full((240, 320, 3), 128, np.uint8),
        np.full((240, 320), 128, np.uint8),
    ],
    ids=["grey_band", "mono_grey_band", "uniform_grey", "mono_uniform_grey"],
)
@pytest.mark.parametrize("mode", sorted(JPEG_MODES))
def test_valid_jpegs_whose_last_rows_are_grey_decode(image, mode):
    """Issue 20 #4: the grey-row test dropped these; grey pixels say nothing about truncation."""
    _, jpeg = cv2.imencode(".jpg", image, JPEG_MODES[mode])
    out = compressed_msg_to_rgb(compressed(jpeg))
    expected = cv2.imdecode(jpeg, cv2.IMREAD_UNCHANGED)
    expected = cv2.cvtColor(expected, cv2.COLOR_GRAY2RGB if image.ndim == 2 else cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(out, expected)
    assert (out[-1] == 128).all()


@pytest.mark.parametrize("mode", sorted(JPEG_MODES))
def test_every_cut_of_a_small_jpeg_is_refused(mode):
    """Cut anywhere in the coded data (every 5th byte), an end marker appended: always refused,
    whatever the mode; the whole frame, and the whole frame with trailing bytes, decode."""
    for image in (textured((48, 64, 3)), np.full((48, 64), 128, np.uint8)):
        data = cv2.imencode(".jpg", image, JPEG_MODES[mode])[1].tobytes()
        compressed_msg_to_rgb(compressed(data))
        compressed_msg_to_rgb(compressed(data + bytes(40)))
        for end in range(data.index(b"\xff\xda"), len(data) - 2, 5):
            with pytest.raises(ImageDecodeError, match=CUT):
                compressed_msg_to_rgb(compressed(data[:end] + b"\xff\xd9"))


def test_a_progressive_jpeg_cut_between_two_scans_is_refused():
    """Its markers are whole and libjpeg decodes it silently, coarser: its scans never finish."""
    data = cv2.imencode(".jpg", textured(), JPEG_MODES["progressive"])[1].tobytes()
    last_scan = data.rindex(b"\xff\xda")
    with pytest.raises(ImageDecodeError, match="never finish component"):
        compressed_msg_to_rgb(compressed(data[:last_scan] + b"\xff\xd9"))


def test_the_decoders_other_messages_still_reach_stderr(capfd, monkeypatch):
    """fd 2 is read during a JPEG decode; what is not a damage report is written back."""
    real = image_codec.cv2.imdecode

    def chatty(*args):
        os.write(2, b"another thread logs meanwhile\n")
        return real(*args)

    monkeypatch.setattr(image_codec.cv2, "imdecode", chatty)
    data = cv2.imencode(".jpg", textured((48, 64, 3)))[1].tobytes()
    compressed_msg_to_rgb(compressed(data))
    # Garbage between the coded data and the end marker: libjpeg's harmless warning, kept.
    compressed_msg_to_rgb(compressed(data[:-2] + b"\x00\x01\x02\xff\xd9"))
    with pytest.raises(ImageDecodeError, match="premature end of data segment"):
        compressed_msg_to_rgb(compressed(data[: len(data) // 2] + b"\xff\xd9"))
    err = capfd.readouterr().err
    assert err.count("another thread logs meanwhile") == 3
    assert "3 extraneous bytes before marker 0xd9" in err
    assert "premature end" not in err, "the damage is in the error, not printed as well"


def test_the_pixel_cap_refuses_a_decompression_bomb_before_decoding():
    """A 30 KB PNG that decodes to 3000 x 3000 x 3 (27 MB): refused from its header, nothing allocated."""
    import tracemalloc

    _, png = cv2.imencode(".png", np.zeros((3000, 3000, 3), np.uint8))
    assert png.size < 100_000
    tracemalloc.start()
    with pytest.raises(ImageTooLargeError, match="3000x3000 = 9000000 px, over the cap of 1000000"):
        compressed_msg_to_rgb(compressed(png, "png"), max_pixels=1_000_000)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 1_000_000
    assert compressed_msg_to_rgb(compressed(png, "png"), max_pixels=9_000_000).shape == (
        3000,
        3000,
        3,
    )
    raw = SimpleNamespace(
        height=2000, width=1000, encoding="rgb8", is_bigendian=0, step=3000, data=b""
    )
    with pytest.raises(ImageTooLargeError, match="rgb8 image is 1000x2000"):
        image_msg_to_rgb(raw, max_pixels=1_000_000)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda jpg, png: compressed(b""), "has no data"),
        (lambda jpg, png: compressed(jpg[: len(jpg) // 2]), "truncated"),
        (lambda jpg, png: compressed(jpg[:-2]), "truncated"),
        (lambda jpg, png: compressed(png[: len(png) // 2], "png"), "corrupt or truncated"),
        (
            lambda jpg, png: compressed(b"not an image at all" * 4, "jpeg"),
            "not a JPEG, PNG or TIFF",
        ),
        (
            lambda jpg, png: compressed(cv2.imencode(".bmp", smooth_rgb())[1], "bmp"),
            "not a JPEG, PNG or TIFF",
        ),
        (lambda jpg, png: compressed(png, "16UC1; compressedDepth png"), "compressedDepth"),
    ],
)
def test_compressed_errors(make, message):
    _, jpg = cv2.imencode(".jpg", smooth_rgb())
    _, png = cv2.imencode(".png", smooth_rgb())
    with pytest.raises(ImageDecodeError, match=message):
        compressed_msg_to_rgb(make(jpg.tobytes(), png.tobytes()))


# --- encoding -----------------------------------------------------------------------------------


def test_rgb_to_image_fields_rgb8_and_bgr8():
    rgb = smooth_rgb((3, 4))
    for encoding, stored in (("rgb8", rgb), ("bgr8", rgb[:, :, [2, 1, 0]])):
        fields = rgb_to_image_fields(rgb, encoding)
        assert {k: fields[k] for k in ("height", "width", "encoding", "is_bigendian", "step")} == {
            "height": 3,
            "width": 4,
            "encoding": encoding,
            "is_bigendian": 0,
            "step": 12,
        }
        assert isinstance(fields["data"], array.array) and fields["data"].typecode == "B"
        assert fields["data"].tobytes() == stored.tobytes()
        np.testing.assert_array_equal(image_msg_to_rgb(SimpleNamespace(**fields)), rgb)


def test_rgb_to_image_fields_mono8_and_32fc1():
    labels = np.array([[0, 1, 255], [3, 4, 5]], np.uint8)
    fields = rgb_to_image_fields(labels, "mono8", data_type="numpy")
    assert (fields["step"], fields["encoding"]) == (3, "mono8")
    assert isinstance(fields["data"], np.ndarray) and fields["data"].dtype == np.uint8
    assert fields["data"].tolist() == [0, 1, 255, 3, 4, 5]

    conf = np.array([[0.0, 0.25], [1.0, 0.5]], np.float32)
    fields = rgb_to_image_fields(conf, "32FC1")
    assert (fields["step"], fields["is_bigendian"]) == (8, 0)
    assert fields["data"].tobytes() == conf.astype("<f4").tobytes()


def test_numpy_data_is_a_copy():
    rgb = smooth_rgb((2, 2))
    fields = rgb_to_image_fields(rgb, "rgb8", data_type="numpy")
    rgb[:] = 0
    assert fields["data"].any()


@pytest.mark.parametrize(
    ("image", "encoding", "kwargs", "message"),
    [
        (np.zeros((2, 2, 3), np.uint8), "rgba8", {}, "unsupported output encoding"),
        (np.zeros((2, 2), np.uint8), "rgb8", {}, r"rgb8 needs a \(H, W, 3\) uint8"),
        (np.zeros((2, 2, 4), np.uint8), "bgr8", {}, "bgr8 needs"),
        (np.zeros((2, 2), np.float64), "32FC1", {}, "32FC1 needs a .* float32"),
        (np.zeros((2, 2), np.uint16), "mono8", {}, "mono8 needs"),
        (np.zeros((0, 2), np.uint8), "mono8", {}, "empty"),
        (np.zeros((2, 2), np.uint8), "mono8", {"data_type": "list"}, "data_type"),
    ],
)
def test_rgb_to_image_fields_errors(image, encoding, kwargs, message):
    with pytest.raises(ValueError, match=message):
        rgb_to_image_fields(image, encoding, **kwargs)


def test_rgb_to_compressed_fields_round_trips():
    rgb = smooth_rgb()
    jpeg = rgb_to_compressed_fields(rgb, "jpeg", 95)
    assert jpeg["format"] == "rgb8; jpeg compressed bgr8"
    assert bytes(jpeg["data"][:2]) == b"\xff\xd8"
    assert np.abs(compressed_msg_to_rgb(SimpleNamespace(**jpeg)).astype(int) - rgb).mean() < 3

    png = rgb_to_compressed_fields(rgb, "png", data_type="numpy")
    assert png["format"] == "rgb8; png compressed bgr8" and isinstance(png["data"], np.ndarray)
    np.testing.assert_array_equal(compressed_msg_to_rgb(SimpleNamespace(**png)), rgb)

    labels = (np.arange(24 * 32).reshape(24, 32) % 12).astype(np.uint8)
    mask = rgb_to_compressed_fields(labels, "png")
    assert mask["format"] == "mono8; png compressed "
    decoded = cv2.imdecode(np.frombuffer(mask["data"], np.uint8), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(decoded, labels)  # class ids survive exactly


def test_jpeg_quality_changes_size():
    rgb = np.random.default_rng(10).integers(0, 256, (32, 32, 3)).astype(np.uint8)
    sizes = [len(rgb_to_compressed_fields(rgb, "jpeg", quality)["data"]) for quality in (30, 95)]
    assert sizes[0] < sizes[1]


@pytest.mark.parametrize(
    ("image", "kwargs", "message"),
    [
        (np.zeros((4, 4, 3), np.uint8), {"fmt": "webp"}, "unsupported compression format"),
        (np.zeros((4, 4, 3), np.uint8), {"quality": 0}, "quality"),
        (np.zeros((4, 4, 3), np.uint8), {"quality": 101}, "quality"),
        (np.zeros((4, 4, 4), np.uint8), {}, "image must be"),
        (np.zeros((4, 4), np.float32), {}, "image must be"),
        (np.zeros((4, 0, 3), np.uint8), {}, "empty"),
    ],
)
def test_rgb_to_compressed_fields_errors(image, kwargs, message):
    with pytest.raises(ValueError, match=message):
        rgb_to_compressed_fields(image, **kwargs)


# --- real message classes -----------------------------------------------------------------------


def test_real_sensor_msgs_classes_round_trip():
    msgs = pytest.importorskip("sensor_msgs.msg")  # the ros-sensor-msgs wheel; no rclpy needed
    rgb = smooth_rgb((6, 5))
    image = msgs.Image(**rgb_to_image_fields(rgb, "bgr8"))
    np.testing.assert_array_equal(image_msg_to_rgb(image), rgb)

    padded = msgs.Image(height=2, width=2, encoding="mono16", is_bigendian=1, step=6)
    padded.data = array.array("B", [0x01, 0x00, 0xFF, 0xFF, 9, 9, 0x80, 0x80, 0x00, 0x81, 9, 9])
    # big-endian 0x0100=256 -> 1, 0xFFFF -> 255, 0x8080=32896 -> 128, 0x0081=129 -> 1
    np.testing.assert_array_equal(image_msg_to_rgb(padded)[:, :, 0], [[1, 255], [128, 1]])

    png = msgs.CompressedImage(**rgb_to_compressed_fields(rgb, "png"))
    np.testing.assert_array_equal(compressed_msg_to_rgb(png), rgb)


def test_parity_with_cv_bridge():
    cv_bridge = pytest.importorskip("cv_bridge")  # only on a full ROS 2 install
    msgs = pytest.importorskip("sensor_msgs.msg")
    bridge = cv_bridge.CvBridge()
    rng = np.random.default_rng(11)
    for encoding in sorted(ENCODINGS):
        channels, itemsize, _ = ENCODINGS[encoding]
        # cv_bridge reshapes rows to step // pixel size pixels, so it only reads padding of whole pixels.
        pixel_pad = 2 * channels * itemsize
        for pad, bigendian in ((0, False), (pixel_pad, False), (pixel_pad, True)):
            fake = raw_message(random_stored(rng, encoding), encoding, pad=pad, bigendian=bigendian)
            msg = msgs.Image(
                height=fake.height,
                width=fake.width,
                encoding=encoding,
                is_bigendian=fake.is_bigendian,
                step=fake.step,
                data=array.array("B", fake.data),
            )
            np.testing.assert_array_equal(
                image_msg_to_rgb(msg),
                bridge.imgmsg_to_cv2(msg, "rgb8"),
                err_msg=f"{encoding} {pad} {bigendian}",
            )

    rgb = smooth_rgb()
    for ours, theirs in (
        (rgb_to_image_fields(rgb, "bgr8"), bridge.cv2_to_imgmsg(rgb[:, :, ::-1].copy(), "bgr8")),
        (rgb_to_image_fields(rgb, "rgb8"), bridge.cv2_to_imgmsg(rgb, "rgb8")),
        (
            rgb_to_image_fields(rgb[:, :, 0].copy(), "mono8"),
            bridge.cv2_to_imgmsg(rgb[:, :, 0].copy(), "mono8"),
        ),
    ):
        assert (ours["height"], ours["width"], ours["encoding"], ours["step"]) == (
            theirs.height,
            theirs.width,
            theirs.encoding,
            theirs.step,
        )
        if (
            sys.byteorder == "little"
        ):  # cv_bridge declares host order; we always write little-endian
            assert ours["is_bigendian"] == theirs.is_bigendian
        assert bytes(ours["data"]) == bytes(theirs.data)

    compressed_msg = msgs.CompressedImage(**rgb_to_compressed_fields(rgb, "jpeg", 90))
    np.testing.assert_array_equal(
        compressed_msg_to_rgb(compressed_msg),
        bridge.compressed_imgmsg_to_cv2(compressed_msg, "rgb8"),
    )
