"""Scoring one contender on one target: labelled CamVid runs, unlabelled video per stride, the val run per stride.

Each function streams frames through :func:`predict_stream` from a fresh state per run (and per stride
phase) and pools numerators and denominators across runs before dividing, with the metrics of
``t2g_core.metrics``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..metrics import ConfusionAccumulator, FlickerResult, StrideScores, flicker_rate, scores_per_stride, stride_phases
from .contenders import Contender, predict_stream
from .sources import LabelledRun, VideoClip

Tick = Callable[[], object] | None


def score_labelled_runs(
    contender: Contender,
    runs: Sequence[LabelledRun],
    *,
    num_classes: int,
    void_id: int,
    max_gap_s: float,
    device: str,
    tick: Tick = None,
) -> ConfusionAccumulator:
    """Confusion matrix of ``contender`` over every frame of ``runs``, each run streamed in order.

    CamVid test is 1 Hz: with ``max_gap_s`` above the 1 s steps, frame t is decoded from a memory of the
    labelled frames before it (what a 1 Hz camera would give the node), instead of a reset every frame.
    """
    confusion = ConfusionAccumulator(num_classes, void_id=void_id)
    for run in runs:
        preds = predict_stream(contender, run.images, run.stamps_s, max_gap_s=max_gap_s, device=device, tick=tick)
        for pred, labels in zip(preds, run.labels, strict=True):
            confusion.update(pred, labels)
    return confusion


@dataclass
class VideoFlicker:
    """Flicker of one contender on the unlabelled clips.

    Attributes:
        per_stride: stride -> flicker pooled over clips and phases.
        per_clip: clip name -> stride -> flicker.
        stride1_preds: clip name -> (H, W) uint8 predictions of every frame at stride 1 (for the strip).
    """

    per_stride: dict[int, FlickerResult] = field(default_factory=dict)
    per_clip: dict[str, dict[int, FlickerResult]] = field(default_factory=dict)
    stride1_preds: dict[str, list[np.ndarray]] = field(default_factory=dict)


def score_video_flicker(
    contender: Contender,
    clips: Sequence[VideoClip],
    *,
    strides: Sequence[int],
    max_gap_s: float,
    device: str,
    tick: Tick = None,
) -> VideoFlicker:
    """Flicker on gray-stable pixels (DGVSS, ``|Δgray| <= 20``) at each stride.

    At stride s every phase ``o, o+s, o+2s, ...`` is streamed from a fresh state (the model sees gaps of
    s frames) and its consecutive predictions are compared, so every frame counts at every stride.
    """
    result = VideoFlicker()
    for clip in clips:
        result.per_clip[clip.name] = {}
        for stride in strides:
            pooled = FlickerResult()
            for indices in stride_phases(len(clip), stride=stride):
                frames = [clip.frames[i] for i in indices]
                preds = predict_stream(
                    contender, frames, clip.stamps_s[indices], max_gap_s=max_gap_s, device=device, tick=tick
                )
                pooled = pooled.merge(flicker_rate(preds, frames=frames))
                if stride == 1:
                    result.stride1_preds[clip.name] = preds
            result.per_clip[clip.name][stride] = pooled
            result.per_stride[stride] = result.per_stride.get(stride, FlickerResult()).merge(pooled)
    return result


def score_val_strides(
    contender: Contender,
    run: LabelledRun,
    *,
    strides: Sequence[int],
    vc_windows: Sequence[int],
    num_classes: int,
    void_id: int,
    max_gap_s: float,
    device: str,
    tick: Tick = None,
) -> dict[int, StrideScores]:
    """mIoU, VC_n and flicker on the labelled 15 Hz run at each stride (``scores_per_stride``).

    Flicker here counts the GT-stable pixels (label unchanged and not void between the two frames), the
    mask the per-frame baseline's calibration numbers use; the video target uses the gray mask.
    """

    def predict(indices: np.ndarray) -> list[np.ndarray]:
        frames = [run.images[i] for i in indices]
        return predict_stream(contender, frames, run.stamps_s[indices], max_gap_s=max_gap_s, device=device, tick=tick)

    return scores_per_stride(
        predict,
        strides=strides,
        labels=run.labels,
        frames=None,
        num_classes=num_classes,
        void_id=void_id,
        vc_windows=vc_windows,
    )
