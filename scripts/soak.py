#!/usr/bin/env python3
"""Soak: the node under a 30 Hz camera for N minutes; memory, rate, lag and drops per minute.

    python scripts/soak.py --minutes 10          # or: make soak SOAK_ARGS="--minutes 10"

The node runs in its own process with the shipped parameter file (as the launch file starts it),
in a per-run namespace. This process publishes real frames (CamVid val, or the dash-cam clip with
``--source video``) as ``sensor_msgs/Image`` rgb8 at ``--rate`` Hz, stamped with the wall clock, and
subscribes to ~/labels, ~/overlay, ~/occupancy and /diagnostics, as a user with RViz open would.

Per minute: the node's RSS (``/proc/<pid>/status``), the output rate, latency p50/p95 (reception of
~/labels - header stamp) and the drops by reason (the deltas of the node's ``dropped_*_total``
diagnostics counters). Over the run: the RSS slope in MB/min fitted after the
first minute (start-up allocations excluded) and the latency slope in ms/min. Writes
``results/soak.json`` and ``results/soak.md``; the node's log goes to ``artifacts/soak/node.log``.

A soak is a measurement, not a test: it runs at normal priority (``nice`` would measure the
scheduler, not the node) and records the load average before and after, since other jobs share the
cores.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from t2g_core.evaluation.environment import git_commit, load_average, usable_cores, utc_now
from t2g_ros.launcher import start_node, stop_node

REPO = Path(__file__).resolve().parents[1]
CAMVID_VAL = (REPO / ".." / "shared" / "data" / "camvid" / "val" / "images").resolve()
VIDEO = (
    REPO / ".." / "shared" / "data" / "video" / "udacity_solidWhiteRight" / "solidWhiteRight.mp4"
).resolve()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))
    frames, source = load_frames(args.source, (height, width), args.frames)
    load_before = load_average()
    print(
        f"soak: {args.minutes:g} min at {args.rate:g} Hz, {width}x{height} rgb8 from {source}; "
        f"load average {load_before}",
        flush=True,
    )
    run = run_soak(args, frames)
    report = summarise(args, run, source=source, size=(width, height), load_before=load_before)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "soak.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "soak.md").write_text(markdown(report))
    print(markdown(report))
    print(f"wrote {out / 'soak.json'} and {out / 'soak.md'}")
    return 0 if run["node_exit"] in (0, None) else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=30.0, help="publish rate in Hz (default 30)")
    parser.add_argument(
        "--size", default="640x480", help="WxH of the published frames (default 640x480)"
    )
    parser.add_argument(
        "--source",
        choices=("camvid", "video"),
        default="camvid",
        help="camvid: consecutive CamVid val frames; video: the solidWhiteRight dash-cam clip",
    )
    parser.add_argument(
        "--frames", type=int, default=60, help="frames to cycle through (default 60)"
    )
    parser.add_argument("--checkpoint", default="", help="default: the shipped T2G checkpoint")
    parser.add_argument(
        "--node-param",
        action="append",
        default=[],
        metavar="NAME:=VALUE",
        help="node parameter on top of config/t2g.yaml, e.g. model.backend:=onnxruntime",
    )
    parser.add_argument(
        "--note", default="", help="a sentence for the report (what shared the cores)"
    )
    parser.add_argument("--out", default=str(REPO / "results"))
    parser.add_argument("--log-dir", default=str(REPO / "artifacts" / "soak"))
    parser.add_argument("--startup-timeout", type=float, default=300.0)
    return parser


def load_frames(source: str, size: tuple[int, int], count: int) -> tuple[list[np.ndarray], str]:
    """``count`` consecutive real frames, ``(H, W, 3) uint8`` RGB resized to ``size`` (H, W)."""
    bgr: list[np.ndarray] = []
    if source == "camvid":
        bgr = [cv2.imread(str(p)) for p in sorted(CAMVID_VAL.glob("*.png"))[:count]]
        bgr = bgr or [cv2.imread(str(p)) for p in sorted(CAMVID_VAL.glob("*.jpg"))[:count]]
        name = f"CamVid val ({CAMVID_VAL})"
    else:
        capture = cv2.VideoCapture(str(VIDEO))
        while len(bgr) < count:
            ok, frame = (
                capture.read()
            )  # in order: seeking returns empty frames in this OpenCV build
            if not ok:
                break
            bgr.append(frame)
        capture.release()
        name = f"dash-cam clip {VIDEO.name}"
    if not bgr:
        raise SystemExit(f"soak: no frames found for --source {source}")
    height, width = size
    return [
        cv2.cvtColor(
            cv2.resize(f, (width, height), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB
        )
        for f in bgr
    ], f"{name}, {len(bgr)} frames"


def start_soak_node(args: argparse.Namespace, namespace: str, log: Path) -> subprocess.Popen:
    """The node with the shipped parameter file (as the launch file starts it) and the overrides."""
    from t2g_core.resources import shipped_path

    checkpoint = {"model.checkpoint": Path(args.checkpoint).resolve()} if args.checkpoint else {}
    return start_node(
        namespace,
        params_file=shipped_path("config", "t2g.yaml"),
        parameters=checkpoint,
        overrides=args.node_param,
        log=log,
    )


def rss_mb(pid: int) -> float:
    """Resident set size of ``pid`` in MB (NaN once it has exited)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def run_soak(args: argparse.Namespace, frames: list[np.ndarray]) -> dict[str, Any]:
    """Publish for ``--minutes`` and record every output, diagnostics report and RSS sample."""
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image

    from t2g_msgs.msg import ClassOccupancy
    from t2g_ros.image_codec import rgb_to_image_fields

    namespace = f"/t2g_soak_{uuid.uuid4().hex[:8]}"
    log = Path(args.log_dir) / "node.log"
    node_proc = start_soak_node(args, namespace, log)
    rclpy.init()
    node = rclpy.create_node(f"t2g_soak_{uuid.uuid4().hex[:8]}")
    labels: list[tuple[float, float]] = []  # (reception wall time, header stamp)
    diagnostics: list[tuple[float, dict[str, str], str]] = []  # (wall time, values, message)
    rss: list[tuple[float, float]] = []  # (wall time, MB)
    published: list[float] = []
    try:
        reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        # The camera as drivers publish: reliable, depth 1 (the node subscribes best-effort).
        pub = node.create_publisher(
            Image, f"{namespace}/image", QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE)
        )

        def on_labels(msg: Image) -> None:
            labels.append((time.time(), msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9))

        def on_diagnostics(array: DiagnosticArray) -> None:
            for status in array.status:
                if status.name.startswith(f"{namespace}/t2g:"):
                    diagnostics.append(
                        (time.time(), {kv.key: kv.value for kv in status.values}, status.message)
                    )

        subs = [
            node.create_subscription(Image, f"{namespace}/t2g/labels", on_labels, reliable),
            node.create_subscription(Image, f"{namespace}/t2g/overlay", lambda m: None, reliable),
            node.create_subscription(
                ClassOccupancy, f"{namespace}/t2g/occupancy", lambda m: None, reliable
            ),
        ]
        node.create_subscription(DiagnosticArray, "/diagnostics", on_diagnostics, reliable)
        deadline = time.monotonic() + args.startup_timeout
        while not (
            pub.get_subscription_count() > 0 and all(s.get_publisher_count() > 0 for s in subs)
        ):
            if node_proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(
                    f"soak: the node did not start; its log ({log}):\n{log.read_text()[-3000:]}"
                )
            rclpy.spin_once(node, timeout_sec=0.05)
        messages = [Image(**rgb_to_image_fields(f, "rgb8")) for f in frames]
        period = 1.0 / args.rate
        start = time.time()
        end = start + 60.0 * args.minutes
        next_publish, next_rss, next_say = start, start, start + 60.0
        while node_proc.poll() is None:
            now = time.time()
            if now >= end:
                break
            if now >= next_publish:
                msg = messages[len(published) % len(messages)]
                msg.header.stamp.sec, msg.header.stamp.nanosec = int(now), int((now % 1) * 1e9)
                msg.header.frame_id = "camera"
                pub.publish(msg)
                published.append(now)
                next_publish += period
                if (
                    next_publish < now
                ):  # this process fell behind: keep the rate, skip the missed slots
                    next_publish = now + period
            if now >= next_rss:
                rss.append((now, rss_mb(node_proc.pid)))
                next_rss += 1.0
            if now >= next_say:
                minute = round((now - start) / 60)
                recent = [t for t, _ in labels if t >= now - 60]
                print(
                    f"soak: minute {minute}: RSS {rss[-1][1]:.1f} MB, "
                    f"output {len(recent) / 60:.1f} Hz",
                    flush=True,
                )
                next_say += 60.0
            rclpy.spin_once(
                node, timeout_sec=max(0.0, min(next_publish, next_rss, end) - time.time())
            )
        settle = time.time() + 2.0
        while time.time() < settle:
            rclpy.spin_once(node, timeout_sec=0.05)
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
        exit_code = stop_node(node_proc, timeout_s=30)
    return {
        "start": start,
        "end": end,
        "published": published,
        "labels": labels,
        "diagnostics": diagnostics,
        "rss": rss,
        "node_exit": exit_code,
        "node_log": str(log),
        "namespace": namespace,
    }


