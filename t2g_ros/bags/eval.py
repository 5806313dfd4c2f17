"""t2g-bag-eval: run the node's pipeline over a bag offline, write its outputs to a new bag, measure it.

    t2g-bag-eval IN_BAG --image-topic T [--gt-topic G] --out OUT_BAG [--checkpoint C] [--baseline-checkpoint B]
                 [--baseline-onnx PEER]

No ROS runtime is needed (no rclpy): the bag is read and written with ``rosbags`` and every frame goes
through ``SegmentationPipeline.process``, exactly as in the node. Written next to ``OUT_BAG``:
- ``OUT_BAG/`` (rosbag2, mcap): the input frames and the node's outputs (``/t2g/labels`` mono8,
  ``/t2g/color``, ``/t2g/overlay``, ``/t2g/confidence`` mono8, ``/t2g/occupancy``, ``/t2g/label_info`` once,
  latched), each with the input's header and log time;
- ``OUT_BAG.metrics.json``: frames in/out, flicker of T2G vs the same checkpoint run per frame
  (memory length 1) and vs an optional baseline checkpoint, the memory ablation
  (``memory_ablation``: the share of pixels whose label the memory changes, T2G vs memory 1 on the
  same frame, and the flicker ratio T2G / memory 1), mean class shares, and mIoU / VC_8 against
  ``mono8`` ground truth (255 and the void id ignored) matched to frames by header stamp; per model,
  flicker per stride (``flicker_per_stride``: frame t vs t+s of the full-rate output), label shares
  and processing time;
- ``OUT_BAG.preview.png``: input | per-frame | T2G (| baseline | peer) overlays for a few frames;
- ``OUT_BAG.side_by_side.<mp4|webm|gif>`` (unless ``--no-video``): the same columns as label
  colours, every frame, at the bag's frame rate (``t2g_core.side_by_side``).

``--baseline-onnx PEER`` adds the pretrained ESPNetv2 Cityscapes peer (``t2g_core.peers``: its folder,
the input size chosen per frame by aspect ratio, or one of its ``.onnx`` files), as model ``peer``, in
every table, the preview and the video; a missing or invalid PEER exits with status 2.

A truncated bag is evaluated up to the cut (with a warning); a frame that cannot be decoded is copied,
counted and skipped, as the node drops it. A frame size change mid-bag is counted
(``frames.size_changes``) and every comparison of consecutive frames (flicker, VC_8) restarts there;
the video keeps the first frame's size.

The outputs appear all at once, when complete (``t2g_ros.bags.atomic``): a run that fails, runs out of
disk or is interrupted (SIGINT exits 130, SIGTERM 143) leaves none of them, so the rerun is never
blocked. An existing ``OUT_BAG`` is refused unless ``--overwrite`` is given.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm import tqdm

from t2g_core.inference import BACKEND_NAMES, default_checkpoint, open_segmenter
from t2g_core.meters import (
    FLICKER_PROTOCOL,
    FlickerMeter,
    GroundTruthMeter,
    OccupancyMeter,
    finite_or_none,
)
from t2g_core.metrics import FlickerResult, flicker_rate
from t2g_core.peers import CAMVID_CLASSES, CAMVID_VOID, EspNetV2Peer, PeerError
from t2g_core.side_by_side import SideBySideWriter, VideoFormatError
from t2g_ros.bags.atomic import Interrupted, StagedOutputs, failure_line, interrupt_on_signals
from t2g_ros.bags.frames import (
    IMAGE,
    IMAGE_TYPES,
    check_topic_type,
    decode_frame,
    decode_label_image,
)
from t2g_ros.bags.io import BagError, BagReader, BagWriter, open_reader
from t2g_ros.bags.outputs import (
    DEFAULT_PREFIX,
    declare_outputs,
    label_info_message,
    output_messages,
)
from t2g_ros.bags.preview import PreviewStrip, preview_indices
from t2g_ros.pipeline import SegmentationPipeline
from t2g_ros.stats import percentile

PROG = "t2g-bag-eval"
_TITLES = {"t2g": "T2G", "per_frame": "per-frame", "baseline": "baseline", "peer": "ESPNetv2 peer"}
STRIDES = (1, 2, 4, 8)
_MAX_PROBLEMS = 5  # bad frames quoted in the report; the rest are only counted


@dataclass
class _Model:
    """One model under evaluation: its pipeline and what is measured of it."""

    name: str
    pipeline: SegmentationPipeline
    flicker: FlickerMeter = field(default_factory=FlickerMeter)
    ground_truth: GroundTruthMeter | None = None
    strides: StrideFlicker = field(default_factory=lambda: StrideFlicker(STRIDES))
    label_counts: np.ndarray = field(default_factory=lambda: np.zeros(256, np.int64))
    processing_ms: list[float] = field(default_factory=list)


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
        """Forget the earlier frames (e.g. at a frame size change); the rates so far are kept."""
        self._last.clear()

    def report(self) -> list[dict[str, Any]]:
        return [
            {"stride": s, "rate": finite_or_none(r.rate), "pixels": r.denominator}
            for s, r in self.results.items()
        ]


def sibling(out_bag: Path, suffix: str) -> Path:
    """``OUT_BAG.<suffix>`` beside the bag directory, e.g. ``run.metrics.json``."""
    return out_bag.with_name(f"{out_bag.name}.{suffix}")


def evaluate(
    in_bag: str | Path,
    image_topic: str,
    out_bag: str | Path,
    *,
    gt_topic: str | None = None,
    checkpoint: str | Path | None = None,
    baseline_checkpoint: str | Path | None = None,
    preview_rows: int = 4,
    threads: int = 1,
    progress: bool = True,
    video: bool = True,
    backend: str = "torch",
    baseline_onnx: str | Path | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Evaluate ``image_topic`` of ``in_bag``; write ``out_bag``, its metrics JSON and preview. Returns the report.

    ``baseline_onnx``: the ESPNetv2 peer's folder or one of its files (``t2g_core.peers``), run as
    model ``peer`` beside T2G. The outputs are staged and renamed into place together at the end;
    after any exception (a full disk's ``OSError``, a KeyboardInterrupt) none of them exists.
    ``overwrite``: replace an existing ``out_bag`` (and its siblings) at that point.

    Raises:
        PeerError: ``baseline_onnx`` is missing, fails its checksum or cannot be loaded (raised first,
            before the bag is read).
        FileNotFoundError: the bag or a checkpoint does not exist.
        BagError: unreadable bag, missing or empty topic, wrong message type, or ``out_bag`` exists
            without ``overwrite`` (the message names the file, topic or type). An error after the
            first frame is not raised: what was processed is written and the report's ``error``
            says why it stopped.
        ValueError: unusable checkpoint, or checkpoints with different label sets.
    """
    out_bag = Path(out_bag)
    if out_bag.suffix in (".mcap", ".db3"):
        raise BagError(
            f"OUT_BAG {out_bag} is the rosbag2 directory to create; give it without {out_bag.suffix}"
        )
    if (out_bag.exists() or out_bag.is_symlink()) and not overwrite:
        raise BagError(f"{out_bag} exists already; choose another --out or pass --overwrite")
    peer = EspNetV2Peer(baseline_onnx, threads=threads) if baseline_onnx else None
    checkpoint = Path(checkpoint) if checkpoint else default_checkpoint()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        reader = open_reader(in_bag)
    report: dict[str, Any] = {
        "input": {
            "bag": str(in_bag),
            "image_topic": image_topic,
            "gt_topic": gt_topic,
            "truncated_files": [str(p) for p in reader.truncated],
        },
        "warnings": [str(w.message) for w in caught],
    }
    with reader:
        msgtype = check_topic_type(reader, image_topic, IMAGE_TYPES)
        if (
            reader.message_count(image_topic) == 0
        ):  # an exit code 0 with "frames in 0" hides a bad bag
            raise BagError(f"{in_bag} has no messages on {image_topic}: nothing to evaluate")
        report["input"]["image_type"] = msgtype
        ground_truth = _read_ground_truth(reader, gt_topic) if gt_topic else None
        models = _build_models(
            checkpoint,
            baseline_checkpoint,
            threads=threads,
            backend=backend,
            with_gt=ground_truth is not None,
            peer=peer,
        )
        report["checkpoints"] = {
            "t2g": str(checkpoint),
            "baseline": str(baseline_checkpoint or "") or None,
            "peer": peer.describe() if peer else None,
        }
        with StagedOutputs(out_bag.parent, out_bag.name) as staged:
            staged_bag = staged.path(out_bag.name)
            with BagWriter(staged_bag, storage="mcap", typestore=reader.typestore) as writer:
                writer.add_topic(image_topic, msgtype)
                declare_outputs(writer)
                report.update(
                    _run(
                        reader,
                        writer,
                        image_topic,
                        msgtype,
                        models,
                        ground_truth,
                        staged_bag,
                        preview_rows=preview_rows,
                        progress=progress,
                        video=video,
                    )
                )
            report["warnings"] += report.pop("video_warnings")
            metrics = sibling(out_bag, "metrics.json")
            report["output"] = {
                "bag": str(out_bag),
                "prefix": DEFAULT_PREFIX,
                "metrics": str(metrics),
                "preview": _final(report.pop("preview_path"), out_bag.parent),
                "side_by_side": _final(report.pop("video_path"), out_bag.parent),
            }
            staged.path(metrics.name).write_text(
                json.dumps(report, indent=2) + "\n", encoding="utf-8"
            )
            # The metrics file last: where it exists, the run's other outputs are complete.
            staged.commit(order=(metrics.name,))
    return report


