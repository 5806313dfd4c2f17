"""Evaluation metrics: confusion matrix / IoU, video consistency VC_n, flicker rate, per-stride reports.

All functions take numpy arrays of class ids: predictions (H, W) in ``0..K-1`` and labels (H, W) in
``0..K-1`` or ``void_id``. Results that are pooled over frames or videos keep their numerators and
denominators, so they can be summed across sequences before dividing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

DGVSS_GRAY_THRESHOLD = 20


# ----------------------------------------------------------------------------------------------- mIoU


def confusion_matrix(
    pred: np.ndarray, labels: np.ndarray, *, num_classes: int, void_id: int
) -> np.ndarray:
    """(K, K) int64 counts, rows = ground truth, columns = prediction, void pixels skipped.

    Args:
        pred: (...) integer predicted ids in ``0..K-1``.
        labels: (...) integer ids in ``0..K-1`` or ``void_id``, same shape.
    """
    pred = np.asarray(pred)
    labels = np.asarray(labels)
    if pred.shape != labels.shape:
        raise ValueError(f"pred {pred.shape} and labels {labels.shape} differ in shape")
    if pred.dtype.kind not in "iu" or labels.dtype.kind not in "iu":
        raise ValueError(
            f"pred and labels must be integer arrays, got {pred.dtype} and {labels.dtype}"
        )
    keep = labels != void_id
    gt = labels[keep].astype(np.int64)
    pr = pred[keep].astype(np.int64)
    if gt.size and (gt.min() < 0 or gt.max() >= num_classes):
        bad = gt[(gt < 0) | (gt >= num_classes)][0]
        raise ValueError(
            f"label id {bad} is outside 0..{num_classes - 1} and is not void {void_id}"
        )
    if pr.size and (pr.min() < 0 or pr.max() >= num_classes):
        bad = pr[(pr < 0) | (pr >= num_classes)][0]
        raise ValueError(f"predicted id {bad} is outside 0..{num_classes - 1}")
    counts = np.bincount(gt * num_classes + pr, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes).astype(np.int64)


def per_class_iou(confusion: np.ndarray) -> np.ndarray:
    """(K,) float64 IoU ``TP / (TP + FP + FN)``; NaN for a class absent from both ground truth and prediction."""
    confusion = np.asarray(confusion, dtype=np.float64)
    if confusion.ndim != 2 or confusion.shape[0] != confusion.shape[1]:
        raise ValueError(f"confusion must be (K, K), got {confusion.shape}")
    tp = np.diag(confusion)
    union = confusion.sum(0) + confusion.sum(1) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, tp / union, np.nan)


def mean_iou(confusion: np.ndarray) -> float:
    """Mean of :func:`per_class_iou` over the classes that are not NaN; NaN if all are."""
    iou = per_class_iou(confusion)
    return float(np.nanmean(iou)) if np.isfinite(iou).any() else float("nan")


class ConfusionAccumulator:
    """Accumulates a (K, K) int64 confusion matrix over frames (rows = ground truth)."""

    def __init__(self, num_classes: int, *, void_id: int) -> None:
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        self.num_classes = num_classes
        self.void_id = void_id
        self.matrix = np.zeros((num_classes, num_classes), dtype=np.int64)

    def update(self, pred: np.ndarray, labels: np.ndarray) -> None:
        """Add one or more frames: ``pred`` and ``labels`` as in :func:`confusion_matrix`."""
        self.matrix += confusion_matrix(
            pred, labels, num_classes=self.num_classes, void_id=self.void_id
        )

    def per_class_iou(self) -> np.ndarray:
        return per_class_iou(self.matrix)

    def mean_iou(self) -> float:
        return mean_iou(self.matrix)


# ----------------------------------------------------------------------------------------------- VC_n


@dataclass
class VCResult:
    """Video consistency VC_n pooled over windows (and over sequences with :meth:`merge`).

    Attributes:
        n: window length.
        numerator: pixels, summed over windows, that are GT-stable and whose prediction is stable too.
        denominator: GT-stable pixels summed over windows.
        window_ratios: (W,) float64 per-window ratios, windows with no GT-stable pixel left out.
    """

    n: int
    numerator: int = 0
    denominator: int = 0
    window_ratios: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float64))

    @property
    def mean_of_windows(self) -> float:
        """Headline VC_n: mean of the per-window ratios, as the official VSPW code averages. NaN if none."""
        return float(self.window_ratios.mean()) if len(self.window_ratios) else float("nan")

    @property
    def pooled(self) -> float:
        """Sum of numerators / sum of denominators: weights windows by their stable area. NaN if empty."""
        return self.numerator / self.denominator if self.denominator else float("nan")

    def merge(self, other: VCResult) -> VCResult:
        """Pool two results of the same ``n`` (e.g. two sequences): sums and concatenated windows."""
        if other.n != self.n:
            raise ValueError(f"cannot merge VC_{self.n} with VC_{other.n}")
        return VCResult(
            n=self.n,
            numerator=self.numerator + other.numerator,
            denominator=self.denominator + other.denominator,
            window_ratios=np.concatenate([self.window_ratios, other.window_ratios]),
        )


def video_consistency(
    preds: Iterable[np.ndarray], labels: Iterable[np.ndarray], *, n: int, void_id: int
) -> VCResult:
    """VC_n of Miao et al. 2021 (VSPW) over one sequence.

    For every window of ``n`` consecutive frames, the GT-stable pixels are those whose label is the same in
    all ``n`` frames and is not void; the window's ratio is the fraction of them whose predicted label is also
    the same in all ``n`` frames. The headline is :attr:`VCResult.mean_of_windows` (the official code's
    mean of per-window ratios); :attr:`VCResult.pooled` (sum over windows of numerators / of denominators) is
    reported beside it.

    Differences from the official VSPW code, on purpose: it loops ``range(len - n)`` and so skips the last
    window; here all ``len - n + 1`` windows count. It also counts void as a label that can be stable; here void
    pixels are excluded. Windows with no GT-stable pixel (the official code would average a NaN) are left out.

    Args:
        preds: L arrays (H, W) of predicted ids (or an (L, H, W) array), in time order.
        labels: L arrays (H, W) of ground-truth ids (void ``void_id``), aligned with ``preds``.
        n: window length, >= 2.
    Returns:
        :class:`VCResult`; empty (NaN properties) when the sequence is shorter than ``n``.
    """
    if n < 2:
        raise ValueError(f"VC window n must be >= 2, got {n}")
    # A window [t-n+1, t] is stable at a pixel iff the run of equal values ending at frame t is >= n long,
    # so one pass with run lengths replaces n-1 comparisons per window.
    result = VCResult(n=n)
    ratios = []
    prev_pred = prev_gt = gt_run = pred_run = None
    frames = 0
    for pred, gt in zip(preds, labels, strict=True):
        pred, gt = np.asarray(pred), np.asarray(gt)
        if pred.shape != gt.shape or pred.ndim != 2:
            raise ValueError(
                f"frame {frames}: pred {pred.shape} and labels {gt.shape} must both be (H, W)"
            )
        if prev_gt is None:
            gt_run = np.ones(gt.shape, dtype=np.int64)
            pred_run = np.ones(gt.shape, dtype=np.int64)
        else:
            if gt.shape != prev_gt.shape:
                raise ValueError(f"frame {frames} is {gt.shape}, earlier frames {prev_gt.shape}")
            gt_run = np.where(gt == prev_gt, gt_run + 1, 1)
            pred_run = np.where(pred == prev_pred, pred_run + 1, 1)
        prev_pred, prev_gt = pred, gt
        frames += 1
        if frames < n:
            continue
        gt_stable = (gt_run >= n) & (gt != void_id)
        denominator = int(gt_stable.sum())
        numerator = int((gt_stable & (pred_run >= n)).sum())
        result.numerator += numerator
        result.denominator += denominator
        if denominator:
            ratios.append(numerator / denominator)
    result.window_ratios = np.asarray(ratios, dtype=np.float64)
    return result


# ------------------------------------------------------------------------------------------- flicker


@dataclass
class FlickerResult:
    """Flicker pooled over consecutive frame pairs: ``rate = numerator / denominator``.

    Attributes:
        numerator: stable pixels, summed over pairs, whose predicted label changed.
        denominator: stable pixels summed over pairs.
    """

    numerator: int = 0
    denominator: int = 0

    @property
    def rate(self) -> float:
        return self.numerator / self.denominator if self.denominator else float("nan")

    def merge(self, other: FlickerResult) -> FlickerResult:
        return FlickerResult(self.numerator + other.numerator, self.denominator + other.denominator)


def flicker_rate(
    preds: Iterable[np.ndarray],
    *,
    frames: Iterable[np.ndarray] | None = None,
    labels: Iterable[np.ndarray] | None = None,
    void_id: int | None = None,
    gray_threshold: int = DGVSS_GRAY_THRESHOLD,
) -> FlickerResult:
    """Fraction of stable pixels whose predicted label changes between consecutive frames.

    A pixel of the pair (t-1, t) is stable when
    - with ``frames``: ``|gray_t - gray_{t-1}| <= gray_threshold`` (the DGVSS protocol: the image barely
      changed there; gray is OpenCV's RGB->gray of the uint8 frames), and
    - with ``labels``: its label is the same in both frames and is not void.
    At least one of the two is required. Ego-motion changes how many pixels are stable, so compare models
    on the same video only.

    Args:
        preds: L arrays (H, W) of predicted ids, in time order.
        frames: L arrays (H, W, 3) uint8 RGB aligned with ``preds``.
        labels: L arrays (H, W) of ids aligned with ``preds``; needs ``void_id``.
        gray_threshold: largest absolute gray difference (0..255) still counted as unchanged.
    """
    if frames is None and labels is None:
        raise ValueError(
            "flicker_rate needs frames (gray-stable pixels), labels (GT-stable pixels), or both"
        )
    if labels is not None and void_id is None:
        raise ValueError("void_id is required with labels")
    if not 0 <= gray_threshold <= 255:
        raise ValueError(f"gray_threshold must be in 0..255, got {gray_threshold!r}")
    preds = list(preds)
    frame_list = None if frames is None else list(frames)
    label_list = None if labels is None else list(labels)
    for name, other in (("frames", frame_list), ("labels", label_list)):
        if other is not None and len(other) != len(preds):
            raise ValueError(f"{len(preds)} predictions but {len(other)} {name}")
    result = FlickerResult()
    prev_gray = None
    for t, pred in enumerate(preds):
        pred = np.asarray(pred)
        gray = None if frame_list is None else _gray(frame_list[t], pred.shape)
        if t > 0:
            stable = np.ones(pred.shape, dtype=bool)
            if gray is not None:
                stable &= np.abs(gray - prev_gray) <= gray_threshold
            if label_list is not None:
                cur, prev = np.asarray(label_list[t]), np.asarray(label_list[t - 1])
                stable &= (cur == prev) & (cur != void_id)
            changed = np.asarray(preds[t - 1]) != pred
            result.numerator += int((stable & changed).sum())
            result.denominator += int(stable.sum())
        prev_gray = gray
    return result


def _gray(frame: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    frame = np.asarray(frame)
    if frame.dtype != np.uint8 or frame.shape != (*shape, 3):
        raise ValueError(
            f"frames must be (H, W, 3) uint8 matching predictions {shape}, got {frame.dtype} {frame.shape}"
        )
    return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY).astype(np.int16)


# ---------------------------------------------------------------------------------------- per stride


def stride_phases(length: int, *, stride: int) -> list[np.ndarray]:
    """The ``stride`` subsequences ``offset, offset + stride, ...`` (offset 0..stride-1) of ``range(length)``.

    Together they cover every frame once, so a per-stride score pooled over phases uses all frames.
    Returns a list of (L_i,) int64 index arrays (phases with no frame are left out).
    """
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    if length < 0:
        raise ValueError(f"length must be >= 0, got {length}")
    return [np.arange(o, length, stride, dtype=np.int64) for o in range(min(stride, length))]


@dataclass
class StrideScores:
    """Everything measured at one stride, pooled over its phases.

    Attributes:
        stride: frames skipped between the frames the model saw.
        confusion: (K, K) int64 over all labelled frames predicted.
        vc: VC_n per window length ``n``.
        flicker: flicker over consecutive frames of each phase (pairs ``stride`` source frames apart).
    """

    stride: int
    confusion: np.ndarray
    vc: dict[int, VCResult]
    flicker: FlickerResult

    @property
    def mean_iou(self) -> float:
        return mean_iou(self.confusion)


def scores_per_stride(
    predict: Callable[[np.ndarray], Sequence[np.ndarray]],
    *,
    strides: Sequence[int],
    labels: Sequence[np.ndarray],
    frames: Sequence[np.ndarray] | None,
    num_classes: int,
    void_id: int,
    vc_windows: Sequence[int] = (8, 16),
    gray_threshold: int = DGVSS_GRAY_THRESHOLD,
) -> dict[int, StrideScores]:
    """Run a model on every stride-phase of a labelled sequence and score each stride.

    The model must be re-run per stride, not subsampled afterwards: its memory sees different gaps.

    Args:
        predict: given (L_i,) int64 frame indices in time order, runs the model from a fresh state on those
            frames only and returns their (H, W) predicted ids.
        strides: the strides to report (1 = every frame).
        labels: L arrays (H, W) of ids (void ``void_id``), the whole sequence.
        frames: L arrays (H, W, 3) uint8 RGB for the gray-stable flicker mask, or ``None`` to use the
            GT-stable mask alone.
        vc_windows: the VC window lengths ``n`` to report.
    """
    scores = {}
    for stride in strides:
        confusion = ConfusionAccumulator(num_classes, void_id=void_id)
        vc = {n: VCResult(n=n) for n in vc_windows}
        flicker = FlickerResult()
        for indices in stride_phases(len(labels), stride=stride):
            preds = list(predict(indices))
            if len(preds) != len(indices):
                raise ValueError(
                    f"predict returned {len(preds)} predictions for {len(indices)} frames"
                )
            phase_labels = [labels[i] for i in indices]
            for pred, gt in zip(preds, phase_labels):
                confusion.update(pred, gt)
            for n in vc_windows:
                vc[n] = vc[n].merge(video_consistency(preds, phase_labels, n=n, void_id=void_id))
            flicker = flicker.merge(
                flicker_rate(
                    preds,
                    frames=None if frames is None else [frames[i] for i in indices],
                    labels=phase_labels,
                    void_id=void_id,
                    gray_threshold=gray_threshold,
                )
            )
        scores[stride] = StrideScores(
            stride=stride, confusion=confusion.matrix, vc=vc, flicker=flicker
        )
    return scores