def _counters(values: dict[str, str]) -> dict[str, float]:
    """The node's cumulative drop counters from one diagnostics report."""
    out = {}
    for key, value in values.items():
        if key.endswith("_total") and key.startswith("dropped_"):
            try:
                out[key[: -len("_total")]] = float(value)
            except ValueError:
                pass
    return out


def _slope_per_min(times: np.ndarray, values: np.ndarray) -> float:
    keep = np.isfinite(values)
    if keep.sum() < 3:
        return float("nan")
    return float(np.polyfit(times[keep] / 60.0, values[keep], 1)[0])


def summarise(
    args: argparse.Namespace,
    run: dict[str, Any],
    *,
    source: str,
    size: tuple[int, int],
    load_before: list[float],
) -> dict[str, Any]:
    start = run["start"]
    minutes = max(1, int(np.ceil(args.minutes - 1e-9)))
    rows = []
    previous = {}
    for m in range(minutes):
        lo, hi = start + 60.0 * m, min(start + 60.0 * (m + 1), run["end"])
        span = max(hi - lo, 1e-9)
        window = [(t, s) for t, s in run["labels"] if lo <= t < hi]
        latency = np.array([1e3 * (t - s) for t, s in window])
        rss = [mb for t, mb in run["rss"] if lo <= t < hi]
        reports = [(v, msg) for t, v, msg in run["diagnostics"] if t < hi]
        counters = _counters(reports[-1][0]) if reports else {}
        drops = {k: int(v - previous.get(k, 0.0)) for k, v in counters.items()}
        previous = counters or previous
        warnings = sorted({msg for t, v, msg in run["diagnostics"] if lo <= t < hi and msg != "ok"})
        rows.append(
            {
                "minute": m + 1,
                "published_hz": sum(lo <= t < hi for t in run["published"]) / span,
                "output_hz": len(window) / span,
                "latency_ms_p50": float(np.percentile(latency, 50))
                if len(latency)
                else float("nan"),
                "latency_ms_p95": float(np.percentile(latency, 95))
                if len(latency)
                else float("nan"),
                "rss_mb": float(rss[-1]) if rss else float("nan"),
                "drops": drops,
                "diagnostics_messages": warnings,
            }
        )
    rss_t = np.array([t - start for t, _ in run["rss"]])
    rss_v = np.array([mb for _, mb in run["rss"]])
    after_first = rss_t >= 60.0 if args.minutes > 2 else np.ones_like(rss_t, bool)
    lat_t = np.array([t - start for t, _ in run["labels"]])
    lat_v = np.array([1e3 * (t - s) for t, s in run["labels"]])
    totals = _counters(run["diagnostics"][-1][1]) if run["diagnostics"] else {}
    return {
        "date": utc_now(),
        "command": "python scripts/soak.py " + " ".join(sys.argv[1:]),
        "git_commit": git_commit(REPO),
        "cores": usable_cores(),
        "load_average_before": load_before,
        "load_average_after": load_average(),
        "minutes": args.minutes,
        "rate_hz": args.rate,
        "size": f"{size[0]}x{size[1]}",
        "source": source,
        "node_params": ["config/t2g.yaml", *args.node_param],
        "note": args.note,
        "published": len(run["published"]),
        "outputs": len(run["labels"]),
        "rss_mb_start": float(rss_v[0]) if len(rss_v) else float("nan"),
        "rss_mb_end": float(rss_v[-1]) if len(rss_v) else float("nan"),
        "rss_slope_mb_per_min": _slope_per_min(rss_t[after_first], rss_v[after_first]),
        "latency_slope_ms_per_min": _slope_per_min(lat_t, lat_v),
        "drops_total": {k: int(v) for k, v in totals.items()},
        "node_exit_code": run["node_exit"],
        "node_errors": _log_errors(Path(run["node_log"])),
        "per_minute": rows,
    }