def _final(staged: str | None, parent: Path) -> str | None:
    """Where a staged output ends up: its name in ``parent``."""
    return str(parent / Path(staged).name) if staged else None


def _read_ground_truth(reader: BagReader, gt_topic: str) -> dict[int, Any]:
    """Header stamp (ns) -> ground-truth message; they are decoded when their frame comes."""
    check_topic_type(reader, gt_topic, (IMAGE,))
    return {m.stamp_ns: m.msg for m in reader.messages(gt_topic)}


def _pipeline(checkpoint: str | Path, **open_kwargs: Any) -> SegmentationPipeline:
    """The node's pipeline (default output options) around ``open_segmenter(checkpoint, **open_kwargs)``."""
    segmenter = open_segmenter(checkpoint, **open_kwargs)
    return SegmentationPipeline(segmenter, segmenter.label_set)


def _build_models(
    checkpoint: Path,
    baseline: str | Path | None,
    *,
    threads: int,
    backend: str,
    with_gt: bool,
    peer: EspNetV2Peer | None = None,
) -> list[_Model]:
    t2g = _pipeline(checkpoint, threads=threads, backend=backend)
    # The same weights with a one-frame memory: what the node does with model.memory_length:=1.
    per_frame = _pipeline(checkpoint, memory_length=1, threads=threads, backend=backend)
    specs = [("t2g", t2g), ("per_frame", per_frame)]
    if baseline:
        specs.append(("baseline", _pipeline(baseline, threads=threads, backend=backend)))
    if peer is not None:
        names = t2g.label_set.names
        if tuple(names) != CAMVID_CLASSES or t2g.label_set.void_id != CAMVID_VOID:
            raise ValueError(
                f"the ESPNetv2 peer predicts CamVid-11 classes, {checkpoint} predicts {names}; "
                "metrics need one label set"
            )
        # Its labels are CamVid ids (11, void, where it says background): T2G's label set. A
        # per-frame model: its gap limit only names resets, which no metric reads.
        specs.append(("peer", SegmentationPipeline(peer.segmenter(), t2g.label_set)))
    for name, pipeline in specs[1:]:
        if pipeline.label_set != t2g.label_set:
            raise ValueError(
                f"{name} checkpoint predicts {pipeline.label_set.names}, "
                f"{checkpoint} predicts {t2g.label_set.names}; metrics need one label set"
            )
    return [
        _Model(name, pipeline, ground_truth=GroundTruthMeter(t2g.label_set) if with_gt else None)
        for name, pipeline in specs
    ]


