"""Where a node frame's time goes: every stage of one onnxruntime streaming step, timed alone.

The stages of ``step`` (input resize, backbone and each other module of ``encode.onnx``, pixel fusion,
memory decoder, read-out) and what the node does with its result (occupancy grid, colourisation,
overlay). The parts of ``encode.onnx`` come from onnxruntime's profiler (kernel time grouped by the
module in the node names, times the graph's wall time); the rest is the wall clock of each stage
alone. Beside them: resize + backbone alone, a session of ``encode.onnx`` cut after the backbone.

Message decoding and building belong to the ROS adapter: the caller passes them as :class:`NodeIO`
(``scripts/bench_speed.py`` does), so this module imports no ROS.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..postprocess import colorize, overlay, palette_lut, summarize_occupancy
from .step_timing import SIZES, camera_frames

# How each figure of the profile was obtained, by its key in a profile row's ``how``.
HOW = {
    "wall": "wall clock of the stage alone, called as the node calls it",
    "ort-profile": "share of encode.onnx kernel time in onnxruntime's profiler (nodes grouped by the "
    "module in their name), times the encode graph's wall-clock p50/p95",
    "ort-session": "wall clock of a separate onnxruntime session of the same options built from "
    "encode.onnx cut after the backbone (resize + backbone, nothing after)",
}
INPUT_RESIZE = "input resize (in encode.onnx)"
STEP_S = 0.04  # stamps 25 fps apart: the memory fills, no gap resets it
GRID = {"grid_rows": 6, "grid_cols": 8}  # the node's default occupancy grid


@dataclass(frozen=True)
class Stage:
    """One profiled stage: ``fn`` timed alone; ``leaf`` stages add up to a node frame."""

    name: str
    fn: Callable[[], object]
    leaf: bool = True


@dataclass(frozen=True)
class FrameResult:
    """One step's outputs, from which the adapter builds its messages.

    Attributes:
        frame: (H, W, 3) uint8 RGB input.
        labels, confidence: the step's (H, W) outputs.
        color, blended: (H, W, 3) uint8 colour mask and overlay.
        occupancy: the occupancy summary of ``labels``.
        memory: frames in the memory.
        label_set: the checkpoint's classes.
    """

    frame: np.ndarray
    labels: np.ndarray
    confidence: np.ndarray
    color: np.ndarray
    blended: np.ndarray
    occupancy: Any
    memory: int
    label_set: Any


@dataclass(frozen=True)
class NodeIO:
    """The adapter's part of a node frame.

    Attributes:
        decode: the input message -> (H, W, 3) uint8 RGB, as the node decodes it.
        publish: builds the output messages of a frame, as the node does.
        before: stages shown before the model's (the decode, and alternatives beside it).
        after: stages shown after the node's drawing (building and serialising the messages).
    """

    decode: Callable[[], np.ndarray]
    publish: Callable[[], object]
    before: tuple[Stage, ...] = ()
    after: tuple[Stage, ...] = ()


def time_ms(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """(p50, p95) wall-clock ms of ``repeats`` calls of ``fn`` after one untimed call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.percentile(times, 50)), 1e3 * float(np.percentile(times, 95))


def encode_parts(onnx_path: Path) -> tuple[set[str], set[str]]:
    """Names of the nodes that resize the frame (everything outside ``/backbone/`` that the backbone
    depends on) and of the backbone's outputs, read from the graph of ``encode.onnx``."""
    import onnx

    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    producer = {out: node for node in graph.node for out in node.output}
    backbone = [n for n in graph.node if n.name.startswith("/backbone/")]
    inside = {n.name for n in backbone}
    upstream: set[str] = set()
    pending = [name for n in backbone for name in n.input]
    while pending:
        node = producer.get(pending.pop())
        if node is not None and node.name not in inside and node.name not in upstream:
            upstream.add(node.name)
            pending.extend(node.input)
    consumers = [n for n in graph.node if n.name not in inside]
    outputs = {
        name
        for n in consumers
        for name in n.input
        if name in producer and producer[name].name in inside
    }
    outputs |= {
        o.name for o in graph.output if o.name in producer and producer[o.name].name in inside
    }
    return upstream, outputs


def part_of(node_name: str, resize_nodes: set[str]) -> str:
    """The profile part of an onnxruntime node: the model module its name starts with
    (``/backbone/...`` -> ``backbone``), the input resize, or the top-level glue (K/V projections,
    layout reorders that the optimiser inserts)."""
    if node_name in resize_nodes:
        return INPUT_RESIZE
    pieces = node_name.split("/")
    module = (
        re.sub(r"_\d+$", "", pieces[1]) if node_name.startswith("/") and len(pieces) > 2 else ""
    )
    # The K/V projections of the memory are top-level modules k, k_1, v, ... (one per layer).
    return module if module not in ("", "k", "v") else "memory K/V projections and layout"


