#!/usr/bin/env python3
"""Speed of t2g on this machine: the streaming step per backend, a per-stage profile, side by side
with the ESPNetv2 peer, onnxruntime session variants, and the node through ROS at 30 Hz.

    python scripts/bench_speed.py                  # or: make bench-speed
    python scripts/bench_speed.py --quick          # smoke run: few steps, 480x360 (not results)
    python scripts/bench_speed.py --session-variants 3   # also: session settings, 3 rounds each

1. Streaming step (``step(frame, stamp)``: resize, model, labels + confidence at the frame size), warm,
   ``--steps`` timed steps per row: FPS = 1000 / mean, p50, p95. Backends: every one of
   ``t2g_core.inference.BACKENDS``, each opened by ``open_segmenter`` as the node opens it.
   Per-frame = memory of 1 frame (``model.memory_length:=1``), temporal = the checkpoint's T.
2. Profile (onnxruntime, temporal; per size): p50/p95 and share of a node frame for every stage:
   message decode (raw; JPEG shown beside it), the input resize, backbone and each other module of
   encode.onnx (onnxruntime's profiler: kernel time grouped by the module in the node names, times
   the graph's wall time), pixel fusion, memory decoder, read-out, occupancy, colour, overlay and the
   output messages (wall clock of each alone). Beside it: resize + backbone alone, a session of
   encode.onnx cut after the backbone, and the ratio step / backbone alone.
3. Side by side: t2g fp32, t2g int8 (``open_segmenter(precision="int8")`` where it exists) and the
   ESPNetv2 peer (``t2g_core.peers.espnetv2`` where it exists) at the same frame sizes, as ratios.
4. ``--session-variants N``: candidate onnxruntime session settings, each in a fresh process.
5. Through ROS: the node under a ``--rate`` Hz rgb8 publisher (``scripts/node_rates.py``, which
   ``make node-rates`` runs with raw and JPEG input and drops by reason).

The model is the shipped checkpoint when it exists, else the full-size T2G model with randomly
initialised trainable modules (seed 0): speed does not depend on the weights. Writes
``results/speed.json`` and ``results/speed.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import cv2
import numpy as np
import torch

from t2g_core import (
    LabelSet,
    LoadedCheckpoint,
    Provenance,
    build_model,
    load_checkpoint,
    load_model_config,
    save_checkpoint,
)
from t2g_core.evaluation.speed import measure_latency
from t2g_core.export import cached_export
from t2g_core.inference import BACKEND_NAMES, LabelReadout, open_segmenter
from t2g_core.postprocess import (
    colorize,
    overlay,
    palette_lut,
    summarize_occupancy,
)
from t2g_ros.image_codec import (
    compressed_msg_to_rgb,
    image_msg_to_rgb,
    rgb_to_compressed_fields,
    rgb_to_image_fields,
)
from t2g_ros.msg_fields import as_ros_sequence, class_occupancy_fields

REPO = Path(__file__).resolve().parents[1]

SHIPPED = REPO / "checkpoints" / "t2g_lite0_camvid.pt"
CAMVID_VAL = (REPO / ".." / "shared" / "data" / "camvid" / "val" / "images").resolve()
SIZES = {
    "480x360": (360, 480),
    "640x480": (480, 640),
    "960x720": (720, 960),
    "1280x720": (720, 1280),
}
DEFAULT_SIZES = "480x360,640x480,1280x720"
# A design decision measured with the ort+torch split before it was removed; every report repeats it.
SPLIT_NOTE = (
    "Why the node's onnxruntime backend runs both graphs in onnxruntime: measured 2026-11-21 on this "
    "machine (480x360, temporal, p50), ORT encode + ORT decode took 31.9 ms against 34.6 ms for ORT "
    "encode + torch decode (the `ort+torch` rows of that run), so the decoder stayed in onnxruntime and "
    "the `ort+torch` variant was removed."
)


# ---- the model and the frames --------------------------------------------------------------------
def model_checkpoint(work: Path) -> tuple[Path, str]:
    """The shipped checkpoint, or a seeded random full-size one saved into ``work``."""
    if SHIPPED.is_file():
        return SHIPPED, f"shipped checkpoint {SHIPPED.name}"
    torch.manual_seed(0)
    model = build_model(load_model_config(REPO / "config" / "model_t2g.yaml"))
    path = work / "t2g_random_seed0.pt"
    save_checkpoint(
        path,
        model,
        LabelSet.from_yaml(REPO / "config" / "classes_camvid.yaml"),
        Provenance(data="none: random initialisation, for speed measurements only"),
    )
    return (
        path,
        "full-size T2G model (config/model_t2g.yaml), trainable modules randomly initialised (seed 0)",
    )


def real_frames(size: tuple[int, int], count: int = 8) -> list[np.ndarray]:
    """Consecutive CamVid val frames resized to ``size`` (H, W); random frames where the data is absent."""
    paths = sorted(CAMVID_VAL.glob("*.jpg"))[:count]
    if not paths:
        rng = np.random.default_rng(0)
        return [rng.integers(0, 256, (*size, 3), dtype=np.uint8) for _ in range(count)]
    frames = [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in paths]
    return [
        f
        if f.shape[:2] == size
        else cv2.resize(f, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
        for f in frames
    ]


# ---- 1. streaming step ---------------------------------------------------------------------------
def bench_steps(
    checkpoint: Path,
    loaded: LoadedCheckpoint,
    cache_dir: Path,
    *,
    threads: int,
    steps: int,
    warmup: int,
    sizes: list[str],
    backends: tuple[str, ...],
    say: Callable[[str], None],
    clock: Callable[[], float] = time.perf_counter,
) -> list[dict[str, Any]]:
    """One row per size, backend and mode; ``clock`` (seconds) times the steps (a test passes a fake one)."""
    rows = []
    for size_name in sizes:
        frames = real_frames(SIZES[size_name])
        for backend in backends:
            for mode, memory in (("per-frame", 1), ("temporal", None)):
                segmenter = open_segmenter(
                    checkpoint,
                    backend=backend,
                    threads=threads,
                    memory_length=memory,
                    max_gap_s=1.0,
                    cache_dir=cache_dir,
                    loaded=loaded,
                )
                stats = measure_latency(
                    lambda i, segmenter=segmenter: segmenter.step(
                        frames[i % len(frames)], i / 30.0
                    ),
                    warmup_steps=warmup,
                    steps=steps,
                    clock=clock,
                )
                row = {
                    "size": size_name,
                    "backend": backend,
                    "mode": mode,
                    "memory_frames": segmenter.memory_length,
                    **stats.to_dict(),
                }
                rows.append(row)
                say(
                    f"  step {size_name:>7} {backend:<11} {mode:<9} {stats.fps:6.1f} FPS  p50 {stats.p50_ms:6.1f} ms"
                    f"  p95 {stats.p95_ms:6.1f} ms"
                )
                del segmenter
    return rows


def step_ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """onnxruntime vs torch speed-up, temporal vs per-frame cost, 960x720 vs 480x360 cost (p50 ratios)."""
    p50 = {(r["size"], r["backend"], r["mode"]): r["p50_ms"] for r in rows}
    out = []
    for (size, backend, mode), value in p50.items():
        if backend != "torch" and (size, "torch", mode) in p50:
            out.append(
                {
                    "ratio": f"torch / {backend}",
                    "size": size,
                    "mode": mode,
                    "value": p50[(size, "torch", mode)] / value,
                    "meaning": "speed-up over torch eager",
                }
            )
        if mode == "temporal" and (size, backend, "per-frame") in p50:
            out.append(
                {
                    "ratio": "temporal / per-frame",
                    "size": size,
                    "backend": backend,
                    "value": value / p50[(size, backend, "per-frame")],
                    "meaning": "cost of the memory",
                }
            )
        if size == "960x720" and ("480x360", backend, mode) in p50:
            out.append(
                {
                    "ratio": "960x720 / 480x360",
                    "backend": backend,
                    "mode": mode,
                    "value": value / p50[("480x360", backend, mode)],
                    "meaning": "cost of 4x the pixels",
                }
            )
    kinds = ["torch / onnxruntime", "temporal / per-frame", "960x720 / 480x360"]
    return sorted(
        out,
        key=lambda r: (
            kinds.index(r["ratio"]) if r["ratio"] in kinds else len(kinds),
            r.get("size", ""),
            r.get("backend", ""),
            r.get("mode", ""),
        ),
    )


# ---- 2. per-stage profile ------------------------------------------------------------------------
# How each figure of the profile was obtained, by its key in a profile row's ``how``.
HOW = {
    "wall": "wall clock of the stage alone, called as the node calls it",
    "ort-profile": "share of encode.onnx kernel time in onnxruntime's profiler (nodes grouped by the "
    "module in their name), times the encode graph's wall-clock p50/p95",
    "ort-session": "wall clock of a separate onnxruntime session of the same options built from "
    "encode.onnx cut after the backbone (resize + backbone, nothing after)",
}
# Leaves of a node frame that add up to it (the JPEG decode replaces the raw one when the input is
# compressed, so it is shown but not summed).
INPUT_RESIZE = "input resize (in encode.onnx)"


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


def profile_encode(
    export_dir: Path, frame: np.ndarray, *, threads: int, runs: int, work: Path
) -> tuple[dict[str, float], Callable[[], object]]:
    """(kernel-time share per part of encode.onnx, a call running resize + backbone alone).

    Both sessions use the node's ``session_options``; the backbone-only graph is encode.onnx cut at
    the backbone's outputs (``onnx.utils.Extractor``), so it is exactly the backbone the node runs.
    """
    import onnx
    import onnxruntime as ort
    from onnx.utils import Extractor

    from t2g_core.export.format import ENCODE_FILE
    from t2g_core.inference.ort_streaming import session_options

    path = export_dir / ENCODE_FILE
    resize_nodes, backbone_outputs = encode_parts(path)
    options = session_options(threads)
    options.enable_profiling = True
    options.profile_file_prefix = str(work / "encode_profile")
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    for _ in range(runs + 1):
        session.run(None, {"frame": frame})
    events = json.loads(Path(session.end_profiling()).read_text())
    shares = kernel_shares(events, resize_nodes)
    model = onnx.shape_inference.infer_shapes(onnx.load(str(path)))
    cut = work / "backbone_only.onnx"
    onnx.save(Extractor(model).extract_model(["frame"], sorted(backbone_outputs)), str(cut))
    backbone = ort.InferenceSession(
        str(cut), session_options(threads), providers=["CPUExecutionProvider"]
    )
    return shares, lambda: backbone.run(None, {"frame": frame})


def profile_stages(
    checkpoint: Path,
    loaded: LoadedCheckpoint,
    cache_dir: Path,
    *,
    threads: int,
    repeats: int,
    sizes: list[str],
    say: Callable[[str], None],
    work: Path,
) -> dict[str, dict[str, Any]]:
    """Per size: ``rows`` (stage, p50_ms, p95_ms, share of the frame, how, leaf), the directly
    measured ``step`` and ``frame`` p50/p95, and ``backbone_alone`` p50/p95 (onnxruntime, temporal).

    Leaves add up to a node frame: raw decode, the parts of ``step`` (input resize, backbone, the
    other encoder modules, fusion, memory decoder, read-out), occupancy, colour, overlay and the
    output messages. Shares are of the sum of the leaves' p50.
    """
    from rclpy.serialization import serialize_message
    from sensor_msgs.msg import Image
    from std_msgs.msg import Header

    from t2g_msgs.msg import ClassOccupancy

    label_set = loaded.label_set
    lut = palette_lut(label_set.colors)
    export_dir = cached_export(checkpoint, cache_dir=cache_dir, model=loaded.model)
    out: dict[str, dict[str, Any]] = {}
    for size_name in sizes:
        size = SIZES[size_name]
        frame = real_frames(size, 1)[0]
        raw = SimpleNamespace(**rgb_to_image_fields(frame, "rgb8", data_type="numpy"))
        jpeg = SimpleNamespace(**rgb_to_compressed_fields(frame, "jpeg", 90, data_type="numpy"))
        seg = open_segmenter(
            checkpoint,
            backend="onnxruntime",
            threads=threads,
            max_gap_s=1e9,
            cache_dir=cache_dir,
            loaded=loaded,
        )
        memory = seg.memory_length
        for i in range(memory):  # fill the memory
            seg.step(frame, 0.04 * i)
        counter = iter(range(memory, 10**9))
        result = seg.step(frame, 0.04 * next(counter))
        labels, confidence = result.labels, result.confidence
        color = colorize(labels, lut)
        blended = overlay(frame, color, 0.5, labels)
        occupancy = summarize_occupancy(
            labels, confidence, num_classes=label_set.num_classes, grid_rows=6, grid_cols=8
        )
        offsets = np.array([[-0.04 * (memory - 1 - m) for m in range(memory)]], np.float32)
        logits = seg.decode(offsets)[0]
        # The segmenter's own read-out, configured as it configures it (threads, max_size).
        readout = getattr(seg, "_readout", None) or LabelReadout(threads=threads)
        header = Header(frame_id="camera")

        def messages():
            # What NodePublishers.publish builds per frame (labels, color, overlay, occupancy).
            images = [(labels, "mono8"), (color, "rgb8"), (blended, "rgb8")]
            built = [Image(header=header, **rgb_to_image_fields(a, e)) for a, e in images]
            fields = class_occupancy_fields(
                occupancy, label_set, reset_reason=None, memory_frames=memory
            )
            return [*built, ClassOccupancy(header=header, **as_ros_sequence(fields))]

        built = messages()
        shares, backbone_alone = profile_encode(
            export_dir, frame, threads=threads, runs=max(repeats, 5), work=work
        )

        def node_frame():
            rgb = image_msg_to_rgb(raw)
            res = seg.step(rgb, 0.04 * next(counter))
            summarize_occupancy(
                res.labels,
                res.confidence,
                num_classes=label_set.num_classes,
                grid_rows=6,
                grid_cols=8,
                previous_labels=labels,
            )
            mask = colorize(res.labels, lut)
            overlay(rgb, mask, 0.5, res.labels)
            messages()

        timed = {
            "step": lambda: seg.step(frame, 0.04 * next(counter)),
            "frame": node_frame,
            "encode": lambda: seg.encode_into_slot(frame, 0),
            "backbone_alone": backbone_alone,
        }
        measured = {name: time_ms(fn, repeats) for name, fn in timed.items()}
        enc50, enc95 = measured["encode"]
        rows: list[dict[str, Any]] = []

        def add(
            stage: str,
            fn: Callable[[], object] | None,
            how: str,
            *,
            leaf: bool = True,
            ms: tuple[float, float] | None = None,
        ) -> None:
            p50, p95 = ms if ms is not None else time_ms(fn, repeats)
            rows.append({"stage": stage, "p50_ms": p50, "p95_ms": p95, "how": how, "leaf": leaf})

        add("decode rgb8 Image (raw)", lambda: image_msg_to_rgb(raw), "wall")
        add(
            "decode JPEG CompressedImage (instead of raw)",
            lambda: compressed_msg_to_rgb(jpeg),
            "wall",
            leaf=False,
        )
        for part, share in shares.items():
            label = part if part in (INPUT_RESIZE, "backbone") else f"encoder: {part}"
            add(label, None, "ort-profile", ms=(share * enc50, share * enc95))
        if seg.manifest.pixel_fusion and memory > 1:
            add("pixel fusion (fuse.onnx)", lambda: seg.fuse(-0.04), "wall")
        add(f"memory decoder (decode_m{memory}.onnx)", lambda: seg.decode(offsets), "wall")
        add("read-out: upsample, argmax, confidence", lambda: readout(logits, size), "wall")
        add(
            "occupancy grid",
            lambda: summarize_occupancy(
                labels,
                confidence,
                num_classes=label_set.num_classes,
                grid_rows=6,
                grid_cols=8,
                previous_labels=labels,
            ),
            "wall",
        )
        add("colourisation", lambda: colorize(labels, lut), "wall")
        add("overlay", lambda: overlay(frame, color, 0.5, labels), "wall")
        add("publish: build labels, color, overlay, occupancy messages", messages, "wall")
        add(
            "publish: serialise them (rmw's copy, before DDS)",
            lambda: [serialize_message(m) for m in built],
            "wall",
            leaf=False,
        )
        total = sum(r["p50_ms"] for r in rows if r["leaf"])
        for r in rows:
            r["share"] = r["p50_ms"] / total if r["leaf"] else None
        out[size_name] = {
            "rows": rows,
            "leaves_p50_ms": total,
            **{f"{k}_p50_ms": v[0] for k, v in measured.items()},
            **{f"{k}_p95_ms": v[1] for k, v in measured.items()},
        }
        for r in rows:
            share = f"{100 * r['share']:5.1f} %" if r["share"] is not None else "      "
            say(
                f"  profile {size_name:>8} {r['stage']:<58} p50 {r['p50_ms']:7.2f} ms  "
                f"p95 {r['p95_ms']:7.2f} ms  {share}"
            )
        say(
            f"  profile {size_name:>8} step p50 {measured['step'][0]:.1f} ms, node frame p50 "
            f"{measured['frame'][0]:.1f} ms, resize + backbone alone p50 "
            f"{measured['backbone_alone'][0]:.1f} ms"
        )
    return out


# ---- 4. side by side with the peer ----------------------------------------------------------------
def open_contenders(
    checkpoint: Path,
    loaded: LoadedCheckpoint,
    cache_dir: Path,
    *,
    threads: int,
    say: Callable[[str], None],
) -> dict[str, Callable[[], Any]]:
    """Name -> a function opening a fresh streaming segmenter: t2g fp32 and int8 (onnxruntime,
    temporal) and the ESPNetv2 peer; what is not available here is left out with a message."""
    import inspect

    def t2g(precision: str) -> Callable[[], Any]:
        kwargs = {} if precision == "fp32" else {"precision": precision}
        return lambda: open_segmenter(
            checkpoint,
            backend="onnxruntime",
            threads=threads,
            max_gap_s=1.0,
            cache_dir=cache_dir,
            loaded=loaded,
            log=lambda line: say(f"  {line}"),
            **kwargs,
        )

    out = {"t2g fp32": t2g("fp32")}
    if "precision" in inspect.signature(open_segmenter).parameters:
        out["t2g int8"] = t2g("int8")
    else:
        say("  side by side: open_segmenter has no precision parameter here; int8 skipped")
    try:
        from t2g_core.peers.espnetv2 import EspNetV2Peer

        peer = EspNetV2Peer(threads=threads)
        out[PEER] = lambda: peer.segmenter(max_gap_s=1.0)
    except (ImportError, ValueError, OSError) as exc:  # module or peer files absent
        say(f"  side by side: the ESPNetv2 peer is not available ({exc}); skipped")
    return out


PEER = "ESPNetv2 peer"


def side_by_side(
    contenders: dict[str, Callable[[], Any]],
    *,
    steps: int,
    warmup: int,
    sizes: list[str],
    say: Callable[[str], None],
    clock: Callable[[], float] = time.perf_counter,
) -> list[dict[str, Any]]:
    """One row per size and contender: the streaming step (``step(frame, stamp)`` at the frame size,
    labels and confidence included) timed as in section 1."""
    rows = []
    for size_name in sizes:
        frames = real_frames(SIZES[size_name])
        for name, opener in contenders.items():
            try:
                segmenter = opener()
            except (ValueError, ImportError, OSError) as exc:
                say(f"  side by side {size_name}: {name} cannot be opened ({exc}); skipped")
                continue
            stats = measure_latency(
                lambda i, s=segmenter: s.step(frames[i % len(frames)], i / 30.0),
                warmup_steps=warmup,
                steps=steps,
                clock=clock,
            )
            rows.append({"size": size_name, "contender": name, **stats.to_dict()})
            say(
                f"  side by side {size_name:>8} {name:<14} p50 {stats.p50_ms:7.1f} ms  "
                f"p95 {stats.p95_ms:7.1f} ms  {stats.fps:6.1f} FPS"
            )
    return rows


def side_by_side_ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per size: peer / t2g (fp32 and int8) and fp32 / int8, ratios of p50."""
    p50 = {(r["size"], r["contender"]): r["p50_ms"] for r in rows}
    pairs = [(PEER, "t2g fp32"), (PEER, "t2g int8"), ("t2g fp32", "t2g int8")]
    return [
        {"size": size, "ratio": f"{a} / {b}", "value": p50[(size, a)] / p50[(size, b)]}
        for size in dict.fromkeys(r["size"] for r in rows)
        for a, b in pairs
        if (size, a) in p50 and (size, b) in p50
    ]