def _run(
    reader: BagReader,
    writer: BagWriter,
    topic: str,
    msgtype: str,
    models: list[_Model],
    ground_truth: dict[int, Any] | None,
    out_bag: Path,
    *,
    preview_rows: int,
    progress: bool,
    video: bool,
) -> dict[str, Any]:
    """The frame loop: copy, segment with every model, write T2G's outputs, update the meters."""
    names = [m.name for m in models]
    peer = models[names.index("peer")] if "peer" in names else None
    t2g = models[0]
    label_set = t2g.pipeline.label_set
    store = reader.typestore
    total = reader.message_count(topic)
    chosen = set(preview_indices(total, preview_rows))
    # Columns left to right: input, per-frame, T2G, baseline (models[0] is T2G, models[1] per-frame).
    shown = [1, 0, *range(2, len(models))]
    preview = PreviewStrip(("input", *(_TITLES[models[i].name] for i in shown)))
    # The frame rate comes from the first stamps: the bag's rate, not the inference rate.
    side_by_side = (
        SideBySideWriter(
            sibling(out_bag, "side_by_side"), label_set=label_set, captions=preview.columns
        )
        if video
        else None
    )
    video_warnings: list[str] = []
    changed_pixels = pixels = 0  # labels the memory changes: T2G vs the same checkpoint per frame
    peer_agree = 0  # pixels where the peer's label is T2G's
    occupancy = OccupancyMeter(label_set)
    frames_in = frames_out = resets = gt_frames_used = size_changes = 0
    size: tuple[int, ...] | None = None  # (H, W) of the last frame segmented
    first_size: tuple[int, ...] | None = None  # and of the first, the video's
    problems: list[str] = []
    processing_ms: list[float] = []
    error = None
    bar = tqdm(
        total=total, unit="frame", desc=PROG, disable=None if progress else True, file=sys.stderr
    )
    messages = reader.messages(topic)
    while True:
        try:
            bag_msg = next(messages)
        except StopIteration:
            break
        except (
            BagError
        ) as exc:  # a corrupt record mid-file: keep what was done, say where it stopped
            error = str(exc)
            break
        index, frames_in = frames_in, frames_in + 1
        bar.update()
        writer.write(topic, bag_msg.msg, bag_msg.log_time_ns)
        header = bag_msg.msg.header
        try:
            rgb = decode_frame(msgtype, bag_msg.msg)
            started = time.perf_counter()
            out = t2g.pipeline.process(
                rgb, bag_msg.stamp_ns * 1e-9, color=True, overlay_image=True, confidence_mono8=True
            )
            processing_ms.append((time.perf_counter() - started) * 1e3)
            others = [_timed_process(m, rgb, bag_msg.stamp_ns, index in chosen) for m in models[1:]]
        except ValueError as exc:  # undecodable or unusable frame: the node drops it too
            problems.append(f"frame {index} (stamp {bag_msg.stamp_ns}): {exc}")
            continue
        if frames_out == 0:
            writer.write(
                f"{DEFAULT_PREFIX}/label_info",
                label_info_message(
                    store, header, label_set, t2g.pipeline.options.confidence_threshold
                ),
                bag_msg.log_time_ns,
            )
        for out_topic, out_msg in output_messages(store, header, out, label_set):
            writer.write(out_topic, out_msg, bag_msg.log_time_ns)
        frames_out += 1
        resets += out.reset_reason not in (None, "start")
        occupancy.update(out.occupancy)
        t2g.processing_ms.append(processing_ms[-1])
        if size is not None and rgb.shape[:2] != size:
            size_changes += 1
            for model in models:
                _restart_sequences(model, label_set)
        size = rgb.shape[:2]
        first_size = first_size or size
        results = [out, *others]
        for model, result in zip(models, results):
            model.flicker.update(result.labels, rgb)
            model.strides.update(result.labels, rgb)
            model.label_counts += np.bincount(result.labels.ravel(), minlength=256)
        changed_pixels += int((out.labels != others[0].labels).sum())
        pixels += out.labels.size
        if peer is not None:
            peer_agree += int((out.labels == results[names.index("peer")].labels).sum())
        side_by_side = _add_video_frame(
            side_by_side,
            rgb,
            [results[i].labels for i in shown],
            bag_msg.stamp_ns * 1e-9,
            video_warnings,
            first_size,
        )
        gt_msg = ground_truth.get(bag_msg.stamp_ns) if ground_truth is not None else None
        if gt_msg is not None:
            gt_frames_used += _score_ground_truth(models, results, gt_msg, index, problems)
        if index in chosen:
            preview.add_row(f"#{index}", [rgb, *(results[i].overlay for i in shown)])
    bar.close()
    preview_path = preview.write(sibling(out_bag, "preview.png")) if len(preview) else None
    video_path = _close_video(side_by_side, video_warnings)
    flicker = {m.name: finite_or_none(m.flicker.rate) for m in models}
    report: dict[str, Any] = {
        "frames": {
            "in": frames_in,
            "out": frames_out,
            "dropped_bad": frames_in - frames_out,
            "size_changes": size_changes,
            "problems": problems[:_MAX_PROBLEMS],
        },
        "flicker": {
            "protocol": FLICKER_PROTOCOL,
            **flicker,
            "t2g_reduction_vs_per_frame": _reduction(flicker["t2g"], flicker["per_frame"]),
        },
        "memory_ablation": {
            "what": "T2G vs the same checkpoint with memory_length 1, on the same frames",
            "labels_changed": round(changed_pixels / pixels, 6) if pixels else None,
            "changed_pixels": changed_pixels,
            "pixels": pixels,
            "flicker_ratio": _ratio(flicker["t2g"], flicker["per_frame"]),
        },
        "flicker_per_stride": {
            "protocol": "labels of frame t vs frame t+s of each model's full-rate output, on the "
            "pixels whose gray value changes by at most 20 between those two frames",
            "strides": list(STRIDES),
            "models": {m.name: m.strides.report() for m in models},
        },
        "label_shares": {
            "what": "share of all output pixels per class (void: the void id, e.g. the peer's "
            "background; unlabelled: below the confidence threshold)",
            "models": {m.name: _label_shares(m.label_counts, label_set) for m in models},
        },
        "occupancy": occupancy.report(),
        "memory_resets_after_start": resets,
        "t2g_processing_ms": {
            "p50": finite_or_none(percentile(processing_ms, 50)),
            "p95": finite_or_none(percentile(processing_ms, 95)),
        },
        "processing_ms": {
            "what": "one model's step per frame, p50 and p95; T2G's includes drawing the node's "
            "outputs (colour, overlay, confidence image), the others' only their preview frames",
            "models": {
                m.name: {
                    "p50": finite_or_none(percentile(m.processing_ms, 50)),
                    "p95": finite_or_none(percentile(m.processing_ms, 95)),
                }
                for m in models
            },
        },
        "preview_path": str(preview_path) if preview_path else None,
        "video_path": str(video_path) if video_path else None,
        "video_warnings": video_warnings,
        "error": error,
    }
    if peer is not None:
        t2g_rates = {e["stride"]: e["rate"] for e in report["flicker_per_stride"]["models"]["t2g"]}
        report["peer_comparison"] = {
            "what": "T2G vs the ESPNetv2 peer on the same frames; ratio below 1: T2G flickers less",
            "labels_agree": round(peer_agree / pixels, 6) if pixels else None,
            "flicker_ratio_per_stride": [
                {"stride": e["stride"], "ratio": _ratio(t2g_rates[e["stride"]], e["rate"])}
                for e in report["flicker_per_stride"]["models"]["peer"]
            ],
        }
    if ground_truth is not None:
        report["ground_truth"] = {
            "frames_with_gt": len(ground_truth),
            "frames_scored": gt_frames_used,
            "models": {m.name: m.ground_truth.report(label_set.names) for m in models},
        }
    return report


