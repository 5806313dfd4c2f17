"""numpy <-> the fields of sensor_msgs/Image and sensor_msgs/CompressedImage, without rclpy or cv_bridge.

Decoders take any object with the message's attributes (an rclpy message, a ``rosbags`` dataclass,
a ``SimpleNamespace``); encoders return a dict of field values to splat into either message class.
Results match cv_bridge's ``imgmsg_to_cv2(msg, "rgb8")``, ``compressed_imgmsg_to_cv2(msg, "rgb8")``
and ``cv2_to_imgmsg`` (checked by a parity test wherever cv_bridge is installed).
"""

from __future__ import annotations

import array
import os
import tempfile
import threading
from collections.abc import Callable
from typing import Any, Literal, NamedTuple, TypeVar

import cv2
import numpy as np

from t2g_ros.image_headers import HeaderError, read_header

DataType = Literal["array", "numpy"]
_T = TypeVar("_T")


class ImageDecodeError(ValueError):
    """An image message cannot be turned into an array; the message says which field is wrong."""


class RawLayout(NamedTuple):
    """How a raw ``sensor_msgs/Image`` encoding stores a pixel."""

    channels: int
    itemsize: int  # bytes per channel value: 1 or 2
    to_rgb: int | None  # cv2 colour conversion code, None when already RGB


#: Encodings from sensor_msgs/image_encodings.hpp that a colour camera driver publishes.
RAW_LAYOUTS: dict[str, RawLayout] = {
    "rgb8": RawLayout(3, 1, None),
    "bgr8": RawLayout(3, 1, cv2.COLOR_BGR2RGB),
    "rgba8": RawLayout(4, 1, cv2.COLOR_RGBA2RGB),
    "bgra8": RawLayout(4, 1, cv2.COLOR_BGRA2RGB),
    "mono8": RawLayout(1, 1, cv2.COLOR_GRAY2RGB),
    "rgb16": RawLayout(3, 2, None),
    "bgr16": RawLayout(3, 2, cv2.COLOR_BGR2RGB),
    "rgba16": RawLayout(4, 2, cv2.COLOR_RGBA2RGB),
    "bgra16": RawLayout(4, 2, cv2.COLOR_BGRA2RGB),
    "mono16": RawLayout(1, 2, cv2.COLOR_GRAY2RGB),
}

# 16 -> 8 bit as cv_bridge does it (cv::Mat::convertTo with scale 255/65535, rounded): round(v / 257).
# Not v >> 8: e.g. 129 -> 1 here, 0 with a shift.
_SCALE_16_TO_8 = 255.0 / 65535.0

#: Default pixel cap of the decoders (4096 x 4096): a 12 MP camera fits, a decompression bomb not.
DEFAULT_MAX_PIXELS = 4096 * 4096
# libjpeg's warnings (printed to stderr, never returned) that its entropy-coded data ended early or
# lost its place, after which it fills the rest of the frame with grey ("premature end of data
# segment", "found marker 0xd9 instead of RSTn", "bad Huffman code", "Premature end of JPEG file").
_LIBJPEG_DAMAGE = ("Corrupt JPEG data", "Premature end of JPEG file")
# The one "Corrupt JPEG data" warning that loses nothing: bytes after the last coded block.
_LIBJPEG_HARMLESS = "extraneous bytes before marker"
# fd 2 is process-wide: one captured decode at a time.
_STDERR_LOCK = threading.Lock()


class ImageTooLargeError(ImageDecodeError):
    """The image has more pixels than the decoder's cap; nothing was decoded or allocated for it."""


def _check_pixels(width: int, height: int, max_pixels: int, what: str) -> None:
    if width * height > max_pixels:
        raise ImageTooLargeError(
            f"{what} is {width}x{height} = {width * height} px, over the cap of {max_pixels} px"
        )


