"""What a compressed image holds, read from its headers before anything is decoded.

``cv2.imdecode`` allocates whatever a header declares (up to 2^30 pixels), so a 300 KB PNG can
claim 10000 x 10000 and take gigabytes: the dimensions are checked here first. A JPEG is also walked
marker by marker to find its real end: valid files may carry trailing bytes after the end marker
(fixed-size camera buffers, 0xFF fill, appended metadata), and a file cut short has no end marker.
Supported: JPEG, PNG and TIFF (the formats compressed_image_transport publishes).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_TIFF_SIGNATURES = (b"II*\x00", b"MM\x00*")
# Start-of-frame markers carry the dimensions: C0..CF except DHT (C4), JPG (C8) and DAC (CC).
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_BASELINE_SOF = frozenset({0xC0, 0xC1})  # sequential Huffman: a cut scan shows as grey fill
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM and RSTn have no length field
_SOS, _EOI = 0xDA, 0xD9


class HeaderError(ValueError):
    """The headers are missing, cut short, contradictory, or of an unsupported format."""


class ImageHeader(NamedTuple):
    kind: str  # "jpeg", "png" or "tiff"
    width: int
    height: int
    baseline_jpeg: bool = False  # sequential JPEG: libjpeg fills a scan that ends early with grey


def read_header(data: np.ndarray) -> ImageHeader:
    """Kind and size of a compressed image. ``data``: ``(N,) uint8``.

    Raises:
        HeaderError: unknown format; a JPEG without end marker (truncated) or with a broken marker
            structure; a PNG or TIFF header cut short or declaring a zero size.
    """
    head = data[:8].tobytes()
    if head[:2] == b"\xff\xd8":
        return _jpeg(data)
    if head == _PNG_SIGNATURE:
        return _png(data)
    if head[:4] in _TIFF_SIGNATURES:
        return _tiff(data)
    raise HeaderError(f"not a JPEG, PNG or TIFF image (first bytes {head[:4].hex(' ') or 'none'})")


def _jpeg(data: np.ndarray) -> ImageHeader:
    size = int(data.size)
    # Every 0xFF followed by a marker code (not 0x00 stuffing, RSTn or more 0xFF fill) is a
    # candidate marker; inside entropy-coded data these are the only places a segment can end.
    ff = np.flatnonzero(data[:-1] == 0xFF)
    follower = data[ff + 1]
    markers = ff[(follower != 0x00) & (follower != 0xFF) & ((follower < 0xD0) | (follower > 0xD7))]
    pos, frame = 2, None
    while True:
        while pos + 1 < size and data[pos] == 0xFF and data[pos + 1] == 0xFF:
            pos += 1  # fill bytes before a marker
        if pos + 1 >= size:
            raise HeaderError(f"JPEG ({size} bytes) is truncated: no end marker")
        if data[pos] != 0xFF:
            raise HeaderError(f"JPEG ({size} bytes) is corrupt: no marker at byte {pos}")
        marker = int(data[pos + 1])
        pos += 2
        if marker == _EOI:
            break
        if marker in _STANDALONE:
            continue
        if pos + 2 > size:
            raise HeaderError(f"JPEG ({size} bytes) is truncated inside a segment header")
        end = pos + (int(data[pos]) << 8 | int(data[pos + 1]))
        if end - pos < 2 or end > size:
            raise HeaderError(
                f"JPEG ({size} bytes) is truncated or corrupt: segment 0x{marker:02X} "
                f"at byte {pos - 2} runs to byte {end}"
            )
        if marker in _SOF_MARKERS and frame is None:
            if end - pos < 8:
                raise HeaderError(f"JPEG frame header at byte {pos - 2} is too short")
            height = int(data[pos + 3]) << 8 | int(data[pos + 4])
            width = int(data[pos + 5]) << 8 | int(data[pos + 6])
            frame = (width, height, marker in _BASELINE_SOF)
        if marker == _SOS:
            following = markers[
                np.searchsorted(markers, end) :
            ]  # the scan's entropy-coded data ends there
            if following.size == 0:
                raise HeaderError(
                    f"JPEG ({size} bytes) is truncated: its scan data has no end marker"
                )
            pos = int(following[0])
        else:
            pos = end
    if frame is None:
        raise HeaderError(f"JPEG ({size} bytes) has no frame header (SOF)")
    width, height, baseline = frame
    if width == 0 or height == 0:
        raise HeaderError(f"JPEG declares an empty image: {width}x{height}")
    return ImageHeader("jpeg", width, height, baseline)


def _png(data: np.ndarray) -> ImageHeader:
    if data.size < 24 or data[12:16].tobytes() != b"IHDR":
        raise HeaderError(f"PNG ({data.size} bytes) is truncated or corrupt: no IHDR chunk")
    width = int.from_bytes(data[16:20].tobytes(), "big")
    height = int.from_bytes(data[20:24].tobytes(), "big")
    if width == 0 or height == 0:
        raise HeaderError(f"PNG declares an empty image: {width}x{height}")
    return ImageHeader("png", width, height)


def _tiff(data: np.ndarray) -> ImageHeader:
    order = "little" if data[:2].tobytes() == b"II" else "big"

    def number(offset: int, length: int) -> int:
        if offset + length > data.size:
            raise HeaderError(
                f"TIFF ({data.size} bytes) is truncated: its first directory is incomplete"
            )
        return int.from_bytes(data[offset : offset + length].tobytes(), order)

    ifd = number(4, 4)
    sizes = {}
    for i in range(number(ifd, 2)):
        entry = ifd + 2 + 12 * i
        tag, kind = number(entry, 2), number(entry + 2, 2)
        if tag in (256, 257):  # ImageWidth, ImageLength: SHORT (3) or LONG (4), stored inline
            sizes[tag] = number(entry + 8, 2 if kind == 3 else 4)
    width, height = sizes.get(256, 0), sizes.get(257, 0)
    if width == 0 or height == 0:
        raise HeaderError(f"TIFF declares no or an empty image size: {width}x{height}")
    return ImageHeader("tiff", width, height)
