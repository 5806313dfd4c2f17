"""t2g-bag-eval: run the node's pipeline over a bag offline, write its outputs to a new bag, measure it.

    t2g-bag-eval IN_BAG --image-topic T [--gt-topic G] --out OUT_BAG [--checkpoint C] [--baseline-checkpoint B]
                 [--baseline-onnx PEER]

No ROS runtime is needed (no rclpy): the bag is read and written with ``rosbags`` and every frame goes
through ``SegmentationPipeline.process``, exactly as in the node, on the node's default backend
(``DEFAULT_BACKEND``, onnxruntime; ``--backend torch`` for torch). Models, by their key in every
table: ``t2g`` (the checkpoint, its memory full), ``memory_1`` (the same checkpoint with a one-frame
memory), ``baseline`` (``--baseline-checkpoint``) and ``peer`` (``--baseline-onnx``); the metrics
are ``t2g_ros.bags.eval_report``. Written next to ``OUT_BAG``:
- ``OUT_BAG/`` (rosbag2, mcap): the input frames and the node's outputs (``/t2g/labels`` mono8,
  ``/t2g/color``, ``/t2g/overlay``, ``/t2g/confidence`` mono8, ``/t2g/occupancy``, ``/t2g/label_info`` once,
  latched), each with the input's header and log time;
- ``OUT_BAG.metrics.json``: frames in/out, flicker of T2G vs the same checkpoint at memory 1
  (``memory_1``) and vs an optional baseline checkpoint, the memory ablation
  (``memory_ablation``: the share of pixels whose label the memory changes, T2G vs memory 1 on the
  same frame, and the flicker ratio T2G / memory 1), mean class shares, and mIoU / VC_8 against
  ``mono8`` ground truth (255 and the void id ignored) matched to frames by header stamp; per model,
  flicker per stride (``flicker_per_stride``: frame t vs t+s of the full-rate output), label shares
  and processing time;
- ``OUT_BAG.preview.png``: input | T2G memory 1 | T2G (| baseline | peer) overlays for a few frames;
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
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm import tqdm

from t2g_core.inference import BACKEND_NAMES, DEFAULT_BACKEND, default_checkpoint, open_segmenter
from t2g_core.meters import GroundTruthMeter
from t2g_core.peers import CAMVID_CLASSES, CAMVID_VOID, EspNetV2Peer, PeerError
from t2g_core.side_by_side import SideBySideWriter, VideoFormatError
from t2g_ros.bags.atomic import Interrupted, StagedOutputs, failure_line, interrupt_on_signals
from t2g_ros.bags.eval_report import (
    BASELINE,
    MEMORY_1,
    PEER,
    T2G,
    TITLES,
    BagEvalReport,
    ModelMeters,
    format_summary,
)
from t2g_ros.bags.frames import (
    IMAGE,
    IMAGE_TYPES,
    check_topic_type,
    decode_frame,
    decode_label_image,
)
from t2g_ros.bags.io import BagError, BagMessage, BagReader, BagWriter, open_reader
from t2g_ros.bags.outputs import (
    DEFAULT_PREFIX,
    declare_outputs,
    label_info_message,
    output_messages,
)
from t2g_ros.bags.preview import PreviewStrip, preview_indices
from t2g_ros.pipeline import SegmentationPipeline

PROG = "t2g-bag-eval"


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
    backend: str = DEFAULT_BACKEND,
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
) -> list[ModelMeters]:
    """The models in column order: ``t2g``, ``memory_1``, then ``baseline`` and ``peer`` if given."""
    t2g = _pipeline(checkpoint, threads=threads, backend=backend)
    # The same weights with a one-frame memory: what the node does with model.memory_length:=1.
    memory_1 = _pipeline(checkpoint, memory_length=1, threads=threads, backend=backend)
    specs = [(T2G, t2g), (MEMORY_1, memory_1)]
    if baseline:
        specs.append((BASELINE, _pipeline(baseline, threads=threads, backend=backend)))
    if peer is not None:
        names = t2g.label_set.names
        if tuple(names) != CAMVID_CLASSES or t2g.label_set.void_id != CAMVID_VOID:
            raise ValueError(
                f"the ESPNetv2 peer predicts CamVid-11 classes, {checkpoint} predicts {names}; "
                "metrics need one label set"
            )
        # Its labels are CamVid ids (11, void, where it says background): T2G's label set. A
        # per-frame model: its gap limit only names resets, which no metric reads.
        specs.append((PEER, SegmentationPipeline(peer.segmenter(), t2g.label_set)))
    for name, pipeline in specs[1:]:
        if pipeline.label_set != t2g.label_set:
            raise ValueError(
                f"{name} checkpoint predicts {pipeline.label_set.names}, "
                f"{checkpoint} predicts {t2g.label_set.names}; metrics need one label set"
            )
    return [
        ModelMeters(
            name, pipeline, ground_truth=GroundTruthMeter(t2g.label_set) if with_gt else None
        )
        for name, pipeline in specs
    ]


class _Visuals:
    """The preview strip (a few frames) and the side-by-side video (every frame) of a run.

    Columns left to right: input, memory 1, T2G, then baseline and peer (``models[0]`` is T2G,
    ``models[1]`` memory 1). The video keeps the first frame's size and the bag's frame rate.
    """

    def __init__(
        self,
        out_bag: Path,
        names: list[str],
        label_set: Any,
        *,
        total: int,
        preview_rows: int,
        video: bool,
    ) -> None:
        self.out_bag = out_bag
        self.chosen = set(preview_indices(total, preview_rows))
        self.shown = [1, 0, *range(2, len(names))]
        self.preview = PreviewStrip(("input", *(TITLES[names[i]] for i in self.shown)))
        self.video = (
            SideBySideWriter(
                sibling(out_bag, "side_by_side"),
                label_set=label_set,
                captions=self.preview.columns,
            )
            if video
            else None
        )
        self.warnings: list[str] = []
        self._size: tuple[int, ...] | None = None

    def add(self, index: int, rgb: np.ndarray, results: list[Any], stamp_s: float) -> None:
        self._size = self._size or rgb.shape[:2]
        self.video = _add_video_frame(
            self.video,
            rgb,
            [results[i].labels for i in self.shown],
            stamp_s,
            self.warnings,
            self._size,
        )
        if index in self.chosen:
            self.preview.add_row(f"#{index}", [rgb, *(results[i].overlay for i in self.shown)])

    def close(self) -> dict[str, Any]:
        """``preview_path``, ``video_path`` (None where not written) and ``video_warnings``."""
        preview = self.preview
        preview_path = preview.write(sibling(self.out_bag, "preview.png")) if len(preview) else None
        video_path = _close_video(self.video, self.warnings)
        return {
            "preview_path": str(preview_path) if preview_path else None,
            "video_path": str(video_path) if video_path else None,
            "video_warnings": self.warnings,
        }


def _messages(reader: BagReader, topic: str) -> Iterator[BagMessage | BagError]:
    """The topic's messages in order; a corrupt record mid-file ends them with its ``BagError``."""
    messages = reader.messages(topic)
    while True:
        try:
            yield next(messages)
        except StopIteration:
            return
        except BagError as exc:
            yield exc
            return


