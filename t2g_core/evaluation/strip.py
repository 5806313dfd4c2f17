"""A strip of consecutive real video frames where the per-frame model flickers, with each contender's labels.

The window is the ``length`` consecutive frames with the highest per-frame flicker (pooled over the
window's frame pairs), so the picture shows the failure the temporal model is meant to fix.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from ..metrics import flicker_rate
from ..postprocess import colorize


@dataclass(frozen=True)
class FlickerWindow:
    """``length`` frames starting at ``start`` of clip ``clip``, whose pooled flicker is ``rate``."""

    clip: str
    start: int
    length: int
    rate: float


def pair_flicker(
    preds: Sequence[np.ndarray], frames: Sequence[np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Per-pair flicker counts on gray-stable pixels.

    Args:
        preds: L (H, W) predicted ids; frames: L (H, W, 3) uint8 RGB.
    Returns:
        numerators, denominators: (L-1,) int64; entry t is the pair (t, t+1).
    """
    counts = [
        flicker_rate(preds[t : t + 2], frames=frames[t : t + 2]) for t in range(len(preds) - 1)
    ]
    return (
        np.array([c.numerator for c in counts], dtype=np.int64),
        np.array([c.denominator for c in counts], dtype=np.int64),
    )


def flickeriest_window(
    numerators: np.ndarray, denominators: np.ndarray, *, length: int
) -> tuple[int, float]:
    """Start of the ``length``-frame window (``length - 1`` pairs) with the highest pooled flicker.

    Args:
        numerators, denominators: (L-1,) per-pair counts from :func:`pair_flicker`.
    Returns:
        (start frame, pooled rate); (0, NaN) when the clip is shorter than ``length`` or nothing is stable.
    """
    pairs = length - 1
    if length < 2 or len(numerators) < pairs:
        return 0, float("nan")
    num = np.convolve(numerators, np.ones(pairs, dtype=np.int64), mode="valid")  # (L-length+1,)
    den = np.convolve(denominators, np.ones(pairs, dtype=np.int64), mode="valid")
    with np.errstate(invalid="ignore", divide="ignore"):
        rates = np.where(den > 0, num / den, -1.0)
    start = int(np.argmax(rates))
    return start, float(rates[start]) if rates[start] >= 0 else float("nan")


def draw_flicker_strip(
    path: str | Path,
    *,
    frames: Sequence[np.ndarray],
    rows: Mapping[str, Sequence[np.ndarray]],
    lut: np.ndarray,
    class_names: Sequence[str],
    times_s: Sequence[float],
    title: str,
) -> Path:
    """Draw the input frames and, under them, each contender's coloured labels for the same frames.

    Every label tile is captioned with the flicker of the pair (previous tile, this tile), so the changes
    visible between tiles are also counted.

    Args:
        frames: N (H, W, 3) uint8 RGB frames in time order.
        rows: contender label -> N (H, W) uint8 predictions of those frames.
        lut: (256, 3) uint8 palette (``LabelSet.palette_lut``).
        times_s: N frame times, for the column titles.
    """
    n = len(frames)
    aspect = frames[0].shape[0] / frames[0].shape[1]
    fig = Figure(figsize=(2.3 * n, 2.3 * aspect * (len(rows) + 1) + 0.9), dpi=100)
    axes = fig.subplots(len(rows) + 1, n, squeeze=False)
    for col in range(n):
        axes[0, col].imshow(frames[col])
        axes[0, col].set_title(f"t = {times_s[col]:.2f} s", fontsize=8)
    for row, (label, preds) in enumerate(rows.items(), start=1):
        axes[row, 0].set_ylabel(label, fontsize=8)
        for col in range(n):
            axes[row, col].imshow(colorize(np.ascontiguousarray(preds[col], dtype=np.uint8), lut))
            if col:
                rate = flicker_rate(preds[col - 1 : col + 1], frames=frames[col - 1 : col + 1]).rate
                axes[row, col].set_xlabel(f"flicker {100 * rate:.1f} %", fontsize=7)
    axes[0, 0].set_ylabel("input", fontsize=8)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    handles = [Patch(color=lut[k] / 255.0, label=name) for k, name in enumerate(class_names)]
    fig.legend(
        handles=handles, loc="lower center", ncol=min(len(handles), 11), fontsize=7, frameon=False
    )
    fig.suptitle(title, fontsize=9)
    fig.tight_layout(rect=(0, 0.06, 1, 0.97))
    path = Path(path)
    fig.savefig(path)
    return path
