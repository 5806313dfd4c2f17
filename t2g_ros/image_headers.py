"""What a compressed image holds, read from its headers before anything is decoded.

``cv2.imdecode`` allocates whatever a header declares (up to 2^30 pixels), so a 300 KB PNG can
claim 10000 x 10000 and take gigabytes: the dimensions are checked here first. Each header is read
the way the decoder reads it, and what the decoder could read differently is refused:

- JPEG: walked marker by marker to its end marker (valid files may carry trailing bytes after it:
  fixed-size camera buffers, 0xFF fill, appended metadata; a file cut short has none). The size is
  that of its one frame header (SOF); libjpeg refuses a second one, and so does this reader. The
  scans must code every coefficient of every component: a progressive file cut between two scans
  has a complete marker structure, only its last scans are missing.
- PNG: the IHDR chunk, which must come first and be 13 bytes long.
- TIFF: the first directory (IFD), the only one ``cv2.imdecode`` reads. libtiff keeps the first of
  a tag listed twice, so a size listed twice with two values is refused (it is a bomb when the
  values differ); so are a second directory (a multi-page file), tiles larger than the image
  (libtiff allocates whole tiles, up to 1 GB for a 10 x 10 image) and size fields of a type or
  count libtiff would read otherwise.

Supported: JPEG, PNG and TIFF (the formats compressed_image_transport publishes).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_IHDR = b"\x00\x00\x00\x0dIHDR"  # length 13, then the chunk type
_TIFF_SIGNATURES = (b"II*\x00", b"MM\x00*")
_BIGTIFF_SIGNATURES = (b"II+\x00", b"MM\x00+")
# Start-of-frame markers carry the dimensions: C0..CF except DHT (C4), JPG (C8) and DAC (CC).
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_PROGRESSIVE_SOF = frozenset({0xC2, 0xC6, 0xCA, 0xCE})  # scans code coefficient bands and bits
_LOSSLESS_SOF = frozenset({0xC3, 0xC7, 0xCB, 0xCF})  # no DCT: a scan codes a whole component
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM and RSTn have no length field
_SOS, _EOI = 0xDA, 0xD9
_ALL_COEFFICIENTS = (1 << 64) - 1  # one bit per DCT coefficient of a component
# TIFF tags read here, and the field types libtiff accepts for them with a count of 1.
_TIFF_TAGS = {256: "ImageWidth", 257: "ImageLength", 322: "TileWidth", 323: "TileLength"}
_TIFF_TYPES = {3: 2, 4: 4}  # SHORT, LONG -> bytes
_TIFF_TILE_ALIGN = 16  # tile sides are multiples of 16


class HeaderError(ValueError):
    """The headers are missing, cut short, contradictory, or of an unsupported format."""


class ImageHeader(NamedTuple):
    kind: str  # "jpeg", "png" or "tiff"
    width: int
    height: int


class _Frame(NamedTuple):
    """A JPEG frame header (SOF): size, component ids, and how its scans code them."""

    width: int
    height: int
    components: tuple[int, ...]
    marker: int


def read_header(data: np.ndarray) -> ImageHeader:
    """Kind and size of a compressed image, as the decoder will see them. ``data``: ``(N,) uint8``.

    Raises:
        HeaderError: unknown format; a JPEG without end marker (truncated), with a broken marker
            structure, more than one frame header, or scans that leave a component unfinished; a
            PNG or TIFF header cut short or declaring a zero size; a TIFF whose size the decoder
            could read otherwise (a size tag listed twice with two values, a second directory,
            tiles larger than the image, a size field of another type or count).
    """
    head = data[:8].tobytes()
    if head[:2] == b"\xff\xd8":
        return _jpeg(data)
    if head == _PNG_SIGNATURE:
        return _png(data)
    if head[:4] in _TIFF_SIGNATURES:
        return _tiff(data)
    if head[:4] in _BIGTIFF_SIGNATURES:
        raise HeaderError("BigTIFF images are not supported (use a classic TIFF, PNG or JPEG)")
    raise HeaderError(f"not a JPEG, PNG or TIFF image (first bytes {head[:4].hex(' ') or 'none'})")


def _jpeg(data: np.ndarray) -> ImageHeader:
    size = int(data.size)
    markers = _entropy_markers(data)
    pos, frame, scans = 2, None, []
    while True:
        while pos + 1 < size and data[pos] == 0xFF and data[pos + 1] == 0xFF:
            pos += 1  # fill bytes before a marker
        if pos + 1 >= size:
            raise HeaderError(f"JPEG ({size} bytes) is truncated: no end marker")
        if data[pos] != 0xFF:
            raise HeaderError(f"JPEG ({size} bytes) is corrupt: no marker at byte {pos}")
        marker, start = int(data[pos + 1]), pos
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
                f"at byte {start} runs to byte {end}"
            )
        payload = data[pos + 2 : end]
        if marker in _SOF_MARKERS:
            if frame is not None:
                width, height = _sof_dims(payload, start)
                raise HeaderError(
                    f"JPEG has a second frame header (SOF) at byte {start}: "
                    f"{width}x{height} after {frame.width}x{frame.height}"
                )
            frame = _sof(payload, marker, start)
        if marker == _SOS:
            if frame is None:
                raise HeaderError(f"JPEG scan at byte {start} comes before any frame header (SOF)")
            scans.append(_sos(payload, start))
            following = markers[np.searchsorted(markers, end) :]  # the scan's data ends there
            if following.size == 0:
                raise HeaderError(
                    f"JPEG ({size} bytes) is truncated: its scan data has no end marker"
                )
            pos = int(following[0])
        else:
            pos = end
    if frame is None:
        raise HeaderError(f"JPEG ({size} bytes) has no frame header (SOF)")
    if frame.width == 0 or frame.height == 0:
        raise HeaderError(f"JPEG declares an empty image: {frame.width}x{frame.height}")
    _check_scans_complete(frame, scans, size)
    return ImageHeader("jpeg", frame.width, frame.height)


def _entropy_markers(data: np.ndarray) -> np.ndarray:
    """Positions of every 0xFF followed by a marker code (not 0x00 stuffing, RSTn or more 0xFF
    fill): inside entropy-coded data these are the only places a scan can end."""
    ff = np.flatnonzero(data[:-1] == 0xFF)
    follower = data[ff + 1]
    return ff[(follower != 0x00) & (follower != 0xFF) & ((follower < 0xD0) | (follower > 0xD7))]


def _sof_dims(payload: np.ndarray, start: int) -> tuple[int, int]:
    """(width, height) of an SOF payload: precision, then height and width, big-endian."""
    if payload.size < 5:
        raise HeaderError(f"JPEG frame header at byte {start} is too short")
    return int(payload[3]) << 8 | int(payload[4]), int(payload[1]) << 8 | int(payload[2])


def _sof(payload: np.ndarray, marker: int, start: int) -> _Frame:
    """SOF payload: precision, height, width, Nf, then (id, sampling, table) per component."""
    width, height = _sof_dims(payload, start)
    count = int(payload[5]) if payload.size > 5 else 0
    if count == 0 or payload.size < 6 + 3 * count:
        raise HeaderError(
            f"JPEG frame header at byte {start} lists {count} components in too few bytes"
        )
    components = tuple(int(payload[6 + 3 * i]) for i in range(count))
    return _Frame(width, height, components, marker)


def _sos(payload: np.ndarray, start: int) -> tuple[tuple[int, ...], int, int, int]:
    """SOS payload: Ns, (id, tables) per component, then Ss, Se, Ah/Al -> (ids, Ss, Se, Al)."""
    count = int(payload[0]) if payload.size else 0
    if count == 0 or payload.size < 1 + 2 * count + 3:
        raise HeaderError(
            f"JPEG scan header at byte {start} lists {count} components in too few bytes"
        )
    ids = tuple(int(payload[1 + 2 * i]) for i in range(count))
    first, last, bits = (int(v) for v in payload[1 + 2 * count : 4 + 2 * count])
    return ids, first, last, bits & 0x0F


def _check_scans_complete(frame: _Frame, scans: list, size: int) -> None:
    """Every component must be coded whole: in a sequential or lossless frame by any scan naming
    it (libjpeg ignores a sequential scan's band fields), in a progressive one every coefficient
    0..63 by a scan that ends its successive approximation (Al = 0)."""
    done = dict.fromkeys(frame.components, 0)
    for ids, first, last, low_bit in scans:
        if frame.marker not in _PROGRESSIVE_SOF:
            band = _ALL_COEFFICIENTS
        elif low_bit == 0 and first <= last <= 63:
            band = ((1 << (last + 1)) - 1) ^ ((1 << first) - 1)
        else:
            band = 0  # a scan that leaves lower bits for a later one
        for component in ids:
            if component in done:
                done[component] |= band
    unfinished = [component for component, bits in done.items() if bits != _ALL_COEFFICIENTS]
    if unfinished:
        raise HeaderError(
            f"JPEG ({size} bytes) is incomplete: its scans never finish component "
            f"{unfinished[0]} (a progressive frame cut between two scans?)"
        )


def _png(data: np.ndarray) -> ImageHeader:
    if data.size < 24 or data[8:16].tobytes() != _PNG_IHDR:
        raise HeaderError(
            f"PNG ({data.size} bytes) is truncated or corrupt: no 13-byte IHDR chunk first"
        )
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
    count = number(ifd, 2)
    fields: dict[int, int] = {}
    for i in range(count):
        entry = ifd + 2 + 12 * i
        tag = number(entry, 2)
        if tag not in _TIFF_TAGS:
            continue
        value = _tiff_value(tag, number(entry + 2, 2), number(entry + 4, 4), number, entry + 8)
        if fields.setdefault(tag, value) != value:  # libtiff keeps the first
            raise HeaderError(
                f"TIFF lists its {_TIFF_TAGS[tag]} twice, {fields[tag]} then {value}: "
                "the decoder would use the first"
            )
    following = number(ifd + 2 + 12 * count, 4)
    if following != 0:
        raise HeaderError(
            f"TIFF has more than one page (a second directory at byte {following}); "
            "send one image per message"
        )
    width, height = fields.get(256, 0), fields.get(257, 0)
    if width == 0 or height == 0:
        raise HeaderError(f"TIFF declares no or an empty image size: {width}x{height}")
    _check_tiles(fields, width, height)
    return ImageHeader("tiff", width, height)


def _tiff_value(tag: int, kind: int, count: int, number, offset: int) -> int:
    """An inline SHORT or LONG size field; other types and counts are refused, as libtiff would
    convert or reject them."""
    if kind not in _TIFF_TYPES or count != 1:
        raise HeaderError(
            f"TIFF {_TIFF_TAGS[tag]} has field type {kind} and count {count}; "
            "expected one SHORT (3) or LONG (4)"
        )
    return number(offset, _TIFF_TYPES[kind])


def _check_tiles(fields: dict[int, int], width: int, height: int) -> None:
    """libtiff and cv2 allocate one whole tile: a tile is bounded by the image (sides rounded up
    to 16), so the pixel cap on the image also bounds it."""
    for tag, side in ((322, width), (323, height)):
        limit = -(-side // _TIFF_TILE_ALIGN) * _TIFF_TILE_ALIGN
        if fields.get(tag, 0) > limit:
            raise HeaderError(
                f"TIFF {_TIFF_TAGS[tag]} {fields[tag]} is larger than the image "
                f"({width}x{height}); the decoder would allocate the whole tile"
            )