def kernel_shares(events: list[dict[str, Any]], resize_nodes: set[str]) -> dict[str, float]:
    """Share of the node kernel time per part, from an onnxruntime profile (a list of trace
    events), leaving out the first ``model_run`` (allocation and first-touch costs)."""
    runs = sorted((e["ts"], e["ts"] + e["dur"]) for e in events if e.get("name") == "model_run")
    after = runs[0][1] if len(runs) > 1 else -1
    totals: dict[str, float] = {}
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time") and e["ts"] > after:
            part = part_of(e["name"][: -len("_kernel_time")], resize_nodes)
            totals[part] = totals.get(part, 0.0) + e["dur"]
    whole = sum(totals.values())
    return {part: value / whole for part, value in sorted(totals.items(), key=lambda kv: -kv[1])}


def encode_shares(
    export_dir: Path, frame: np.ndarray, *, threads: int, runs: int, work: Path
) -> dict[str, float]:
    """Kernel-time share per part of ``export_dir``'s encode.onnx (the node's ``session_options``)."""
    import onnxruntime as ort

    from ..export.format import ENCODE_FILE
    from ..inference.ort_streaming import session_options

    path = export_dir / ENCODE_FILE
    resize_nodes, _ = encode_parts(path)
    options = session_options(threads)
    options.enable_profiling = True
    options.profile_file_prefix = str(work / "encode_profile")
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    for _ in range(runs + 1):
        session.run(None, {"frame": frame})
    events = json.loads(Path(session.end_profiling()).read_text())
    return kernel_shares(events, resize_nodes)


def backbone_alone(
    export_dir: Path, frame: np.ndarray, *, threads: int, work: Path
) -> Callable[[], object]:
    """A call running resize + backbone alone: ``export_dir``'s encode.onnx cut at the backbone's
    outputs (``onnx.utils.Extractor``), so it is exactly the backbone the node runs, in a session of
    the node's ``session_options``."""
    import onnx
    import onnxruntime as ort
    from onnx.utils import Extractor

    from ..export.format import ENCODE_FILE
    from ..inference.ort_streaming import session_options

    path = export_dir / ENCODE_FILE
    _, backbone_outputs = encode_parts(path)
    model = onnx.shape_inference.infer_shapes(onnx.load(str(path)))
    cut = work / "backbone_only.onnx"
    onnx.save(Extractor(model).extract_model(["frame"], sorted(backbone_outputs)), str(cut))
    backbone = ort.InferenceSession(
        str(cut), session_options(threads), providers=["CPUExecutionProvider"]
    )
    return lambda: backbone.run(None, {"frame": frame})