def _restart_sequences(model: _Model, label_set: Any) -> None:
    """At a frame size change: frames of two sizes cannot be compared pixel by pixel, so the chains
    of consecutive frames (flicker, per-stride flicker, the VC_8 window) start again; totals carry on."""
    flicker = FlickerMeter()
    flicker.result = model.flicker.result
    model.flicker = flicker
    model.strides.restart()
    old = model.ground_truth
    if old is not None:
        fresh = GroundTruthMeter(label_set, vc_n=old.vc.n)
        fresh.confusion, fresh.vc, fresh.frames = old.confusion, old.vc, old.frames
        model.ground_truth = fresh


def _timed_process(model: _Model, rgb: Any, stamp_ns: int, overlay_image: bool) -> Any:
    """``model``'s pipeline on one frame, its time added to ``model.processing_ms``."""
    started = time.perf_counter()
    result = model.pipeline.process(rgb, stamp_ns * 1e-9, overlay_image=overlay_image)
    model.processing_ms.append((time.perf_counter() - started) * 1e3)
    return result


def _label_shares(counts: np.ndarray, label_set: Any) -> dict[str, float]:
    """Class name (and ``void``, ``unlabelled``) -> share of the pixels, from (256,) id counts."""
    total = int(counts.sum())
    if total == 0:
        return {}
    names = {k: name for k, name in enumerate(label_set.names)}
    names[label_set.void_id] = "void"
    names[255] = "unlabelled"
    shares = {names.get(k, f"id {k}"): round(int(c) / total, 6) for k, c in enumerate(counts) if c}
    return dict(sorted(shares.items(), key=lambda item: -item[1]))