def _log_errors(log: Path) -> list[str]:
    try:
        return [
            line
            for line in log.read_text(errors="replace").splitlines()
            if "[ERROR]" in line or "Traceback" in line
        ]
    except OSError:
        return []


def markdown(report: dict[str, Any]) -> str:
    lines = [
        f"# Soak: {report['minutes']:g} min at {report['rate_hz']:g} Hz, {report['size']} rgb8 "
        f"({report['date']})",
        "",
        f"`{report['command']}` at commit {report['git_commit']}; "
        f"source: {report['source']}; node: "
        f"{', '.join(report['node_params'])}. {report['cores']} cores, load average "
        f"{report['load_average_before']} before, {report['load_average_after']} after.",
        "",
        *([f"Note: {report['note']}", ""] if report.get("note") else []),
        f"- RSS {report['rss_mb_start']:.1f} -> {report['rss_mb_end']:.1f} MB, slope "
        f"**{report['rss_slope_mb_per_min']:+.2f} MB/min** (fitted after the first minute)",
        f"- latency slope **{report['latency_slope_ms_per_min']:+.2f} ms/min**; "
        f"{report['outputs']} outputs for {report['published']} published frames",
        "- drops (whole run): "
        + (
            ", ".join(f"{k} {v}" for k, v in sorted(report["drops_total"].items()))
            or "none reported"
        ),
        f"- node exit code {report['node_exit_code']}; ERROR lines or tracebacks in its log: "
        f"{len(report['node_errors'])}",
        "",
        "| minute | published Hz | output Hz | latency p50 ms | latency p95 ms | RSS MB "
        "| drops by reason |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in report["per_minute"]:
        drops = ", ".join(f"{k} {v}" for k, v in sorted(r["drops"].items()) if v) or "none"
        lines.append(
            f"| {r['minute']} | {r['published_hz']:.1f} | {r['output_hz']:.1f} "
            f"| {r['latency_ms_p50']:.0f} | {r['latency_ms_p95']:.0f} | {r['rss_mb']:.1f} "
            f"| {drops} |"
        )
    messages = sorted({m for r in report["per_minute"] for m in r["diagnostics_messages"]})
    if messages:
        lines += ["", "Diagnostics messages other than `ok`:", *[f"- {m}" for m in messages]]
    lines += [
        "",
        "`dropped_overwritten` counts frames replaced in the node's one-frame mailbox by a newer "
        "one before inference started (the node keeps up by skipping, so the lag cannot grow).",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
