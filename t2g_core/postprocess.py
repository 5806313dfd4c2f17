"""Turn a segmentation (class ids + confidence) into images and a compact summary.

Everything here works on whole arrays (no per-pixel Python) and imports nothing from ROS.
Label maps are ``(H, W) uint8`` class ids with ``UNLABELLED`` (255) for pixels without a class.
Palettes come from config (``config/classes_*.yaml``); this module never hard-codes colours.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

UNLABELLED = 255
#: Most grid columns :func:`summarize_occupancy` takes (a column index is one byte; the node's cap).
MAX_GRID_COLS = 255


def palette_lut(colors: Sequence[Sequence[int]]) -> np.ndarray:
    """Build the colour look-up table for :func:`colorize`.

    Args:
        colors: RGB colour (0..255) of class id ``i`` at index ``i``; at most 255 classes.

    Returns:
        ``(256, 3) uint8``; rows without a class, including ``UNLABELLED``, are black.
    """
    table = np.asarray(colors, dtype=np.int64).reshape(-1, 3)
    if len(table) > UNLABELLED:
        raise ValueError(f"palette has {len(table)} colours; ids 0..254 leave room for at most 255")
    if table.size and (table.min() < 0 or table.max() > 255):
        raise ValueError(f"palette colours must be 0..255, got {table.min()}..{table.max()}")
    lut = np.zeros((256, 3), np.uint8)
    lut[: len(table)] = table
    return lut


def colorize(labels: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """Colour a label map.

    Args:
        labels: ``(H, W) uint8`` class ids.
        lut: ``(256, 3) uint8`` RGB colour per id, e.g. from :func:`palette_lut` (which makes 255 black).

    Returns:
        ``(H, W, 3) uint8`` RGB, ``lut[labels]``.
    """
    _check_labels(labels)
    if lut.shape != (256, 3) or lut.dtype != np.uint8:
        raise ValueError(f"lut must be (256, 3) uint8, got {lut.shape} {lut.dtype}")
    # cv2.LUT on the ids replicated to 3 channels measured ~2.5x faster than np.take(lut, labels, 0)
    # (itself ~4x faster than lut[labels]) at 1280x720; same bytes.
    rgb_ids = cv2.cvtColor(labels, cv2.COLOR_GRAY2RGB)
    return cv2.LUT(rgb_ids, lut.reshape(256, 1, 3), dst=rgb_ids)


def overlay(
    image_rgb: np.ndarray, color: np.ndarray, alpha: float, labels: np.ndarray | None = None
) -> np.ndarray:
    """Blend a colour mask over an image.

    Args:
        image_rgb: ``(H, W, 3) uint8``.
        color: ``(H, W, 3) uint8`` colour mask, e.g. from :func:`colorize`.
        alpha: weight of the mask, 0..1 (0 = image only, 1 = mask only).
        labels: optional ``(H, W) uint8``; where it is ``UNLABELLED`` the image is kept unblended.

    Returns:
        ``(H, W, 3) uint8``: ``round((1 - alpha) * image + alpha * color)`` per channel.
    """
    if image_rgb.dtype != np.uint8 or image_rgb.ndim != 3 or image_rgb.shape[2] != 3:
        raise ValueError(
            f"image_rgb must be (H, W, 3) uint8, got {image_rgb.shape} {image_rgb.dtype}"
        )
    if color.shape != image_rgb.shape or color.dtype != np.uint8:
        raise ValueError(
            f"color must be {image_rgb.shape} uint8 like the image, got {color.shape} {color.dtype}"
        )
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in 0..1, got {alpha}")
    # cv2.addWeighted measured 2x faster than uint16 integer blending (0.08 vs 0.18 ms at 480x360).
    blended = cv2.addWeighted(image_rgb, 1.0 - alpha, color, alpha, 0.0)
    if labels is not None:
        _check_labels(labels)
        if labels.shape != image_rgb.shape[:2]:
            raise ValueError(
                f"labels shape {labels.shape} does not match image {image_rgb.shape[:2]}"
            )
        # cv2.copyTo writes in place; np.copyto(where=...) was 14x slower here.
        cv2.copyTo(image_rgb, (labels == UNLABELLED).view(np.uint8), blended)
    return blended


def confidence_to_mono8(confidence: np.ndarray) -> np.ndarray:
    """Scale a confidence map to a mono8 image.

    Args:
        confidence: ``(H, W)`` float, nominally 0..1.

    Returns:
        ``(H, W) uint8``: ``round(255 * confidence)``, clipped to 0..255; NaN becomes 0.
    """
    if not np.issubdtype(confidence.dtype, np.floating):
        raise ValueError(f"confidence must be a float array, got {confidence.dtype}")
    scaled = np.multiply(confidence, 255.0, dtype=np.float32)
    # fmax/fmin (not clip) so NaN maps to 0 instead of an undefined integer cast.
    np.fmax(scaled, 0.0, out=scaled)
    np.fmin(scaled, 255.0, out=scaled)
    return np.rint(scaled, out=scaled).astype(np.uint8)


@dataclass(frozen=True)
class OccupancySummary:
    """Per-frame summary of a label map; mirrors ``t2g_msgs/ClassOccupancy``.

    Arrays indexed by class are indexed by class id ``0 .. num_classes - 1``.
    Grid arrays are row-major, ``grid_rows * grid_cols`` long, row 0 at the image top; cell bounds
    are :func:`grid_bounds`.
    """

    height: int
    width: int
    pixel_fraction: np.ndarray  # (K,) float32, share of all pixels
    mean_confidence: np.ndarray  # (K,) float32, 0 where the class is absent
    unlabelled_fraction: float
    grid_rows: int
    grid_cols: int
    grid_class: np.ndarray  # (rows * cols,) uint8, UNLABELLED where unlabelled pixels dominate
    grid_share: np.ndarray  # (rows * cols,) float32, share of the cell taken by grid_class
    stability: (
        float  # share of pixels equal to the previous labels; NaN without comparable previous
    )


def grid_bounds(size: int, cells: int) -> np.ndarray:
    """Cell boundaries along one image axis: ``(cells + 1,) intp``, ``rint(linspace(0, size, cells + 1))``."""
    if not 1 <= cells <= size:
        raise ValueError(
            f"grid of {cells} cells does not fit an axis of {size} pixels (need 1..{size})"
        )
    return np.rint(np.linspace(0, size, cells + 1)).astype(np.intp)


def summarize_occupancy(
    labels: np.ndarray,
    confidence: np.ndarray,
    *,
    num_classes: int,
    grid_rows: int,
    grid_cols: int,
    previous_labels: np.ndarray | None = None,
) -> OccupancySummary:
    """Summarise a label map: class shares, mean confidence, coarse grid and stability.

    Args:
        labels: ``(H, W) uint8`` ids in ``0 .. num_classes - 1`` or ``UNLABELLED``.
        confidence: ``(H, W) float32`` 0..1 (max softmax probability).
        num_classes: number of class ids K, 1..255.
        grid_rows, grid_cols: grid size; each must be between 1 and the image size on its axis,
            and ``grid_cols`` at most ``MAX_GRID_COLS``.
        previous_labels: the previous frame's labels, for ``stability``.

    Returns:
        :class:`OccupancySummary`. In a grid cell the dominant label is the most frequent one,
        counting ``UNLABELLED`` as a label; ties go to the lower class id, and a class wins a tie
        with ``UNLABELLED``.
    """
    _check_labels(labels)
    if confidence.shape != labels.shape:
        raise ValueError(
            f"confidence shape {confidence.shape} does not match labels {labels.shape}"
        )
    if not 1 <= num_classes <= UNLABELLED:
        raise ValueError(f"num_classes must be 1..255, got {num_classes}")
    labels = np.ascontiguousarray(labels)  # row bands of it go to OpenCV
    height, width = labels.shape
    if grid_cols > MAX_GRID_COLS:
        raise ValueError(f"grid_cols must be at most {MAX_GRID_COLS}, got {grid_cols}")
    # Per cell, the count of every id 0..255: one 2-D histogram (id x column cell) per grid row,
    # integer counts in OpenCV (exact), about 3x faster than np.bincount over a per-pixel int64 index.
    row_bounds = grid_bounds(height, grid_rows)
    column_cells = _column_cells(height, width, grid_cols)  # (H, W) uint8 column cell per pixel
    hist = np.stack(
        [
            cv2.calcHist(
                [labels[r0:r1], column_cells[r0:r1]],
                [0, 1],
                None,
                [256, grid_cols],
                [0, 256, 0, grid_cols],
            )
            for r0, r1 in zip(row_bounds[:-1], row_bounds[1:])
        ]
    )  # (rows, 256, cols) float32 counts: exact up to 2^24 px per cell (the decoders' pixel cap)
    by_id = hist.transpose(0, 2, 1).reshape(grid_rows * grid_cols, 256).astype(np.int64)
    totals = by_id.sum(axis=0)  # (256,) pixels per id
    bad = np.flatnonzero(totals[num_classes:UNLABELLED])
    if bad.size:
        raise ValueError(
            f"labels contain ids {(bad + num_classes).tolist()} outside 0..{num_classes - 1} "
            f"and {UNLABELLED}"
        )
    counts = np.concatenate([by_id[:, :num_classes], by_id[:, UNLABELLED:]], axis=1)  # (cells, K+1)

    pixels = height * width
    # Summed in pixel order per id, as before: the same float64 sums.
    confidence_sums = np.bincount(labels.ravel(), weights=confidence.ravel(), minlength=256)
    mean_confidence = np.divide(
        confidence_sums[:num_classes],
        totals[:num_classes],
        out=np.zeros(num_classes),
        where=totals[:num_classes] > 0,
    )

    dominant = counts.argmax(axis=1)  # first maximum: lowest id, classes before UNLABELLED
    cell_pixels = counts.sum(axis=1)
    grid_class = np.where(dominant == num_classes, UNLABELLED, dominant).astype(np.uint8)
    grid_share = counts[np.arange(len(counts)), dominant] / cell_pixels

    return OccupancySummary(
        height=height,
        width=width,
        pixel_fraction=_frozen(totals[:num_classes] / pixels, np.float32),
        mean_confidence=_frozen(mean_confidence, np.float32),
        unlabelled_fraction=float(totals[UNLABELLED] / pixels),
        grid_rows=grid_rows,
        grid_cols=grid_cols,
        grid_class=_frozen(grid_class, np.uint8),
        grid_share=_frozen(grid_share, np.float32),
        stability=_stability(labels, previous_labels),
    )


def _stability(labels: np.ndarray, previous: np.ndarray | None) -> float:
    if previous is None or previous.shape != labels.shape:
        return float("nan")
    return np.count_nonzero(labels == previous) / labels.size


def _check_labels(labels: np.ndarray) -> None:
    if labels.ndim != 2 or labels.dtype != np.uint8:
        raise ValueError(f"labels must be (H, W) uint8, got {labels.shape} {labels.dtype}")


def _frozen(values: np.ndarray, dtype: type) -> np.ndarray:
    out = np.asarray(values, dtype=dtype)
    out.flags.writeable = False  # the summary is a frozen dataclass; keep its arrays immutable too
    return out


@lru_cache(maxsize=8)
def _column_cells(height: int, width: int, cols: int) -> np.ndarray:
    """``(H, W) uint8``: the grid column of every pixel, cached because it only depends on sizes."""
    col_cell = np.repeat(np.arange(cols, dtype=np.uint8), np.diff(grid_bounds(width, cols)))  # (W,)
    cells = np.ascontiguousarray(np.broadcast_to(col_cell, (height, width)))
    cells.flags.writeable = False
    return cells