# ---- 5. onnxruntime session variants -------------------------------------------------------------
# Candidate session settings for ort_streaming.session_options, each timed in a fresh process (a
# process-wide thread pool can only be set before onnxruntime's first session).
SESSION_VARIANTS = {
    "shipped": "ort_streaming.session_options as it is",
    "spin-encode": "encode.onnx's pool spins while waiting; the other graphs' pools do not",
    "small-graphs-1-thread": "fuse and decode graphs on 1 thread (no pool wake-ups per op)",
    "global-pool-spin": "one process-wide pool (set_global_thread_pool_sizes) shared by every "
    "session, spinning: no second pool left to spin against",
}


def apply_session_variant(name: str, threads: int) -> None:
    """Make ``ort_streaming.load_session`` build sessions the ``name`` way (in this process only;
    a benchmark's patch, so the lead can choose ``session_options`` from measurements)."""
    import onnxruntime as ort

    from t2g_core.inference import ort_streaming

    if name not in SESSION_VARIANTS:
        raise ValueError(f"unknown session variant {name!r}; one of {sorted(SESSION_VARIANTS)}")
    if name == "global-pool-spin":
        from onnxruntime.capi import _pybind_state

        _pybind_state.set_global_thread_pool_sizes(threads, 1)

    def load_session(path: Path, threads_: int):
        options = ort_streaming.session_options(threads_)
        encode = Path(path).name == "encode.onnx"
        if name == "spin-encode" and encode:
            options.add_session_config_entry("session.intra_op.allow_spinning", "1")
        elif name == "small-graphs-1-thread" and not encode:
            options.intra_op_num_threads = 1
        elif name == "global-pool-spin":
            options.use_per_session_threads = False
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    ort_streaming.load_session = load_session