def image_msg_to_rgb(msg: Any, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode a sensor_msgs/Image.

    Args:
        msg: has ``height, width, encoding, is_bigendian, step, data``; ``data`` is any bytes-like
            object (bytes, array.array, uint8 ndarray). Encodings: rgb8, bgr8, rgba8, bgra8, mono8 and
            their 16-bit forms (rgb16, bgr16, rgba16, bgra16, mono16), either byte order.
        max_pixels: larger images raise :class:`ImageTooLargeError` before any pixel is touched.

    Returns:
        ``(height, width, 3) uint8`` RGB, a new array (never a view of ``msg.data``). Alpha is
        dropped, mono is replicated to 3 channels, 16-bit values become ``round(v * 255 / 65535)``.

    Raises:
        ImageDecodeError: unsupported encoding, zero size, more than ``max_pixels`` pixels
            (:class:`ImageTooLargeError`), ``step`` shorter than a row, or ``data`` shorter than
            ``step * height``.
    """
    layout = RAW_LAYOUTS.get(msg.encoding)
    if layout is None:
        raise ImageDecodeError(
            f"unsupported encoding {msg.encoding!r}; supported: {', '.join(sorted(RAW_LAYOUTS))}"
        )
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height == 0 or width == 0:
        raise ImageDecodeError(f"empty image: height {height}, width {width}")
    _check_pixels(width, height, max_pixels, f"{msg.encoding} image")
    row_bytes = width * layout.channels * layout.itemsize
    if step < row_bytes:
        raise ImageDecodeError(
            f"step {step} is shorter than a row of {width} px x {layout.channels * layout.itemsize} bytes"
            f" = {row_bytes} ({msg.encoding})"
        )
    data = np.frombuffer(msg.data, np.uint8)
    if data.size < step * height:
        raise ImageDecodeError(
            f"data has {data.size} bytes, expected step {step} x height {height} = {step * height}"
        )

    dtype = (
        np.dtype(np.uint8)
        if layout.itemsize == 1
        else np.dtype(">u2" if msg.is_bigendian else "<u2")
    )
    pixels = np.ndarray(  # view honouring row padding; inner dims are packed per the encoding
        (height, width, layout.channels),
        dtype,
        buffer=data,
        strides=(step, layout.channels * layout.itemsize, layout.itemsize),
    )
    if layout.itemsize == 2:
        # astype makes native-order contiguous uint16, which cv2 needs; then scale like cv_bridge.
        pixels = cv2.convertScaleAbs(pixels.astype(np.uint16), alpha=_SCALE_16_TO_8)
        pixels = pixels.reshape(height, width, layout.channels)
    if layout.to_rgb is None:
        return np.array(pixels, copy=True, order="C")
    if layout.channels == 1:
        pixels = pixels[:, :, 0]
    return cv2.cvtColor(np.ascontiguousarray(pixels), layout.to_rgb)


def compressed_msg_to_rgb(msg: Any, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode a sensor_msgs/CompressedImage: JPEG, PNG or TIFF (compressed_image_transport's).

    The headers are read first (``t2g_ros.image_headers``) the way the decoder reads them: an image
    declaring more than ``max_pixels`` pixels is refused before the decoder allocates anything (a
    300 KB PNG can declare 10000 x 10000), as is one whose size the decoder could read otherwise.
    A JPEG must reach its end marker (bytes after it are ignored), and its decode must not report
    data that ends early: libjpeg fills a cut frame's missing blocks with grey and only says so on
    stderr, so that is read during the decode (see :func:`_decode_jpeg`).

    Args:
        msg: has ``format`` and ``data`` (bytes-like). The content, not ``format``, selects the codec.
        max_pixels: larger images raise :class:`ImageTooLargeError`.

    Returns:
        ``(H, W, 3) uint8`` RGB. Grey images are replicated to 3 channels, alpha is dropped,
        16-bit PNGs are scaled like :func:`image_msg_to_rgb`. EXIF orientation is ignored, as in
        cv_bridge (``IMREAD_UNCHANGED``).

    Raises:
        ImageDecodeError: empty, truncated or corrupt data (a JPEG cut short with an end marker
            appended included, whatever its picture), another format, more than ``max_pixels``
            pixels (:class:`ImageTooLargeError`), a header the decoder could read otherwise
            (a TIFF size listed twice, a multi-page TIFF, a second JPEG frame header), or a
            ``compressedDepth`` message.
    """
    data = np.frombuffer(msg.data, np.uint8)
    if data.size == 0:
        raise ImageDecodeError(f"compressed image (format {msg.format!r}) has no data")
    if "compresseddepth" in msg.format.lower():
        raise ImageDecodeError(
            f"format {msg.format!r} (compressed_depth_image_transport) is not supported"
        )
    try:
        header = read_header(data)
    except HeaderError as exc:
        raise ImageDecodeError(f"{exc} (format {msg.format!r})") from None
    _check_pixels(
        header.width, header.height, max_pixels, f"{header.kind.upper()} (format {msg.format!r})"
    )
    if header.kind == "jpeg":
        decoded = _decode_jpeg(data, msg.format)
    else:
        decoded = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if decoded is None:
        raise ImageDecodeError(
            f"cannot decode {data.size} bytes (format {msg.format!r}): corrupt or truncated"
        )
    if decoded.dtype == np.uint16:
        decoded = cv2.convertScaleAbs(decoded, alpha=_SCALE_16_TO_8)
    elif decoded.dtype != np.uint8:
        raise ImageDecodeError(
            f"decoded image has unsupported depth {decoded.dtype} (format {msg.format!r})"
        )
    channels = 1 if decoded.ndim == 2 else decoded.shape[2]
    codes = {1: cv2.COLOR_GRAY2RGB, 3: cv2.COLOR_BGR2RGB, 4: cv2.COLOR_BGRA2RGB}
    if channels not in codes:
        raise ImageDecodeError(f"decoded image has {channels} channels (format {msg.format!r})")
    return cv2.cvtColor(decoded, codes[channels])


def _decode_jpeg(data: np.ndarray, fmt: str) -> np.ndarray | None:
    """``cv2.imdecode`` of a JPEG, refused when libjpeg reports that its coded data ended early.

    A frame cut short with an end marker appended has a sound marker structure; libjpeg decodes
    it with grey in the missing blocks and only prints a warning. Whether the decoder ran out of
    data is a fact of the stream, not of the picture (a grey band, a mono or a uniform grey frame
    is valid), so that warning is read: fd 2 is captured for the call. Everything else written
    to it meanwhile (other threads, cv2's own log, harmless libjpeg warnings) is written back.
    libjpeg prints only an image's first warning; the header reader has already refused garbage
    between segments, the one place an earlier, harmless warning could hide a later one.
    """
    decoded, printed = _stderr_of(lambda: cv2.imdecode(data, cv2.IMREAD_UNCHANGED))
    damage = [
        line
        for line in printed
        if line.startswith(_LIBJPEG_DAMAGE) and _LIBJPEG_HARMLESS not in line
    ]
    passed_on = "".join(line for line in printed if line not in damage)
    if passed_on:
        os.write(2, passed_on.encode())
    if damage:
        raise ImageDecodeError(
            f"JPEG ({data.size} bytes, format {fmt!r}) is cut short or corrupt: the decoder "
            f"reports {damage[0].strip()!r} and would fill the rest with grey"
        )
    return decoded


def _stderr_of(call: Callable[[], _T]) -> tuple[_T, list[str]]:
    """``call()``'s result and the lines written to file descriptor 2 while it ran."""
    with _STDERR_LOCK, tempfile.TemporaryFile() as sink:
        saved = os.dup(2)
        os.dup2(sink.fileno(), 2)
        try:
            result = call()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        sink.seek(0)
        return result, sink.read().decode(errors="replace").splitlines(keepends=True)


def rgb_to_image_fields(
    image: np.ndarray, encoding: str, *, data_type: DataType = "array"
) -> dict[str, Any]:
    """Fields of a sensor_msgs/Image holding ``image``, as ``cv_bridge.cv2_to_imgmsg`` fills them.

    Args:
        image: ``(H, W, 3) uint8`` RGB for ``rgb8`` and ``bgr8`` (channels are swapped for bgr8);
            ``(H, W) uint8`` for ``mono8`` (class-id masks, 8-bit confidence);
            ``(H, W) float32`` for ``32FC1`` (confidence 0..1).
        encoding: ``rgb8``, ``bgr8``, ``mono8`` or ``32FC1``.
        data_type: container for ``data``: ``"array"`` gives ``array.array('B')``, what rclpy messages
            store (other types trigger rclpy's per-byte type check, ~100 ms per frame); ``"numpy"``
            gives a 1-D uint8 ndarray, what ``rosbags`` message classes need.

    Returns:
        ``dict(height, width, encoding, is_bigendian=0, step, data)`` with packed rows
        (``step = width * bytes per pixel``) and little-endian floats.
    """
    expected = {
        "rgb8": (3, np.uint8),
        "bgr8": (3, np.uint8),
        "mono8": (2, np.uint8),
        "32FC1": (2, np.float32),
    }
    if encoding not in expected:
        raise ValueError(
            f"unsupported output encoding {encoding!r}; supported: {', '.join(expected)}"
        )
    ndim, dtype = expected[encoding]
    if image.ndim != ndim or image.dtype != dtype or (ndim == 3 and image.shape[2] != 3):
        shape = "(H, W, 3)" if ndim == 3 else "(H, W)"
        raise ValueError(
            f"{encoding} needs a {shape} {np.dtype(dtype)} array, got {image.shape} {image.dtype}"
        )
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"cannot encode an empty image of shape {image.shape}")
    if encoding == "bgr8":
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    # '<f4' pins the byte order we declare with is_bigendian=0 (a no-op on little-endian hosts).
    packed = np.ascontiguousarray(image, dtype="<f4" if encoding == "32FC1" else np.uint8)
    height, width = packed.shape[:2]
    return {
        "height": height,
        "width": width,
        "encoding": encoding,
        "is_bigendian": 0,
        "step": packed.nbytes // height,
        "data": _container(packed, data_type),
    }


