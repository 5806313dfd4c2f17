"""Scoring contenders on one target: labelled CamVid runs, unlabelled video per stride, the val run
per stride.

Each function streams frames through :func:`predict_stream` (or several contenders in lockstep
through :func:`predict_streams`) from a fresh state per run (and per stride phase) and pools
numerators and denominators across runs before dividing, with the metrics of ``t2g_core.metrics``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..metrics import (
    ConfusionAccumulator,
    FlickerResult,
    StrideScores,
    flicker_rate,
    scores_per_stride,
    stride_phases,
)
from .ablation import LabelChange, label_change
from .contenders import Contender, predict_stream, predict_streams
from .sources import LabelledRun, VideoClip

Tick = Callable[[], object] | None
Pair = tuple[str, str]  # two contender names whose predictions of the same frames are compared


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
        preds = predict_stream(
            contender, run.images, run.stamps_s, max_gap_s=max_gap_s, device=device, tick=tick
        )
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


@dataclass
class VideoScores:
    """:func:`score_video_flicker` of several contenders streamed together.

    Attributes:
        flicker: contender name -> its flicker.
        changed: stride -> labels that differ between the two contenders of ``compare`` on the same
            frames, pooled over clips and phases (empty without ``compare``).
    """

    flicker: dict[str, VideoFlicker] = field(default_factory=dict)
    changed: dict[int, LabelChange] = field(default_factory=dict)


def score_video_flicker(
    contenders: Sequence[Contender],
    clips: Sequence[VideoClip],
    *,
    strides: Sequence[int],
    max_gap_s: float,
    device: str,
    tick: Tick = None,
    compare: Pair | None = None,
) -> VideoScores:
    """Flicker on gray-stable pixels (DGVSS, ``|Δgray| <= 20``) per stride, for every contender.

    At stride s every phase ``o, o+s, o+2s, ...`` is streamed from a fresh state (the model sees
    gaps of s frames) and its consecutive predictions are compared, so every frame counts at every
    stride. The contenders run in lockstep (:func:`predict_streams`), so only one phase's
    predictions are held and ``compare`` (two contender names) counts their changed labels frame by
    frame.
    """
    first, second = _compare_indices(contenders, compare)
    result = VideoScores(flicker={c.name: VideoFlicker() for c in contenders})
    for clip in clips:
        for c in contenders:
            result.flicker[c.name].per_clip[clip.name] = {}
        for stride in strides:
            pooled = {c.name: FlickerResult() for c in contenders}
            for indices in stride_phases(len(clip), stride=stride):
                frames = [clip.frames[i] for i in indices]
                preds = predict_streams(
                    contenders,
                    frames,
                    clip.stamps_s[indices],
                    max_gap_s=max_gap_s,
                    device=device,
                    tick=tick,
                )
                for c, own in zip(contenders, preds):
                    pooled[c.name] = pooled[c.name].merge(flicker_rate(own, frames=frames))
                    if stride == 1:
                        result.flicker[c.name].stride1_preds[clip.name] = own
                if first is not None:
                    change = label_change(preds[first], preds[second])
                    result.changed[stride] = result.changed.get(stride, LabelChange()).merge(change)
            for c in contenders:
                flicker = result.flicker[c.name]
                flicker.per_clip[clip.name][stride] = pooled[c.name]
                total = flicker.per_stride.get(stride, FlickerResult())
                flicker.per_stride[stride] = total.merge(pooled[c.name])
    return result


@dataclass
class ValScores:
    """:func:`score_val_strides` of several contenders streamed together.

    Attributes:
        per_model: contender name -> stride -> its scores.
        changed: stride -> labels that differ between the two contenders of ``compare`` (empty
            without ``compare``).
    """

    per_model: dict[str, dict[int, StrideScores]] = field(default_factory=dict)
    changed: dict[int, LabelChange] = field(default_factory=dict)


def score_val_strides(
    contenders: Sequence[Contender],
    run: LabelledRun,
    *,
    strides: Sequence[int],
    vc_windows: Sequence[int],
    num_classes: int,
    void_id: int,
    max_gap_s: float,
    device: str,
    tick: Tick = None,
    compare: Pair | None = None,
) -> ValScores:
    """mIoU, VC_n and flicker on the labelled 15 Hz run at each stride (``scores_per_stride``).

    Flicker here counts the GT-stable pixels (label unchanged and not void between the two frames),
    the mask the per-frame baseline's calibration numbers use; the video target uses the gray mask.
    The contenders stream in lockstep, one stride at a time (only that stride's predictions are
    held), and ``compare`` (two contender names) counts their changed labels frame by frame.
    """
    first, second = _compare_indices(contenders, compare)
    result = ValScores(per_model={c.name: {} for c in contenders})
    for stride in strides:
        preds: dict[int, list[list[np.ndarray]]] = {}  # first frame of a phase -> per contender
        for indices in stride_phases(len(run), stride=stride):
            frames = [run.images[i] for i in indices]
            preds[int(indices[0])] = predict_streams(
                contenders,
                frames,
                run.stamps_s[indices],
                max_gap_s=max_gap_s,
                device=device,
                tick=tick,
            )
        if first is not None:
            change = LabelChange()
            for per_contender in preds.values():
                change = change.merge(label_change(per_contender[first], per_contender[second]))
            result.changed[stride] = change
        for k, c in enumerate(contenders):
            result.per_model[c.name][stride] = scores_per_stride(
                lambda indices, k=k, preds=preds: preds[int(indices[0])][k],
                strides=(stride,),
                labels=run.labels,
                frames=None,
                num_classes=num_classes,
                void_id=void_id,
                vc_windows=vc_windows,
            )[stride]
    return result


def _compare_indices(
    contenders: Sequence[Contender], compare: Pair | None
) -> tuple[int | None, int | None]:
    """Positions of the two ``compare`` names in ``contenders`` (None, None without ``compare``)."""
    if compare is None:
        return None, None
    names = [c.name for c in contenders]
    missing = [n for n in compare if n not in names]
    if missing:
        raise ValueError(f"compare names {missing} are not among the contenders {names}")
    return names.index(compare[0]), names.index(compare[1])