def variant_child(args: argparse.Namespace) -> int:
    """``--session-variant NAME``: the streaming step at 480x360 under that variant, one JSON line."""
    apply_session_variant(args.session_variant, args.threads)
    checkpoint = Path(args.checkpoint) if args.checkpoint else SHIPPED
    segmenter = open_segmenter(
        checkpoint, backend="onnxruntime", threads=args.threads, max_gap_s=1.0
    )
    frames = real_frames(SIZES["480x360"])
    stats = measure_latency(
        lambda i: segmenter.step(frames[i % len(frames)], i / 30.0),
        warmup_steps=args.warmup,
        steps=args.steps,
    )
    print(json.dumps({"variant": args.session_variant, **stats.to_dict()}), flush=True)
    return 0


def session_variants(
    checkpoint: Path,
    *,
    threads: int,
    steps: int,
    warmup: int,
    rounds: int,
    env: dict[str, str],
    say: Callable[[str], None],
) -> list[dict[str, Any]]:
    """Every variant ``rounds`` times, round-robin (so a change of machine load hits all alike);
    one row per variant with the median of its rounds' p50 and p95."""
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in SESSION_VARIANTS}
    for _ in range(rounds):
        for name in SESSION_VARIANTS:
            command = [
                sys.executable,
                str(Path(__file__).resolve()),
                "--session-variant",
                name,
                "--checkpoint",
                str(checkpoint),
                "--threads",
                str(threads),
                "--steps",
                str(steps),
                "--warmup",
                str(warmup),
            ]
            done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
            lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
            if done.returncode != 0 or not lines:
                say(f"  session variant {name}: failed ({done.stderr.strip()[-300:]})")
                continue
            runs[name].append(json.loads(lines[-1]))
            say(f"  session variant {name:<22} p50 {runs[name][-1]['p50_ms']:6.1f} ms")
    return [
        {
            "variant": name,
            "meaning": SESSION_VARIANTS[name],
            "rounds": len(done_runs),
            "p50_ms": float(np.median([r["p50_ms"] for r in done_runs])),
            "p95_ms": float(np.median([r["p95_ms"] for r in done_runs])),
        }
        for name, done_runs in runs.items()
        if done_runs
    ]