def rgb_to_compressed_fields(
    image: np.ndarray,
    fmt: Literal["jpeg", "png"] = "jpeg",
    quality: int = 85,
    *,
    data_type: DataType = "array",
) -> dict[str, Any]:
    """Fields of a sensor_msgs/CompressedImage holding ``image``, as image_transport's compressed plugin.

    Never use ``"jpeg"`` for class-id masks: its lossy blocks invent ids at class borders. Use ``"png"``.

    Args:
        image: ``(H, W, 3) uint8`` RGB or ``(H, W) uint8`` mono.
        fmt: ``"jpeg"`` or ``"png"``.
        quality: JPEG quality 1..100 (ignored for PNG, which is lossless).
        data_type: container for ``data``, see :func:`rgb_to_image_fields`.

    Returns:
        ``dict(format, data)``; ``format`` follows compressed_image_transport, e.g.
        ``"rgb8; jpeg compressed bgr8"`` or ``"mono8; png compressed "``.
    """
    if fmt not in ("jpeg", "png"):
        raise ValueError(f"unsupported compression format {fmt!r}; use 'jpeg' or 'png'")
    if not 1 <= quality <= 100:
        raise ValueError(f"JPEG quality must be 1..100, got {quality}")
    if image.dtype != np.uint8 or not (
        image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)
    ):
        raise ValueError(
            f"image must be (H, W, 3) or (H, W) uint8, got {image.shape} {image.dtype}"
        )
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"cannot encode an empty image of shape {image.shape}")
    if image.ndim == 3:
        source, target, pixels = "rgb8", "bgr8", cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    else:
        source, target, pixels = "mono8", "", image
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if fmt == "jpeg" else []
    ok, encoded = cv2.imencode(f".{'jpg' if fmt == 'jpeg' else 'png'}", pixels, params)
    if not ok:
        raise ValueError(f"cv2.imencode failed for a {image.shape} image as {fmt}")
    return {
        "format": f"{source}; {fmt} compressed {target}",
        "data": _container(encoded.reshape(-1), data_type),
    }


def _container(packed: np.ndarray, data_type: DataType) -> Any:
    flat = packed.reshape(-1).view(np.uint8)  # the bytes, whatever the element type
    if data_type == "numpy":
        return flat.copy()  # a copy, so later edits to the image do not leak into the message
    if data_type == "array":
        out = array.array("B")
        out.frombytes(flat)
        return out
    raise ValueError(f"data_type must be 'array' or 'numpy', got {data_type!r}")
