"""Candidate onnxruntime session settings for ``ort_streaming.session_options``, timed side by side.

Each variant is a ``session_options`` argument of ``OrtStreamingSegmenter`` (``(graph path,
threads) -> SessionOptions``); ``global-pool-spin`` also sets a process-wide thread pool, which can
only be set before onnxruntime's first session, so every variant is timed in a fresh process:

    python -m t2g_core.evaluation.session_variants --variant NAME --checkpoint C [--threads N]

prints one JSON line (the streaming step at 480x360 under that variant). :func:`session_variants`
runs every variant that way, round-robin, so a change of machine load hits all alike.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

SESSION_VARIANTS = {
    "shipped": "ort_streaming.session_options as it is",
    "spin-encode": "encode.onnx's pool spins while waiting; the other graphs' pools do not",
    "small-graphs-1-thread": "fuse and decode graphs on 1 thread (no pool wake-ups per op)",
    "global-pool-spin": "one process-wide pool (set_global_thread_pool_sizes) shared by every "
    "session, spinning: no second pool left to spin against",
}
VARIANT_SIZE = "480x360"


def variant_options(name: str) -> Callable[[Path, int], Any]:
    """The ``session_options`` argument of variant ``name``: ``(graph path, threads) -> options``.

    Raises:
        ValueError: ``name`` is not in :data:`SESSION_VARIANTS`.
    """
    from ..export.format import ENCODE_FILE
    from ..inference.ort_streaming import session_options

    if name not in SESSION_VARIANTS:
        raise ValueError(f"unknown session variant {name!r}; one of {sorted(SESSION_VARIANTS)}")

    def options(path: Path, threads: int):
        built = session_options(threads)
        encode = path.name == ENCODE_FILE
        if name == "spin-encode" and encode:
            built.add_session_config_entry("session.intra_op.allow_spinning", "1")
        elif name == "small-graphs-1-thread" and not encode:
            built.intra_op_num_threads = 1
        elif name == "global-pool-spin":
            built.use_per_session_threads = False
        return built

    return options


def open_variant(
    checkpoint: str | Path,
    name: str,
    *,
    threads: int,
    cache_dir: str | Path | None = None,
    max_gap_s: float = 1.0,
):
    """An ``OrtStreamingSegmenter`` of ``checkpoint``'s cached export under variant ``name``.

    ``global-pool-spin`` sets the process-wide pool first: call it once per process, before any
    other onnxruntime session.
    """
    from ..checkpoint import load_checkpoint
    from ..export import cached_export
    from ..inference.ort_streaming import OrtStreamingSegmenter

    options = variant_options(name)
    if name == "global-pool-spin":
        from onnxruntime.capi import _pybind_state

        _pybind_state.set_global_thread_pool_sizes(threads, 1)
    loaded = load_checkpoint(checkpoint)
    export_dir = cached_export(checkpoint, cache_dir=cache_dir, model=loaded.model)
    return OrtStreamingSegmenter(
        export_dir,
        max_gap_s=max_gap_s,
        threads=threads,
        label_set=loaded.label_set,
        session_options=options,
    )


def variant_child(argv: list[str] | None = None) -> int:
    """The child process: the streaming step under one variant, one JSON line on stdout."""
    from .step_timing import SIZES, camera_frames, time_stream

    parser = argparse.ArgumentParser(description="one onnxruntime session variant, timed")
    parser.add_argument("--variant", required=True, choices=sorted(SESSION_VARIANTS))
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=8)
    args = parser.parse_args(argv)
    segmenter = open_variant(args.checkpoint, args.variant, threads=args.threads)
    frames = camera_frames(SIZES[VARIANT_SIZE])
    stats = time_stream(segmenter, frames, warmup=args.warmup, steps=args.steps)
    print(json.dumps({"variant": args.variant, **stats.to_dict()}), flush=True)
    return 0


def session_variants(
    checkpoint: Path,
    *,
    threads: int,
    steps: int,
    warmup: int,
    rounds: int,
    env: Mapping[str, str],
    say: Callable[[str], None],
) -> list[dict[str, Any]]:
    """Every variant ``rounds`` times, round-robin, each in a fresh process; one row per variant
    with the median of its rounds' p50 and p95 (a variant that failed every round is left out)."""
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in SESSION_VARIANTS}
    for _ in range(rounds):
        for name in SESSION_VARIANTS:
            command = [sys.executable, "-m", __name__, "--variant", name]
            command += ["--checkpoint", str(checkpoint), "--threads", str(threads)]
            command += ["--steps", str(steps), "--warmup", str(warmup)]
            done = subprocess.run(
                command, env=dict(env), capture_output=True, text=True, check=False
            )
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


if __name__ == "__main__":
    sys.exit(variant_child())