# ---- 3. through ROS ------------------------------------------------------------------------------
def bench_ros(
    checkpoint: Path,
    *,
    backend: str,
    size_name: str,
    threads: int,
    rate_hz: float,
    seconds: float,
    warmup_s: float,
    cache_env: dict[str, str],
    work: Path,
    say: Callable[[str], None],
) -> dict[str, Any]:
    """The node under a ``rate_hz`` rgb8 publisher (``scripts/node_rates.measure_node``), as one row
    of this report; rclpy must be initialised."""
    from node_rates import measure_node  # the sibling script (scripts/ is on sys.path)

    row = measure_node(
        checkpoint,
        size_name=size_name,
        compressed=False,
        backend=backend,
        threads=threads,
        rate_hz=rate_hz,
        seconds=seconds,
        warmup_s=warmup_s,
        env=cache_env,
        work=work,
        say=say,
    )
    return {
        "backend": backend,
        "size": size_name,
        "mode": "temporal",
        "threads": threads,
        "publish_rate_hz": row["published_hz"],
        "output_rate_hz": row["output_hz"],
        "latency_ms_p50": row["latency_ms_p50"],
        "latency_ms_p95": row["latency_ms_p95"],
        "latency_slope_ms_per_s": row["lag_slope_ms_per_s"],
        "node_processing_ms_p50": row["node_processing_ms_p50"],
        "node_processing_ms_p95": row["node_processing_ms_p95"],
        "dropped_overwritten_total": row["drops"].get("dropped_overwritten_total", -1),
    }