def _score_ground_truth(
    models: list[_Model], results: list[Any], gt_msg: Any, index: int, problems: list[str]
) -> int:
    """Add one frame to every model's ground-truth meter; 1 if scored, 0 (with a problem noted) if not."""
    try:
        gt = decode_label_image(gt_msg)
        for model, result in zip(models, results):
            model.ground_truth.update(result.labels, gt)
    except ValueError as exc:
        problems.append(f"ground truth of frame {index}: {exc}")
        return 0
    return 1


def _add_video_frame(
    writer: SideBySideWriter | None,
    rgb: Any,
    label_maps: list[Any],
    stamp_s: float,
    notes: list[str],
    size: tuple[int, ...],
) -> SideBySideWriter | None:
    """Add a frame to the side-by-side video at ``size`` (H, W, the first frame's); without a
    playable format, note why, stop (None)."""
    if writer is None:
        return None
    rgb, label_maps = _fit(rgb, label_maps, size)  # a video has one frame size
    try:
        writer.add(rgb, label_maps, stamp_s=stamp_s)
    except VideoFormatError as exc:  # the metrics still matter without the video
        notes.append(f"no side-by-side video: {exc}")
        return None
    return writer


def _fit(
    rgb: np.ndarray, label_maps: list[np.ndarray], size: tuple[int, ...]
) -> tuple[np.ndarray, list[np.ndarray]]:
    """``rgb`` (linear) and ``label_maps`` (nearest) resized to ``size`` (H, W) where they differ."""
    height, width = size
    if rgb.shape[:2] == (height, width):
        return rgb, label_maps
    rgb = cv2.resize(rgb, (width, height), interpolation=cv2.INTER_LINEAR)
    return rgb, [
        cv2.resize(labels, (width, height), interpolation=cv2.INTER_NEAREST)
        for labels in label_maps
    ]


