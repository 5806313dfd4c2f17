"""The metrics of ``t2g-bag-eval``: every model's meters, the frame counts, and the report built from them.

Models are named by what they are: ``t2g`` (the checkpoint with its memory, as the node runs it),
``memory_1`` (the same checkpoint with a one-frame memory), ``baseline`` (``--baseline-checkpoint``)
and ``peer`` (the ESPNetv2 peer). :class:`BagEvalReport` is fed one frame at a time and builds the
``OUT_BAG.metrics.json`` dictionary; :func:`format_summary` is what the command prints.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from t2g_core.labels import LabelSet
from t2g_core.meters import (
    FLICKER_PROTOCOL,
    FlickerMeter,
    GroundTruthMeter,
    LabelAgreement,
    LabelCounts,
    OccupancyMeter,
    StrideFlicker,
    finite_or_none,
    ratio,
)
from t2g_ros.stats import percentile

T2G, MEMORY_1, BASELINE, PEER = "t2g", "memory_1", "baseline", "peer"
TITLES = {T2G: "T2G", MEMORY_1: "T2G memory 1", BASELINE: "baseline", PEER: "ESPNetv2 peer"}
STRIDES = (1, 2, 4, 8)
MAX_PROBLEMS = 5  # bad frames quoted in the report; the rest are only counted


@dataclass
class ModelMeters:
    """One model under evaluation: its pipeline and what is measured of it."""

    name: str
    pipeline: Any  # t2g_ros.pipeline.SegmentationPipeline
    ground_truth: GroundTruthMeter | None = None
    flicker: FlickerMeter = field(default_factory=FlickerMeter)
    strides: StrideFlicker = field(default_factory=lambda: StrideFlicker(STRIDES))
    labels: LabelCounts = field(default_factory=LabelCounts)
    processing_ms: list[float] = field(default_factory=list)

    def process(self, rgb: np.ndarray, stamp_ns: int, **options: Any) -> Any:
        """The pipeline on one frame (``options`` as ``SegmentationPipeline.process`` takes
        them), its time added to ``processing_ms``."""
        started = time.perf_counter()
        result = self.pipeline.process(rgb, stamp_ns * 1e-9, **options)
        self.processing_ms.append((time.perf_counter() - started) * 1e3)
        return result

    def update(self, labels: np.ndarray, rgb: np.ndarray) -> None:
        self.flicker.update(labels, rgb)
        self.strides.update(labels, rgb)
        self.labels.update(labels)

    def restart(self) -> None:
        """At a frame size change: the chains of consecutive frames start again; totals carry on."""
        self.flicker.restart()
        self.strides.restart()
        if self.ground_truth is not None:
            self.ground_truth.restart()


def _timing(values: list[float]) -> dict[str, float | None]:
    return {
        "p50": finite_or_none(percentile(values, 50)),
        "p95": finite_or_none(percentile(values, 95)),
    }


def _round6(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


class BagEvalReport:
    """What ``t2g-bag-eval`` measures of ``models`` (``models[0]`` is ``t2g``, ``models[1]``
    ``memory_1``), fed frame by frame; :meth:`build` returns the report.

    Args:
        models: the models' meters, in column order.
        label_set: the classes every model predicts.
        gt_frames: ground-truth frames in the bag (None without ``--gt-topic``).
    """

    def __init__(
        self, models: list[ModelMeters], label_set: LabelSet, *, gt_frames: int | None = None
    ) -> None:
        self.models = models
        self.by_name = {m.name: m for m in models}
        self.label_set = label_set
        self.gt_frames = gt_frames
        self.memory_ablation = LabelAgreement()  # T2G vs memory 1 on the same frame
        self.peer_agreement = LabelAgreement() if PEER in self.by_name else None
        self.occupancy = OccupancyMeter(label_set)
        self.frames_in = self.frames_out = self.resets = self.gt_frames_used = 0
        self.size_changes = 0
        self.problems: list[str] = []
        self._size: tuple[int, ...] | None = None

    def problem(self, text: str) -> None:
        self.problems.append(text)

    def add(self, rgb: np.ndarray, results: list[Any]) -> None:
        """One segmented frame: ``results[i]`` is ``models[i]``'s ``PipelineOutput`` of ``rgb``."""
        t2g = results[0]
        self.frames_out += 1
        self.resets += t2g.reset_reason not in (None, "start")
        self.occupancy.update(t2g.occupancy)
        if self._size is not None and rgb.shape[:2] != self._size:
            self.size_changes += 1
            for model in self.models:
                model.restart()
        self._size = rgb.shape[:2]
        for model, result in zip(self.models, results):
            model.update(result.labels, rgb)
        self.memory_ablation.update(t2g.labels, results[1].labels)
        if self.peer_agreement is not None:
            peer = results[self.models.index(self.by_name[PEER])]
            self.peer_agreement.update(t2g.labels, peer.labels)

    def add_ground_truth(self, results: list[Any], gt: np.ndarray) -> None:
        """Score one frame's ``results`` against ``gt`` (``(H, W) uint8``).

        Raises:
            ValueError: ``gt`` does not fit the frame or holds ids out of range (not counted).
        """
        for model, result in zip(self.models, results):
            model.ground_truth.update(result.labels, gt)
        self.gt_frames_used += 1

    def build(self, *, error: str | None = None) -> dict[str, Any]:
        """The report (``OUT_BAG.metrics.json`` less its input and output sections)."""
        flicker = {m.name: finite_or_none(m.flicker.rate) for m in self.models}
        to_memory_1 = ratio(flicker[T2G], flicker[MEMORY_1])
        report: dict[str, Any] = {
            "frames": {
                "in": self.frames_in,
                "out": self.frames_out,
                "dropped_bad": self.frames_in - self.frames_out,
                "size_changes": self.size_changes,
                "problems": self.problems[:MAX_PROBLEMS],
            },
            "flicker": {
                "protocol": FLICKER_PROTOCOL,
                **flicker,
                "t2g_reduction_vs_memory_1": _round6(
                    None if to_memory_1 is None else 1.0 - to_memory_1
                ),
            },
            "memory_ablation": {
                "what": "T2G vs the same checkpoint with memory_length 1, on the same frames",
                "labels_changed": _round6(self.memory_ablation.changed_share()),
                "changed_pixels": self.memory_ablation.changed,
                "pixels": self.memory_ablation.pixels,
                "flicker_ratio": _round6(to_memory_1),
            },
            "flicker_per_stride": {
                "protocol": "labels of frame t vs frame t+s of each model's full-rate output, on "
                "the pixels whose gray value changes by at most 20 between those two frames",
                "strides": list(STRIDES),
                "models": {m.name: m.strides.report() for m in self.models},
            },
            "label_shares": {
                "what": "share of all output pixels per class (void: the void id, e.g. the peer's "
                "background; unlabelled: below the confidence threshold)",
                "models": {m.name: m.labels.shares(self.label_set) for m in self.models},
            },
            "occupancy": self.occupancy.report(),
            "memory_resets_after_start": self.resets,
            "t2g_processing_ms": _timing(self.models[0].processing_ms),
            "processing_ms": {
                "what": "one model's step per frame, p50 and p95; T2G's includes drawing the "
                "node's outputs (colour, overlay, confidence image), the others' only their "
                "preview frames",
                "models": {m.name: _timing(m.processing_ms) for m in self.models},
            },
            "error": error,
        }
        if self.peer_agreement is not None:
            t2g_rates = self.by_name[T2G].strides.rates()
            report["peer_comparison"] = {
                "what": "T2G vs the ESPNetv2 peer on the same frames; ratio below 1: T2G flickers "
                "less",
                "labels_agree": _round6(self.peer_agreement.agree_share()),
                "flicker_ratio_per_stride": [
                    {"stride": s, "ratio": _round6(ratio(t2g_rates[s], rate))}
                    for s, rate in self.by_name[PEER].strides.rates().items()
                ],
            }
        if self.gt_frames is not None:
            report["ground_truth"] = {
                "frames_with_gt": self.gt_frames,
                "frames_scored": self.gt_frames_used,
                "models": {
                    m.name: m.ground_truth.report(self.label_set.names) for m in self.models
                },
            }
        return report


