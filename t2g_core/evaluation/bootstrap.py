"""Sampling noise of a score: the standard deviation of the score over bootstrap resamples.

Every scorecard figure is a ratio of sums over evaluation units (frames, frame pairs, VC windows,
labelled frames). Resampling the units with replacement and recomputing the figure gives its spread
under "another draw of frames like these", which is what the release gate's noise bands are made of.
Each function takes the per-unit numbers the scorecard keeps and returns ``(value, std)``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..metrics import mean_iou


def resample_std(
    statistic: Callable[[np.ndarray], float], units: int, *, samples: int, seed: int
) -> float:
    """Std of ``statistic(indices)`` over ``samples`` resamples of ``range(units)`` with replacement.

    NaN when there are fewer than 2 units or fewer than 2 finite resampled values.
    """
    if units < 2 or samples < 2:
        return float("nan")
    rng = np.random.default_rng(seed)
    values = np.array(
        [statistic(rng.integers(0, units, units)) for _ in range(samples)], dtype=np.float64
    )
    values = values[np.isfinite(values)]
    return float(values.std(ddof=1)) if len(values) >= 2 else float("nan")


def miou_with_std(confusions: np.ndarray, *, samples: int, seed: int) -> tuple[float, float]:
    """mIoU of (N, K, K) per-frame confusion matrices pooled, and its std over frame resamples."""
    value = mean_iou(confusions.sum(axis=0))
    std = resample_std(
        lambda idx: mean_iou(confusions[idx].sum(axis=0)),
        len(confusions),
        samples=samples,
        seed=seed,
    )
    return value, std


def ratio_with_std(counts: np.ndarray, *, samples: int, seed: int) -> tuple[float, float]:
    """sum(numerator) / sum(denominator) of (N, 2) per-unit counts, and its std over unit resamples."""

    def ratio(idx: np.ndarray) -> float:
        num, den = counts[idx].sum(axis=0)
        return num / den if den else float("nan")

    return ratio(np.arange(len(counts))), resample_std(
        ratio, len(counts), samples=samples, seed=seed
    )


def mean_with_std(values: np.ndarray, *, samples: int, seed: int) -> tuple[float, float]:
    """Mean of (N,) per-unit values (e.g. VC windows), and its std over unit resamples."""
    values = np.asarray(values, dtype=np.float64)
    value = float(values.mean()) if len(values) else float("nan")
    return value, resample_std(
        lambda idx: float(values[idx].mean()), len(values), samples=samples, seed=seed
    )


def retention_with_std(
    clean: np.ndarray, corrupted: list[np.ndarray], *, samples: int, seed: int
) -> tuple[float, float]:
    """Mean over corruptions of corrupted mIoU / clean mIoU, from (N, K, K) per-frame confusions of the
    same N frames; the frames are resampled jointly for the clean run and every corruption."""

    def retention(idx: np.ndarray) -> float:
        base = mean_iou(clean[idx].sum(axis=0))
        return float(np.mean([mean_iou(c[idx].sum(axis=0)) / base for c in corrupted]))

    return retention(np.arange(len(clean))), resample_std(
        retention, len(clean), samples=samples, seed=seed
    )