def _segment(
    models: list[ModelMeters], msgtype: str, bag_msg: BagMessage, preview: bool
) -> tuple[np.ndarray, list[Any]]:
    """Decode the frame and run every model on it: ``(rgb, results)``. T2G draws what the node
    publishes; the others their overlay only for preview frames. ``ValueError`` for a frame the
    node would drop (undecodable or unusable)."""
    rgb = decode_frame(msgtype, bag_msg.msg)
    t2g = models[0].process(
        rgb, bag_msg.stamp_ns, color=True, overlay_image=True, confidence_mono8=True
    )
    others = [m.process(rgb, bag_msg.stamp_ns, overlay_image=preview) for m in models[1:]]
    return rgb, [t2g, *others]


def _write_outputs(
    writer: BagWriter, store: Any, bag_msg: BagMessage, out: Any, pipeline: Any, first: bool
) -> None:
    """The node's outputs of one frame (``~/label_info`` before the first), with the input's
    header and log time."""
    header, log_time = bag_msg.msg.header, bag_msg.log_time_ns
    label_set = pipeline.label_set
    if first:
        threshold = pipeline.options.confidence_threshold
        info = label_info_message(store, header, label_set, threshold)
        writer.write(f"{DEFAULT_PREFIX}/label_info", info, log_time)
    for out_topic, out_msg in output_messages(store, header, out, label_set):
        writer.write(out_topic, out_msg, log_time)


def _run(
    reader: BagReader,
    writer: BagWriter,
    topic: str,
    msgtype: str,
    models: list[ModelMeters],
    ground_truth: dict[int, Any] | None,
    out_bag: Path,
    *,
    preview_rows: int,
    progress: bool,
    video: bool,
) -> dict[str, Any]:
    """The frame loop: copy, segment with every model, write T2G's outputs, update the meters."""
    t2g = models[0].pipeline
    total = reader.message_count(topic)
    gt_frames = len(ground_truth) if ground_truth is not None else None
    report = BagEvalReport(models, t2g.label_set, gt_frames=gt_frames)
    visuals = _Visuals(
        out_bag,
        [m.name for m in models],
        t2g.label_set,
        total=total,
        preview_rows=preview_rows,
        video=video,
    )
    error = None
    bar = tqdm(
        total=total, unit="frame", desc=PROG, disable=None if progress else True, file=sys.stderr
    )
    for bag_msg in _messages(reader, topic):
        if isinstance(bag_msg, BagError):  # keep what was done, say where it stopped
            error = str(bag_msg)
            break
        index, report.frames_in = report.frames_in, report.frames_in + 1
        bar.update()
        writer.write(topic, bag_msg.msg, bag_msg.log_time_ns)
        try:
            rgb, results = _segment(models, msgtype, bag_msg, index in visuals.chosen)
        except ValueError as exc:  # undecodable or unusable frame: the node drops it too
            report.problem(f"frame {index} (stamp {bag_msg.stamp_ns}): {exc}")
            continue
        first = report.frames_out == 0
        _write_outputs(writer, reader.typestore, bag_msg, results[0], t2g, first)
        report.add(rgb, results)
        visuals.add(index, rgb, results, bag_msg.stamp_ns * 1e-9)
        gt_msg = ground_truth.get(bag_msg.stamp_ns) if ground_truth is not None else None
        if gt_msg is not None:
            try:
                report.add_ground_truth(results, decode_label_image(gt_msg))
            except ValueError as exc:
                report.problem(f"ground truth of frame {index}: {exc}")
    bar.close()
    return {**report.build(error=error), **visuals.close()}


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
        default=DEFAULT_BACKEND,
        help=f"inference backend of every model (default {DEFAULT_BACKEND}, as the node's)",
    )
    parser.add_argument(
        "--preview-rows", type=int, default=4, help="frames in the preview image (0: none)"
    )
    parser.add_argument(
        "--video",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="write OUT_BAG.side_by_side.<mp4|webm|gif>, input | T2G memory 1 | "
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
    print("\n".join(format_summary(report)))
    if report["error"]:
        print(
            f"{PROG}: error: stopped after {report['frames']['in']} frames: {report['error']}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