# ---- report --------------------------------------------------------------------------------------
# The node goals for a 30 Hz camera (scripts/node_rates.py reports them too): rate, p95 latency.
NODE_GOALS = {"640x480": (29.0, 50.0), "1280x720": (25.0, None)}


def goals(
    steps: list[dict[str, Any]],
    ros: list[dict[str, Any]],
    *,
    profile: dict[str, dict[str, Any]] | None = None,
    side: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """The speed goals, each with what was measured and whether it was met (reported, never
    asserted)."""

    def step(backend: str, mode: str, size: str = "480x360") -> dict[str, Any] | None:
        return next(
            (r for r in steps if (r["backend"], r["mode"], r["size"]) == (backend, mode, size)),
            None,
        )

    out = []
    ort_t = step("onnxruntime", "temporal")
    if ort_t:
        out.append(
            {
                "goal": "streaming step >= 60 FPS, p50 <= 16 ms at 480x360 (onnxruntime, temporal)",
                "measured": f"p50 {ort_t['p50_ms']:.1f} ms ({1000 / ort_t['p50_ms']:.1f} FPS by the "
                f"median, {ort_t['fps']:.1f} by the mean)",
                "met": ort_t["p50_ms"] <= 16.0,
            }
        )
    ort_p = step("onnxruntime", "per-frame")
    if ort_t and ort_p:
        ratio = ort_t["p50_ms"] / ort_p["p50_ms"]
        out.append(
            {
                "goal": "temporal <= 1.3x per-frame (onnxruntime, 480x360, p50)",
                "measured": f"{ratio:.2f}x",
                "met": ratio <= 1.3,
            }
        )
    at_480 = (profile or {}).get("480x360")
    if at_480:
        ratio = at_480["step_p50_ms"] / at_480["backbone_alone_p50_ms"]
        out.append(
            {
                "goal": "step <= 1.1x resize + backbone alone (onnxruntime, 480x360, p50)",
                "measured": f"{ratio:.2f}x ({at_480['step_p50_ms']:.1f} / "
                f"{at_480['backbone_alone_p50_ms']:.1f} ms)",
                "met": ratio <= 1.1,
            }
        )
    for r in side_by_side_ratios(side or []):
        if r["ratio"] == f"{PEER} / t2g fp32":
            out.append(
                {
                    "goal": f">= 5x faster than the ESPNetv2 peer ({r['size']}, p50)",
                    "measured": f"{r['value']:.2f}x",
                    "met": r["value"] >= 5.0,
                }
            )
    for row in ros:
        if row["backend"] != "onnxruntime" or row["size"] not in NODE_GOALS:
            continue
        rate, p95 = NODE_GOALS[row["size"]]
        ok = row["output_rate_hz"] >= rate and abs(row["latency_slope_ms_per_s"]) < 1
        text = f"node >= {rate:g} Hz"
        if p95 is not None:
            ok = ok and row["latency_ms_p95"] <= p95
            text += f", p95 latency <= {p95:g} ms"
        out.append(
            {
                "goal": f"{text}, no growing lag ({row['size']}, {row['publish_rate_hz']:.0f} Hz "
                "input)",
                "measured": f"{row['output_rate_hz']:.1f} Hz, p95 {row['latency_ms_p95']:.0f} ms, "
                f"slope {row['latency_slope_ms_per_s']:+.2f} ms/s",
                "met": bool(ok),
            }
        )
    return out


def markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = [
        "# t2g speed",
        "",
        f"Measured {report['date']} on {m['cpu']} ({m['cores']} cores), torch {m['torch']}, onnxruntime "
        f"{m['onnxruntime']}, {report['threads']} inference thread(s); load average at start {m['load_average']}.",
        f"Model: {report['model']}.",
        *(
            ["", "**A smoke run (--quick): few steps, figures are not results.**"]
            if report.get("quick")
            else []
        ),
        *(["", f"**{report['note']}**"] if report.get("note") else []),
        "",
        "## Streaming step (`step(frame, stamp)`: resize, model, labels + confidence at the frame size)",
        "",
        f"{report['steps_per_row']} warm steps per row; FPS = 1000 / mean latency.",
        "",
        "| size | backend | mode | FPS | p50 ms | p95 ms |",
        "|---|---|---|---:|---:|---:|",
    ]
    for r in report["step"]:
        lines.append(
            f"| {r['size']} | {r['backend']} | {r['mode']} | {r['fps']:.1f} | {r['p50_ms']:.1f} | "
            f"{r['p95_ms']:.1f} |"
        )
    lines += ["", SPLIT_NOTE]
    lines += [
        "",
        "Ratios of p50 latencies:",
        "",
        "| ratio | where | value | meaning |",
        "|---|---|---:|---|",
    ]
    for r in report["ratios"]:
        where = ", ".join(str(r[k]) for k in ("size", "backend", "mode") if k in r)
        lines.append(f"| {r['ratio']} | {where} | {r['value']:.2f}x | {r['meaning']} |")
    for size, prof in report["profile"].items():
        lines += [
            "",
            f"## Per-stage profile at {size} (onnxruntime, temporal, {report['threads']} thread(s))",
            "",
            f"Each stage timed alone, {report['repeats']} repeats. Share = of the sum of the stages "
            "marked with a share, which make up one node frame (raw input).",
            "",
            "| stage | p50 ms | p95 ms | share | how |",
            "|---|---:|---:|---:|---|",
        ]
        for r in prof["rows"]:
            share = f"{100 * r['share']:.1f} %" if r["share"] is not None else "-"
            lines.append(
                f"| {r['stage']} | {r['p50_ms']:.2f} | {r['p95_ms']:.2f} | {share} | {r['how']} |"
            )
        lines += [
            "",
            f"Measured whole: step p50 {prof['step_p50_ms']:.1f} ms (p95 {prof['step_p95_ms']:.1f}); "
            f"node frame (decode, step, occupancy, colour, overlay, messages) p50 "
            f"{prof['frame_p50_ms']:.1f} ms (sum of the stages {prof['leaves_p50_ms']:.1f}); "
            f"resize + backbone alone p50 {prof['backbone_alone_p50_ms']:.1f} ms (p95 "
            f"{prof['backbone_alone_p95_ms']:.1f}): **step / backbone alone = "
            f"{prof['step_p50_ms'] / prof['backbone_alone_p50_ms']:.2f}x** (goal <= 1.1x, p50 <= 16 "
            "ms).",
        ]
    lines += ["", "How: " + "; ".join(f"`{k}`: {v}" for k, v in HOW.items()) + "."]
    if report.get("side_by_side"):
        lines += [
            "",
            f"## Side by side ({report['threads']} thread(s), `step(frame, stamp)` at the frame "
            f"size, {report['steps_per_row']} warm steps)",
            "",
            "| contender | size | p50 ms | p95 ms | FPS |",
            "|---|---|---:|---:|---:|",
        ]
        for r in report["side_by_side"]:
            lines.append(
                f"| {r['contender']} | {r['size']} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} | "
                f"{r['fps']:.1f} |"
            )
        lines += ["", "| side-by-side ratio of p50 | size | value |", "|---|---|---:|"]
        for r in side_by_side_ratios(report["side_by_side"]):
            lines.append(f"| {r['ratio']} | {r['size']} | {r['value']:.2f}x |")
    if report.get("session_variants"):
        lines += [
            "",
            "## onnxruntime session variants (480x360, temporal, streaming step; each in a fresh "
            "process, round-robin; median over rounds)",
            "",
            "| variant | p50 ms | p95 ms | rounds | what |",
            "|---|---:|---:|---:|---|",
        ]
        for r in report["session_variants"]:
            lines.append(
                f"| {r['variant']} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} | {r['rounds']} | "
                f"{r['meaning']} |"
            )
    if report["ros"]:
        lines += [
            "",
            f"## Through ROS ({report['ros_rate_hz']:.0f} Hz rgb8 publisher in another process, "
            f"{report['ros_seconds']:.0f} s after {report['ros_warmup_s']:.0f} s warm-up; subscribers on "
            "~/labels, ~/overlay, ~/occupancy)",
            "",
            "| backend | size | published Hz | output Hz | latency p50 ms | latency p95 ms | lag slope ms/s | "
            "node processing p50 / p95 ms | frames overwritten |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in report["ros"]:
            lines.append(
                f"| {r['backend']} | {r['size']} | {r['publish_rate_hz']:.1f} | {r['output_rate_hz']:.1f} | "
                f"{r['latency_ms_p50']:.1f} | {r['latency_ms_p95']:.1f} | {r['latency_slope_ms_per_s']:+.2f} | "
                f"{r['node_processing_ms_p50']:.1f} / {r['node_processing_ms_p95']:.1f} | "
                f"{r['dropped_overwritten_total']} |"
            )
    if report["goals"]:
        lines += ["", "## Goals", "", "| goal | measured | met |", "|---|---|---|"]
        for g in report["goals"]:
            lines.append(f"| {g['goal']} | {g['measured']} | {'yes' if g['met'] else 'no'} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--checkpoint", default=None, help="default: the shipped one, else a seeded random model"
    )
    parser.add_argument(
        "--threads", type=int, default=2, help="inference threads (torch and onnxruntime)"
    )
    parser.add_argument("--steps", type=int, default=60, help="timed streaming steps per row")
    parser.add_argument("--warmup", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=30, help="timed repeats per profiled stage")
    parser.add_argument(
        "--sizes", default=DEFAULT_SIZES, help="frame sizes of the step rows and the profile"
    )
    parser.add_argument(
        "--side-sizes", default=DEFAULT_SIZES, help="frame sizes of the side-by-side rows"
    )
    parser.add_argument(
        "--side", default="fp32,int8,peer", help="side-by-side contenders: fp32, int8, peer"
    )
    parser.add_argument("--ros-sizes", default="640x480,1280x720")
    parser.add_argument("--backends", default=",".join(BACKEND_NAMES))
    parser.add_argument("--rate", type=float, default=30.0, help="publisher rate through ROS (Hz)")
    parser.add_argument(
        "--seconds", type=float, default=10.0, help="measured seconds through ROS per run"
    )
    parser.add_argument("--warmup-seconds", type=float, default=3.0)
    parser.add_argument("--ros-backends", default="onnxruntime")
    parser.add_argument("--note", default="", help="a line printed at the top of the report")
    parser.add_argument("--no-ros", action="store_true", help="skip the through-ROS runs")
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument(
        "--out", default=str(REPO / "results"), help="folder for speed.json and speed.md"
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 3 steps, 480x360, 2 s through ROS"
    )
    parser.add_argument("--no-side", action="store_true", help="skip the side-by-side rows")
    parser.add_argument(
        "--session-variants",
        type=int,
        default=0,
        metavar="ROUNDS",
        help="time the onnxruntime session variants (SESSION_VARIANTS) this many rounds each",
    )
    parser.add_argument("--session-variant", help=argparse.SUPPRESS)  # the child process's mode
    args = parser.parse_args(argv)
    if args.session_variant:
        return variant_child(args)
    if args.quick:
        args.steps, args.warmup, args.repeats = 3, 1, 3
        args.sizes = args.side_sizes = args.ros_sizes = "480x360"
        args.seconds, args.warmup_seconds = 2.0, 1.0
    sizes = [s for s in args.sizes.split(",") if s]
    side_sizes = [s for s in args.side_sizes.split(",") if s]
    ros_sizes = [s for s in args.ros_sizes.split(",") if s]
    unknown = [s for s in sizes + side_sizes + ros_sizes if s not in SIZES]
    if unknown:
        parser.error(f"unknown size(s) {unknown}; choose from {sorted(SIZES)}")
    backends = tuple(b for b in args.backends.split(",") if b)
    if not set(backends) <= set(BACKEND_NAMES):
        parser.error(f"--backends must be among {BACKEND_NAMES}")
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)

    def say(line: str) -> None:
        print(line, flush=True)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="t2g_bench_") as tmp:
        work = Path(tmp)
        checkpoint, what = (
            (Path(args.checkpoint), f"checkpoint {args.checkpoint}")
            if args.checkpoint
            else model_checkpoint(work)
        )
        loaded = load_checkpoint(checkpoint)
        model = loaded.model.eval()
        say(f"t2g speed: {what}; {args.threads} thread(s)")
        env = dict(os.environ)
        if (
            checkpoint.parent == work
        ):  # a throw-away random checkpoint: keep its export out of the user's cache
            env["XDG_CACHE_HOME"] = str(work / "xdg")
        cache_dir = Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "t2g" / "onnx"
        # The node processes below find this export in the same cache (same checkpoint, same key).
        cached_export(
            checkpoint, cache_dir=cache_dir, model=model, log=lambda line: say(f"  {line}")
        )
        report: dict[str, Any] = {
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": {
                "cpu": platform.processor() or platform.machine(),
                "cores": os.cpu_count(),
                "torch": torch.__version__,
                "onnxruntime": __import__("onnxruntime").__version__,
                "load_average": [round(x, 2) for x in os.getloadavg()],
            },
            "model": what,
            "threads": args.threads,
            "steps_per_row": args.steps,
            "quick": args.quick,
            "note": args.note,
        }
        report["machine"]["cpu"] = _cpu_name() or report["machine"]["cpu"]
        report["step"] = bench_steps(
            checkpoint,
            loaded,
            cache_dir,
            threads=args.threads,
            steps=args.steps,
            warmup=args.warmup,
            sizes=sizes,
            backends=backends,
            say=say,
        )
        report["ratios"] = step_ratios(report["step"])
        report["profile"] = (
            {}
            if args.no_profile
            else profile_stages(
                checkpoint,
                loaded,
                cache_dir,
                threads=args.threads,
                repeats=args.repeats,
                sizes=sizes,
                say=say,
                work=work,
            )
        )
        report["repeats"] = args.repeats
        side = {"fp32": "t2g fp32", "int8": "t2g int8", "peer": PEER}
        wanted = {side[c] for c in args.side.split(",") if c in side}
        contenders = (
            {}
            if args.no_side
            else {
                name: opener
                for name, opener in open_contenders(
                    checkpoint, loaded, cache_dir, threads=args.threads, say=say
                ).items()
                if name in wanted
            }
        )
        report["side_by_side"] = side_by_side(
            contenders, steps=args.steps, warmup=args.warmup, sizes=side_sizes, say=say
        )
        report["session_variants"] = (
            session_variants(
                checkpoint,
                threads=args.threads,
                steps=args.steps,
                warmup=args.warmup,
                rounds=args.session_variants,
                env=env,
                say=say,
            )
            if args.session_variants
            else []
        )
        report["ros"] = []
        report.update(
            ros_rate_hz=args.rate, ros_seconds=args.seconds, ros_warmup_s=args.warmup_seconds
        )
        if not args.no_ros:
            import rclpy

            rclpy.init()
            try:
                for backend in [b for b in args.ros_backends.split(",") if b]:
                    for size_name in ros_sizes:
                        report["ros"].append(
                            bench_ros(
                                checkpoint,
                                backend=backend,
                                size_name=size_name,
                                threads=args.threads,
                                rate_hz=args.rate,
                                seconds=args.seconds,
                                warmup_s=args.warmup_seconds,
                                cache_env=env,
                                work=work,
                                say=say,
                            )
                        )
            finally:
                rclpy.try_shutdown()
        report["goals"] = goals(
            report["step"],
            report["ros"],
            profile=report["profile"],
            side=report["side_by_side"],
        )
    (out / "speed.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (out / "speed.md").write_text(markdown(report), encoding="utf-8")
    say(f"wrote {out / 'speed.json'} and {out / 'speed.md'}")
    return 0


def _cpu_name() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


if __name__ == "__main__":
    raise SystemExit(main())