def profile_size(
    checkpoint: Path,
    loaded: Any,
    cache_dir: Path,
    frame: np.ndarray,
    *,
    threads: int,
    repeats: int,
    work: Path,
    node_io: Callable[[FrameResult], NodeIO] | None = None,
    precision: str = "fp32",
) -> dict[str, Any]:
    """The profile of one frame size (onnxruntime, temporal, the memory full).

    Args:
        frame: (H, W, 3) uint8 RGB, the size profiled.
        node_io: the adapter's decode and messages for a step's result; None profiles the frame
            from the decoded array to the drawn overlay.
        precision: of the segmenter profiled (``fp32`` or ``int8``); resize + backbone alone is
            always the fp32 one, the reference every step is compared with.
    Returns:
        ``rows`` (stage, p50_ms, p95_ms, share of the frame, how, leaf), ``leaves_p50_ms`` and the
        directly measured ``{step,frame,encode,backbone_alone}_{p50,p95}_ms``. Leaves add up to a
        node frame; shares are of the sum of the leaves' p50.
    """
    from ..export import cached_export
    from ..inference import LabelReadout, open_segmenter

    label_set = loaded.label_set
    lut = palette_lut(label_set.colors)
    seg = open_segmenter(
        checkpoint,
        backend="onnxruntime",
        threads=threads,
        max_gap_s=1e9,
        cache_dir=cache_dir,
        loaded=loaded,
        precision=precision,
    )  # builds the export at this precision when it is missing
    fp32_dir = cached_export(checkpoint, cache_dir=cache_dir, model=loaded.model)
    export_dir = (
        fp32_dir
        if precision == "fp32"
        else cached_export(checkpoint, cache_dir=cache_dir, precision=precision)
    )
    memory = seg.memory_length
    for i in range(memory):  # fill the memory
        seg.step(frame, STEP_S * i)
    counter = iter(range(memory, 10**9))
    result = seg.step(frame, STEP_S * next(counter))
    labels, confidence = result.labels, result.confidence
    color = colorize(labels, lut)
    blended = overlay(frame, color, 0.5, labels)

    def occupancy_of(step_labels: np.ndarray, step_confidence: np.ndarray) -> Any:
        return summarize_occupancy(
            step_labels,
            step_confidence,
            num_classes=label_set.num_classes,
            previous_labels=labels,
            **GRID,
        )

    occupancy = summarize_occupancy(
        labels, confidence, num_classes=label_set.num_classes, **GRID
    )  # the first frame's, as messages carry it
    outputs = FrameResult(frame, labels, confidence, color, blended, occupancy, memory, label_set)
    io = node_io(outputs) if node_io is not None else NodeIO(decode=lambda: frame, publish=list)
    offsets = np.array([[-STEP_S * (memory - 1 - m) for m in range(memory)]], np.float32)
    logits = seg.decode(offsets)[0]
    # The segmenter's own read-out, configured as it configures it (threads, max_size).
    readout = getattr(seg, "_readout", None) or LabelReadout(threads=threads)
    shares = encode_shares(export_dir, frame, threads=threads, runs=max(repeats, 5), work=work)
    reference = backbone_alone(fp32_dir, frame, threads=threads, work=work)

    def node_frame() -> None:
        rgb = io.decode()
        res = seg.step(rgb, STEP_S * next(counter))
        occupancy_of(res.labels, res.confidence)
        mask = colorize(res.labels, lut)
        overlay(rgb, mask, 0.5, res.labels)
        io.publish()

    timed = {
        "step": lambda: seg.step(frame, STEP_S * next(counter)),
        "frame": node_frame,
        "encode": lambda: seg.encode_into_slot(frame, 0),
        "backbone_alone": reference,
    }
    measured = {name: time_ms(fn, repeats) for name, fn in timed.items()}
    enc50, enc95 = measured["encode"]
    rows: list[dict[str, Any]] = []

    def add(stage: Stage | str, how: str, ms: tuple[float, float] | None = None) -> None:
        name, leaf = (stage.name, stage.leaf) if isinstance(stage, Stage) else (stage, True)
        p50, p95 = ms if ms is not None else time_ms(stage.fn, repeats)
        rows.append({"stage": name, "p50_ms": p50, "p95_ms": p95, "how": how, "leaf": leaf})

    for stage in io.before:
        add(stage, "wall")
    for part, share in shares.items():
        label = part if part in (INPUT_RESIZE, "backbone") else f"encoder: {part}"
        add(label, "ort-profile", (share * enc50, share * enc95))
    stages = []
    if seg.manifest.pixel_fusion and memory > 1:
        stages.append(Stage("pixel fusion (fuse.onnx)", lambda: seg.fuse(-STEP_S)))
    stages.append(Stage(f"memory decoder (decode_m{memory}.onnx)", lambda: seg.decode(offsets)))
    if seg.manifest.output_gate and memory > 1:  # the state is there: the memory was filled above
        stages.append(Stage("output gate (gate.onnx)", lambda: seg.gate(logits[None], -STEP_S)))
    stages += [
        Stage("read-out: upsample, argmax, confidence", lambda: readout(logits, frame.shape[:2])),
        Stage("occupancy grid", lambda: occupancy_of(labels, confidence)),
        Stage("colourisation", lambda: colorize(labels, lut)),
        Stage("overlay", lambda: overlay(frame, color, 0.5, labels)),
        *io.after,
    ]
    for stage in stages:
        add(stage, "wall")
    total = sum(r["p50_ms"] for r in rows if r["leaf"])
    for r in rows:
        r["share"] = r["p50_ms"] / total if r["leaf"] else None
    return {
        "precision": precision,
        "rows": rows,
        "leaves_p50_ms": total,
        **{f"{k}_p50_ms": v[0] for k, v in measured.items()},
        **{f"{k}_p95_ms": v[1] for k, v in measured.items()},
    }


def profile_stages(
    checkpoint: Path,
    loaded: Any,
    cache_dir: Path,
    *,
    threads: int,
    repeats: int,
    sizes: list[str],
    say: Callable[[str], None],
    work: Path,
    node_io: Callable[[FrameResult], NodeIO] | None = None,
    precision: str = "fp32",
) -> dict[str, dict[str, Any]]:
    """:func:`profile_size` for every size name of ``sizes`` (a real frame of each) at ``precision``,
    said as it goes."""
    out: dict[str, dict[str, Any]] = {}
    for size_name in sizes:
        frame = camera_frames(SIZES[size_name], 1)[0]
        prof = profile_size(
            checkpoint,
            loaded,
            cache_dir,
            frame,
            threads=threads,
            repeats=repeats,
            work=work,
            node_io=node_io,
            precision=precision,
        )
        out[size_name] = prof
        for r in prof["rows"]:
            share = f"{100 * r['share']:5.1f} %" if r["share"] is not None else "      "
            say(
                f"  profile {size_name:>8} {precision} {r['stage']:<58} p50 {r['p50_ms']:7.2f} ms  "
                f"p95 {r['p95_ms']:7.2f} ms  {share}"
            )
        say(
            f"  profile {size_name:>8} step p50 {prof['step_p50_ms']:.1f} ms, node frame p50 "
            f"{prof['frame_p50_ms']:.1f} ms, resize + backbone alone p50 "
            f"{prof['backbone_alone_p50_ms']:.1f} ms"
        )
    return out
