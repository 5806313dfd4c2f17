"""Streaming accumulators of the bag and demo metrics, on ``t2g_core.metrics`` (numpy only, no model).

Frames arrive one at a time from a bag of any length, so nothing here keeps more than the previous
frame (flicker), the last ``max(strides)`` frames (flicker per stride) or the last ``n`` frames
(VC_n); the numbers equal the core functions run on the whole sequence. ``restart()`` forgets the
earlier frames (e.g. at a frame size change: frames of two sizes cannot be compared pixel by
pixel) and keeps the totals.
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

    def restart(self) -> None:
        """Forget the previous frame; the rate so far is kept."""
        self._previous = None

    @property
    def rate(self) -> float:
        return self.result.rate


class StrideFlicker:
    """Flicker between the labels of frame t and frame t+s of one output stream, for each stride s.

    Pixels count where the gray value changes by at most 20 between those two frames (the flicker
    protocol of ``t2g_core.metrics``). A per-frame model gives what streaming every s-th frame gives;
    a model with memory saw the frames in between (``make bench`` re-streams at each stride).
    """

    def __init__(self, strides: tuple[int, ...]) -> None:
        self.strides = strides
        self.results = {s: FlickerResult() for s in strides}
        self._last: deque[tuple[np.ndarray, np.ndarray]] = deque(maxlen=max(strides))

    def update(self, labels: np.ndarray, frame: np.ndarray) -> None:
        """``labels``: (H, W) uint8 prediction of ``frame`` (H, W, 3) uint8 RGB, the next in time."""
        for s in self.strides:
            if len(self._last) >= s:
                before, before_frame = self._last[-s]
                pair = flicker_rate([before, labels], frames=[before_frame, frame])
                self.results[s] = self.results[s].merge(pair)
        self._last.append((labels, frame))

    def restart(self) -> None:
        """Forget the earlier frames; the rates so far are kept."""
        self._last.clear()

    def report(self) -> list[dict]:
        """``[{stride, rate (None if undefined), pixels}]`` in stride order."""
        return [
            {"stride": s, "rate": finite_or_none(r.rate), "pixels": r.denominator}
            for s, r in self.results.items()
        ]

    def rates(self) -> dict[int, float | None]:
        """Stride -> flicker rate (None if undefined)."""
        return {s: finite_or_none(r.rate) for s, r in self.results.items()}


class LabelAgreement:
    """Pixels where two label maps of the same frame agree, over all frames (e.g. T2G vs the same
    checkpoint at memory 1: the share the memory changes; T2G vs a peer: the share they agree on)."""

    def __init__(self) -> None:
        self.agree = 0
        self.pixels = 0

    def update(self, labels: np.ndarray, other: np.ndarray) -> None:
        """``labels``, ``other``: (H, W) uint8 predictions of one frame."""
        self.agree += int((labels == other).sum())
        self.pixels += labels.size

    @property
    def changed(self) -> int:
        return self.pixels - self.agree

    def agree_share(self) -> float | None:
        """Share of the pixels that agree; None before any frame."""
        return self.agree / self.pixels if self.pixels else None

    def changed_share(self) -> float | None:
        """Share of the pixels that differ; None before any frame."""
        return self.changed / self.pixels if self.pixels else None


class LabelCounts:
    """Pixels per label id (0..255) over all frames, and their shares by class name."""

    def __init__(self) -> None:
        self.counts = np.zeros(256, np.int64)

    def update(self, labels: np.ndarray) -> None:
        """``labels``: (H, W) uint8 class ids (the void id and 255, unlabelled, included)."""
        self.counts += np.bincount(labels.ravel(), minlength=256)

    def shares(self, label_set: LabelSet) -> dict[str, float]:
        """Class name (and ``void``, ``unlabelled``) -> share of the pixels, largest first, to 6
        digits; empty before any frame."""
        total = int(self.counts.sum())
        if total == 0:
            return {}
        names = {k: name for k, name in enumerate(label_set.names)}
        names[label_set.void_id] = "void"
        names[UNLABELLED] = "unlabelled"
        shares = {
            names.get(k, f"id {k}"): round(int(c) / total, 6)
            for k, c in enumerate(self.counts)
            if c
        }
        return dict(sorted(shares.items(), key=lambda item: -item[1]))


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

    def restart(self) -> None:
        """Forget the VC_n window; mIoU and the windows so far are kept."""
        self._window.clear()

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


def ratio(ours: float | None, reference: float | None) -> float | None:
    """``ours / reference`` (e.g. flicker of T2G / flicker of a reference: below 1, T2G flickers less).

    None when either side is None or NaN, or the reference is 0 or less (no ratio is defined).
    """
    if ours is None or reference is None or math.isnan(ours) or not reference > 0:
        return None
    return ours / reference


def finite_or_none(value: float) -> float | None:
    """JSON has no NaN: undefined metrics (no stable pixels, no frames) are written as null."""
    return float(value) if math.isfinite(value) else None
