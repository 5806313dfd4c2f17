"""What ``t2g-demo`` reports once the live run is over (no rclpy): counts, latency, labels and
flicker per model, preview, and the side-by-side video (input | per-frame + EMA | T2G label colours
at the bag's frame rate) with one frame of it as a PNG.

The models compared are measured in two ways, and the summary says so:
- T2G: the labels the live node published, as recorded (``/t2g/labels``);
- what a user would pick instead, run offline here on exactly the frames the node produced an output
  for, so all are scored on the same consecutive pairs: the per-frame checkpoint, the same with an
  EMA of its class probabilities (the usual flicker fix), and T2G's own checkpoint at memory 1.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from t2g_core.meters import FLICKER_PROTOCOL, FlickerMeter, finite_or_none
from t2g_core.side_by_side import SideBySideWriter, VideoFormatError, frame_rate
from t2g_ros.bags.frames import decode_frame, decode_label_image
from t2g_ros.bags.io import open_reader
from t2g_ros.bags.preview import PreviewStrip, preview_indices
from t2g_ros.image_codec import image_msg_to_rgb
from t2g_ros.pipeline import SegmentationPipeline
from t2g_ros.stats import percentile

OFFLINE_EMA, OFFLINE_PER_FRAME, OFFLINE_MEMORY_1 = "per_frame_ema", "per_frame", "t2g_memory_1"
T2G_LIVE = "t2g_live"
#: What each model is called in the printed summary.
DESCRIPTIONS = {
    T2G_LIVE: "T2G, the live node (its recorded labels)",
    OFFLINE_EMA: "per-frame checkpoint + EMA (offline, same frames)",
    OFFLINE_PER_FRAME: "per-frame checkpoint (offline, same frames)",
    OFFLINE_MEMORY_1: "T2G checkpoint at memory 1 (offline, same frames)",
}


@dataclass
class LiveRun:
    """What the demo saw live, keyed by input header stamp (ns). Filled from two threads; each key is
    written once (dict stores are atomic under the GIL)."""

    published_ns: dict[int, int] = field(
        default_factory=dict
    )  # stamp -> wall time the replay published it
    labels_received_ns: dict[int, int] = field(
        default_factory=dict
    )  # stamp -> wall time its labels arrived
    outputs: dict[str, set[int]] = field(
        default_factory=dict
    )  # output topic in the bag -> stamps received
    diagnostics: list[dict[str, str]] = field(
        default_factory=list
    )  # the node's key/values, oldest first


def analyse(
    live: LiveRun,
    *,
    source_bag: Path,
    input_topic: str,
    input_type: str,
    recorded_bag: Path,
    offline: dict[str, SegmentationPipeline],
    out_dir: Path,
    preview_rows: int = 4,
    check: Callable[[], None] = lambda: None,
) -> dict[str, Any]:
    """Summarise a finished live run; writes ``out_dir/preview.png``,
    ``out_dir/side_by_side.<ext>`` and ``out_dir/side_by_side.png`` (its middle frame). Returns the
    summary (JSON-safe). ``check()`` runs before each frame; what it raises ends the analysis.

    Args:
        offline: models run here on the node's frames, by name (``OFFLINE_*``); the video and the
            preview show ``OFFLINE_EMA`` beside T2G.
    """
    shown = offline[OFFLINE_EMA]
    label_set = shown.label_set
    with open_reader(recorded_bag) as recorded:
        labels = (
            {m.stamp_ns: m.msg for m in recorded.messages("/t2g/labels")}
            if "/t2g/labels" in recorded.topics
            else {}
        )
        stamps = sorted(labels)
        chosen = {stamps[i] for i in preview_indices(len(stamps), preview_rows)}
        overlays = (
            {m.stamp_ns: m.msg for m in recorded.messages("/t2g/overlay") if m.stamp_ns in chosen}
            if "/t2g/overlay" in recorded.topics
            else {}
        )
    meters = {name: FlickerMeter() for name in (T2G_LIVE, *offline)}
    shares = {name: np.zeros(label_set.num_classes, np.int64) for name in meters}
    preview = PreviewStrip(("input", "per-frame + EMA (offline)", "T2G (live node)"))
    video = SideBySideWriter(
        out_dir / "side_by_side",
        label_set=label_set,
        captions=preview.columns,
        fps=frame_rate([s * 1e-9 for s in stamps]),
        still_index=len(stamps) // 2,
    )
    with open_reader(source_bag) as source:
        for message in source.messages(input_topic):
            check()
            if message.stamp_ns not in labels:
                continue
            rgb = decode_frame(input_type, message.msg)
            ours = decode_label_image(labels[message.stamp_ns])
            results = {
                name: pipeline.process(
                    rgb,
                    message.stamp_ns * 1e-9,
                    overlay_image=name == OFFLINE_EMA and message.stamp_ns in overlays,
                )
                for name, pipeline in offline.items()
            }
            for name, found in ((T2G_LIVE, ours), *((n, r.labels) for n, r in results.items())):
                meters[name].update(found, rgb)
                shares[name] += np.bincount(found.ravel(), minlength=256)[: label_set.num_classes]
            theirs = results[OFFLINE_EMA]
            video.add(rgb, [theirs.labels, ours])
            if message.stamp_ns in overlays:
                preview.add_row(
                    f"#{stamps.index(message.stamp_ns)}",
                    [rgb, theirs.overlay, image_msg_to_rgb(overlays[message.stamp_ns])],
                )
    latency_ms = [
        (live.labels_received_ns[s] - live.published_ns[s]) * 1e-6
        for s in live.labels_received_ns
        if s in live.published_ns
    ]
    last = live.diagnostics[-1] if live.diagnostics else {}
    processing = [
        float(d["processing_ms_p50"])
        for d in live.diagnostics
        if d.get("processing_ms_p50", "nan") != "nan"
    ]
    return {
        "frames": {
            "in": len(live.published_ns),
            "out": len(stamps),
            "node_skipped_busy": _int(last.get("dropped_overwritten_total")),
            "node_dropped_stale": _int(last.get("dropped_stale_total")),
            "node_dropped_bad": _int(last.get("dropped_bad_input_total")),
            "node_memory_resets": _int(last.get("memory_resets_total")),
            "outputs_per_topic": {topic: len(seen) for topic, seen in sorted(live.outputs.items())},
        },
        "latency_ms": {
            "what": "replay publish -> /t2g/labels received (DDS + decode + inference + encode)",
            "p50": finite_or_none(percentile(latency_ms, 50)),
            "p95": finite_or_none(percentile(latency_ms, 95)),
            "node_processing_p50": finite_or_none(statistics.median(processing))
            if processing
            else None,
        },
        "flicker": {
            "protocol": FLICKER_PROTOCOL,
            "frames": len(stamps),
            **{name: finite_or_none(meter.rate) for name, meter in meters.items()},
        },
        "label_shares": {
            name: {
                label_set.names[k]: round(float(c) / max(1, int(counts.sum())), 4)
                for k, c in enumerate(counts)
            }
            for name, counts in shares.items()
        },
        "preview": str(preview.write(out_dir / "preview.png")) if len(preview) else None,
        **_side_by_side(video, out_dir / "side_by_side.png"),
    }


def _side_by_side(video: SideBySideWriter, still_path: Path) -> dict[str, Any]:
    """Finish the video and write its still; the reason instead when no playable format is here."""
    if video.frames == 0:
        return {"side_by_side": None, "side_by_side_frame": None}
    try:
        path = str(video.close())
    except VideoFormatError as exc:
        return {"side_by_side": None, "side_by_side_frame": None, "side_by_side_error": str(exc)}
    written = video.still is not None and cv2.imwrite(
        str(still_path), cv2.cvtColor(video.still, cv2.COLOR_RGB2BGR)
    )
    return {"side_by_side": path, "side_by_side_frame": str(still_path) if written else None}


def format_summary(summary: dict[str, Any]) -> list[str]:
    """The lines the demo prints."""
    frames, latency, flicker = summary["frames"], summary["latency_ms"], summary["flicker"]
    replay = summary["replay"]
    lines = [
        "replay: "
        + (
            f"lockstep, each frame once the node answered the previous one "
            f"({replay['lockstep_timeouts']} released unanswered after a timeout)"
            if replay["lockstep"]
            else f"recorded timing at rate {replay['rate']:g}"
        ),
        f"frames in {frames['in']} (replayed), out {frames['out']} (/t2g/labels recorded); node skipped "
        f"{frames['node_skipped_busy']} while busy (it always takes the newest frame), dropped "
        f"{frames['node_dropped_stale']} stale and {frames['node_dropped_bad']} bad; "
        f"{frames['node_memory_resets']} memory resets (the start included)",
        f"latency publish -> labels received: p50 {_ms(latency['p50'])}, p95 {_ms(latency['p95'])}; "
        f"node processing p50 {_ms(latency['node_processing_p50'])} (from /diagnostics)",
        f"flicker on the {flicker['frames']} output frames (share of gray-stable pixels whose "
        "class changes) and the three largest classes:",
    ]
    for name, description in DESCRIPTIONS.items():
        if name not in flicker:
            continue
        top = sorted(summary["label_shares"][name].items(), key=lambda kv: -kv[1])[:3]
        classes = ", ".join(f"{c} {100 * v:.0f} %" for c, v in top)
        lines.append(f"  {description:<52} {_rate(flicker[name])}   {classes}")
    t2g = flicker[T2G_LIVE]
    for name, what in ((OFFLINE_PER_FRAME, "per-frame"), (OFFLINE_EMA, "per-frame + EMA")):
        other = flicker.get(name)
        if t2g is not None and other:
            lines.append(f"  ratio T2G / {what}: {t2g / other:.2f} (below 1: T2G is steadier)")
    if not replay["lockstep"] and frames["out"] < frames["in"] / 2:
        lines.append(
            "note: the node segmented under half of the frames in real time, so its memory saw gaps of "
            "several frames; without --realtime the demo segments every frame"
        )
    return lines


def _int(value: str | None) -> int | None:
    return int(value) if value is not None and value.lstrip("-").isdigit() else None


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} ms"


def _rate(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def diagnostic_values(array: Any, status_prefix: str) -> dict[str, str] | None:
    """Key/values of the status whose name starts with ``status_prefix`` in a DiagnosticArray, else None."""
    for status in array.status:
        if status.name.startswith(status_prefix):
            return {kv.key: kv.value for kv in status.values}
    return None
