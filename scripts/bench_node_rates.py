#!/usr/bin/env python3
"""The node under a camera publishing at 10, 20 and 30 Hz, at 480x360 and 960x720 (the node issue's measure).

    python scripts/bench_node_rates.py [--backend torch] [--threads 2] [--seconds 10]

For each rate and size, the node runs in its own process and this process publishes real CamVid frames
as rgb8 Images (``scripts/bench_speed.bench_ros``: wall-clock stamps, labels/overlay/occupancy subscribed).
Reports the sustained output rate, p50/p95 pipeline latency (reception of ~/labels minus the header stamp),
the lag slope (a growing lag shows as a positive slope) and the frames the node skipped because a newer
one had arrived (its one-slot mailbox). Writes ``results/node_rates.json`` and ``results/node_rates.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

# Run as a script, this file's folder is on sys.path: bench_speed is the sibling script.
from bench_speed import _cpu_name, bench_ros

from t2g_core.inference import default_checkpoint

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=None, help="default: the shipped T2G checkpoint")
    parser.add_argument("--backend", default="torch")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rates", default="10,20,30")
    parser.add_argument("--sizes", default="480x360,960x720")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup-seconds", type=float, default=3.0)
    parser.add_argument("--out", default=str(REPO / "results"))
    args = parser.parse_args(argv)
    checkpoint = Path(args.checkpoint) if args.checkpoint else default_checkpoint()

    import rclpy

    rows = []
    rclpy.init()
    try:
        with tempfile.TemporaryDirectory(prefix="t2g_rates_") as tmp:
            for size in [s for s in args.sizes.split(",") if s]:
                for rate in [float(r) for r in args.rates.split(",") if r]:
                    row = bench_ros(
                        checkpoint,
                        backend=args.backend,
                        size_name=size,
                        threads=args.threads,
                        rate_hz=rate,
                        seconds=args.seconds,
                        warmup_s=args.warmup_seconds,
                        cache_env=dict(os.environ),
                        work=Path(tmp),
                        say=print,
                    )
                    rows.append({"rate_hz": rate, **row})
    finally:
        rclpy.try_shutdown()
    report = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": _cpu_name(),
        "cores": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "checkpoint": str(
            checkpoint.relative_to(REPO) if checkpoint.is_relative_to(REPO) else checkpoint
        ),
        "backend": args.backend,
        "threads": args.threads,
        "seconds": args.seconds,
        "rows": rows,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "node_rates.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        f"# Node under a publisher at fixed rates ({report['date']}, {report['cpu']}, {report['cores']} cores, "
        f"load {report['load_average']})",
        "",
        f"`python scripts/bench_node_rates.py --backend {args.backend} --threads {args.threads}`; "
        f"{args.seconds:.0f} s measured per row after {args.warmup_seconds:.0f} s warm-up.",
        "",
        "| size | published Hz | output Hz | latency p50 ms | latency p95 ms | lag slope ms/s "
        "| skipped (newer frame) |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['size']} | {r['publish_rate_hz']:.1f} | {r['output_rate_hz']:.1f} | {r['latency_ms_p50']:.0f} | "
        f"{r['latency_ms_p95']:.0f} | {r['latency_slope_ms_per_s']:+.2f} | {r['dropped_overwritten_total']} |"
        for r in rows
    ]
    (out / "node_rates.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {out / 'node_rates.json'} and {out / 'node_rates.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