def format_summary(report: dict[str, Any]) -> list[str]:
    """The lines ``t2g-bag-eval`` prints after a run."""
    frames, flicker = report["frames"], report["flicker"]
    lines = [
        f"frames in {frames['in']}, out {frames['out']}, dropped {frames['dropped_bad']}",
        "flicker (gray-stable pixels): "
        + ", ".join(f"{name} {_fmt(flicker[name])}" for name in TITLES if name in flicker),
    ]
    per_stride = report["flicker_per_stride"]
    lines.append(
        "flicker per stride (frame t vs t+s): " + ", ".join(f"s={s}" for s in per_stride["strides"])
    )
    for name, entries in per_stride["models"].items():
        timing = report["processing_ms"]["models"][name]
        lines.append(
            f"  {TITLES[name]:>14}: "
            + " ".join(f"{_fmt(e['rate'])}" for e in entries)
            + f"   step p50 {_fmt_ms(timing['p50'])} ms"
        )
    if "peer_comparison" in report:
        comparison = report["peer_comparison"]
        lines.append(
            "T2G vs ESPNetv2 peer: labels agree on "
            f"{_fmt(comparison['labels_agree'])} of pixels, flicker ratio T2G / peer "
            + ", ".join(
                f"{_fmt(e['ratio'])} (s={e['stride']})"
                for e in comparison["flicker_ratio_per_stride"]
            )
        )
    ablation = report["memory_ablation"]
    lines.append(
        f"memory ablation (T2G vs memory 1, same checkpoint): labels changed "
        f"{_fmt(ablation['labels_changed'])}, flicker ratio T2G / memory 1 "
        f"{_fmt(ablation['flicker_ratio'])}"
    )
    for name, scores in report.get("ground_truth", {}).get("models", {}).items():
        lines.append(
            f"{name}: mIoU {_fmt(scores['miou'])}, VC_8 {_fmt(scores['vc8'])} "
            f"over {scores['frames']} labelled frames"
        )
    output = report["output"]
    files = (output["preview"], output["side_by_side"])
    written = [output["bag"], output["metrics"], *(path for path in files if path)]
    lines.append("wrote " + ", ".join(written))
    return lines


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _fmt_ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"
