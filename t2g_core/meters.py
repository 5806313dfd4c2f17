"""Streaming accumulators of the bag and demo metrics, on ``t2g_core.metrics`` (numpy only, no model).

Frames arrive one at a time from a bag of any length, so nothing here keeps more than the previous
frame (flicker) or the last ``n`` frames (VC_n); the numbers equal the core functions run on the whole
sequence.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from t2g_core.labels import LabelSet
from t2g_core.metrics import (
    ConfusionAccumulator,
    FlickerResult,
    VCResult,
    flicker_rate,
    video_consistency,
)
from t2g_core.postprocess import UNLABELLED, OccupancySummary

#: What the flicker numbers measure, for the reports.
FLICKER_PROTOCOL = (
    "share of gray-stable pixels (|gray change| <= 20 between consecutive frames, DGVSS) "
    "whose predicted class changes"
)


class FlickerMeter:
    """Flicker rate over consecutive frames: ``rate`` equals ``flicker_rate(all preds, frames=all frames)``."""

    def __init__(self) -> None:
        self.result = FlickerResult()
        self._previous: tuple[np.ndarray, np.ndarray] | None = None

    def update(self, labels: np.ndarray, frame: np.ndarray) -> None:
        """``labels``: ``(H, W) uint8`` prediction of ``frame``: ``(H, W, 3) uint8`` RGB."""
        if self._previous is not None:
            pair = flicker_rate([self._previous[0], labels], frames=[self._previous[1], frame])
            self.result = self.result.merge(pair)
        self._previous = (labels, frame)

    @property
    def rate(self) -> float:
        return self.result.rate


class GroundTruthMeter:
    """mIoU and VC_n against ``mono8`` ground truth; 255 and the label set's void id are ignored.

    VC_n is computed over the frames that have ground truth, in time order.
    """

    def __init__(self, label_set: LabelSet, *, vc_n: int = 8) -> None:
        self.void_id = label_set.void_id
        self.confusion = ConfusionAccumulator(label_set.num_classes, void_id=label_set.void_id)
        self.vc = VCResult(n=vc_n)
        self._window: deque[tuple[np.ndarray, np.ndarray]] = deque(maxlen=vc_n)
        self.frames = 0

    def update(self, pred: np.ndarray, gt: np.ndarray) -> None:
        """``pred``, ``gt``: ``(H, W) uint8``. Raises ``ValueError`` (state unchanged) for ids out of range."""
        if pred.shape != gt.shape:
            raise ValueError(
                f"ground truth is {gt.shape[1]}x{gt.shape[0]}, the image {pred.shape[1]}x{pred.shape[0]}"
            )
        gt = np.where(gt == UNLABELLED, np.uint8(self.void_id), gt)
        self.confusion.update(pred, gt)  # validates ids before anything is added
        self.frames += 1
        self._window.append((pred, gt))
        if len(self._window) == self.vc.n:
            preds, gts = zip(*self._window)
            self.vc = self.vc.merge(
                video_consistency(preds, gts, n=self.vc.n, void_id=self.void_id)
            )

    def report(self, names: tuple[str, ...]) -> dict:
        iou = self.confusion.per_class_iou()
        return {
            "frames": self.frames,
            "miou": finite_or_none(self.confusion.mean_iou()),
            f"vc{self.vc.n}": finite_or_none(self.vc.mean_of_windows),
            "per_class_iou": {name: finite_or_none(value) for name, value in zip(names, iou)},
        }


class OccupancyMeter:
    """Mean per-class pixel share, unlabelled share and frame-to-frame stability over all frames."""

    def __init__(self, label_set: LabelSet) -> None:
        self.names = label_set.names
        self.frames = 0
        self._shares = np.zeros(label_set.num_classes, np.float64)
        self._unlabelled = 0.0
        self._stability: list[float] = []

    def update(self, summary: OccupancySummary) -> None:
        self.frames += 1
        self._shares += summary.pixel_fraction
        self._unlabelled += summary.unlabelled_fraction
        if math.isfinite(summary.stability):
            self._stability.append(summary.stability)

    def report(self) -> dict:
        frames = max(self.frames, 1)
        return {
            "frames": self.frames,
            "mean_class_share": {
                name: round(float(share / frames), 6)
                for name, share in zip(self.names, self._shares)
            },
            "mean_unlabelled_share": round(self._unlabelled / frames, 6),
            "mean_stability": finite_or_none(
                float(np.mean(self._stability)) if self._stability else math.nan
            ),
        }


def finite_or_none(value: float) -> float | None:
    """JSON has no NaN: undefined metrics (no stable pixels, no frames) are written as null."""
    return float(value) if math.isfinite(value) else None