def _close_video(writer: SideBySideWriter | None, notes: list[str]) -> Path | None:
    """The video's path once written; None without a video or a playable format (noted)."""
    if writer is None or writer.frames == 0:
        return None
    try:
        return writer.close()
    except VideoFormatError as exc:
        notes.append(f"no side-by-side video: {exc}")
        return None


def _ratio(ours: float | None, reference: float | None) -> float | None:
    """``ours / reference`` (flicker T2G / memory 1: below 1, the memory steadies the labels)."""
    if ours is None or not reference:
        return None
    return round(ours / reference, 6)


def _reduction(ours: float | None, reference: float | None) -> float | None:
    """``1 - ours / reference``: the share of the reference's flicker that T2G removes."""
    if ours is None or not reference:
        return None
    return round(1.0 - ours / reference, 6)


def _print_summary(report: dict[str, Any]) -> None:
    frames, flicker = report["frames"], report["flicker"]
    print(f"frames in {frames['in']}, out {frames['out']}, dropped {frames['dropped_bad']}")
    print(
        "flicker (gray-stable pixels): "
        + ", ".join(
            f"{name} {_fmt(flicker[name])}"
            for name in ("t2g", "per_frame", "baseline", "peer")
            if name in flicker
        )
    )
    per_stride = report["flicker_per_stride"]
    print(
        "flicker per stride (frame t vs t+s): " + ", ".join(f"s={s}" for s in per_stride["strides"])
    )
    for name, entries in per_stride["models"].items():
        timing = report["processing_ms"]["models"][name]
        print(
            f"  {_TITLES[name]:>14}: "
            + " ".join(f"{_fmt(e['rate'])}" for e in entries)
            + f"   step p50 {_fmt_ms(timing['p50'])} ms"
        )
    if "peer_comparison" in report:
        comparison = report["peer_comparison"]
        print(
            "T2G vs ESPNetv2 peer: labels agree on "
            f"{_fmt(comparison['labels_agree'])} of pixels, flicker ratio T2G / peer "
            + ", ".join(
                f"{_fmt(e['ratio'])} (s={e['stride']})"
                for e in comparison["flicker_ratio_per_stride"]
            )
        )
    ablation = report["memory_ablation"]
    print(
        f"memory ablation (T2G vs memory 1, same checkpoint): labels changed "
        f"{_fmt(ablation['labels_changed'])}, flicker ratio T2G / memory 1 "
        f"{_fmt(ablation['flicker_ratio'])}"
    )
    for name, scores in report.get("ground_truth", {}).get("models", {}).items():
        print(
            f"{name}: mIoU {_fmt(scores['miou'])}, VC_8 {_fmt(scores['vc8'])} "
            f"over {scores['frames']} labelled frames"
        )
    output = report["output"]
    files = (output["preview"], output["side_by_side"])
    written = [output["bag"], output["metrics"], *(path for path in files if path)]
    print("wrote " + ", ".join(written))


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _fmt_ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "in_bag", metavar="IN_BAG", help="rosbag2 directory (mcap or sqlite3) or a .mcap file"
    )
    parser.add_argument(
        "--image-topic", required=True, help="sensor_msgs/Image or CompressedImage topic"
    )
    parser.add_argument(
        "--gt-topic", help="mono8 class-id images matched to frames by header stamp"
    )
    parser.add_argument(
        "--out", required=True, metavar="OUT_BAG", help="bag directory to create (mcap)"
    )
    parser.add_argument("--checkpoint", help="T2G checkpoint (default: the shipped one)")
    parser.add_argument(
        "--baseline-checkpoint", help="another checkpoint to compare flicker (and mIoU) with"
    )
    parser.add_argument(
        "--baseline-onnx",
        metavar="PEER",
        help="the pretrained ESPNetv2 Cityscapes peer to run beside T2G: its folder (e.g. "
        "../shared/peers/espnetv2_cityscapes, input size by aspect ratio) or one of its .onnx files",
    )
    # 1 by default: on a busy 2-core machine two torch threads ran 14x slower than one (measured).
    parser.add_argument(
        "--threads", type=int, default=1, help="CPU threads for inference (default 1)"
    )
    parser.add_argument(
        "--backend",
        choices=BACKEND_NAMES,
        default="torch",
        help="inference backend of every model (default torch)",
    )
    parser.add_argument(
        "--preview-rows", type=int, default=4, help="frames in the preview image (0: none)"
    )
    parser.add_argument(
        "--video",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="write OUT_BAG.side_by_side.<mp4|webm|gif>, input | per-frame | "
        "T2G (| baseline | peer) label colours at the bag's frame rate (default: on)",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing OUT_BAG and its files once this run is complete",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        with interrupt_on_signals():
            report = evaluate(
                args.in_bag,
                args.image_topic,
                args.out,
                gt_topic=args.gt_topic,
                checkpoint=args.checkpoint,
                baseline_checkpoint=args.baseline_checkpoint,
                preview_rows=args.preview_rows,
                threads=args.threads,
                video=args.video,
                backend=args.backend,
                baseline_onnx=args.baseline_onnx,
                overwrite=args.overwrite,
            )
    except Interrupted as exc:
        print(f"{PROG}: interrupted by {exc}; no output was kept", file=sys.stderr)
        return exc.exit_code
    except PeerError as exc:  # a usage error, as argparse's: status 2
        print(f"{PROG}: error: --baseline-onnx: {exc}", file=sys.stderr)
        return 2
    except (BagError, OSError, ValueError) as exc:
        print(f"{PROG}: error: {failure_line(exc, Path(args.out))}", file=sys.stderr)
        return 1
    for warning in report["warnings"]:
        print(f"{PROG}: warning: {warning}", file=sys.stderr)
    _print_summary(report)
    if report["error"]:
        print(
            f"{PROG}: error: stopped after {report['frames']['in']} frames: {report['error']}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
