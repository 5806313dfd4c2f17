"""The streaming step timed per frame size, backend and mode, and side by side with int8 and the peer.

A row is ``step(frame, stamp)`` of a segmenter opened as the node opens it (``open_segmenter``):
resize, model, labels + confidence at the frame size, on real consecutive frames, warm. Figures are
:class:`~t2g_core.evaluation.speed.LatencyStats` (FPS = 1000 / mean, p50, p95); ratios are of p50.
``scripts/bench_speed.py`` (``make bench-speed``) runs these and writes the report.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .speed import measure_latency

#: Frame sizes by name, as (H, W).
SIZES: dict[str, tuple[int, int]] = {
    "480x360": (360, 480),
    "640x480": (480, 640),
    "960x720": (720, 960),
    "1280x720": (720, 1280),
}
#: Consecutive real frames for timing (CamVid val, evaluation data), beside the repository.
CAMVID_VAL_IMAGES = (
    Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "camvid" / "val" / "images"
).resolve()
FPS = 30.0  # the stamps of timed streams: a 30 Hz camera
PEER = "ESPNetv2 peer"
T2G_FP32, T2G_INT8 = "t2g fp32", "t2g int8"

Say = Callable[[str], None]


def parse_sizes(text: str) -> list[str]:
    """``"480x360,640x480"`` -> the names, each checked against :data:`SIZES` (``ValueError``)."""
    names = [s for s in text.split(",") if s]
    unknown = [s for s in names if s not in SIZES]
    if unknown:
        raise ValueError(f"unknown size(s) {unknown}; choose from {sorted(SIZES)}")
    return names


def camera_frames(
    size: tuple[int, int], count: int = 8, *, folder: str | Path = CAMVID_VAL_IMAGES
) -> list[np.ndarray]:
    """``count`` consecutive frames of ``folder`` (its ``*.jpg`` in name order) resized to ``size``.

    Args:
        size: (H, W).
    Returns:
        (H, W, 3) uint8 RGB frames; seeded random frames where ``folder`` holds none (dense networks
        cost the same whatever the content).
    """
    paths = sorted(Path(folder).glob("*.jpg"))[:count]
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


def time_stream(
    segmenter: Any,
    frames: Sequence[np.ndarray],
    *,
    warmup: int,
    steps: int,
    clock: Callable[[], float] = time.perf_counter,
):
    """:func:`measure_latency` of ``segmenter.step`` over ``frames`` cycled, stamped at :data:`FPS`."""
    return measure_latency(
        lambda i: segmenter.step(frames[i % len(frames)], i / FPS),
        warmup_steps=warmup,
        steps=steps,
        clock=clock,
    )


def bench_steps(
    checkpoint: Path,
    loaded: Any,
    cache_dir: Path,
    *,
    threads: int,
    steps: int,
    warmup: int,
    sizes: list[str],
    backends: tuple[str, ...],
    say: Say,
    clock: Callable[[], float] = time.perf_counter,
) -> list[dict[str, Any]]:
    """One row per size, backend and mode (per-frame = memory 1, temporal = the checkpoint's
    capacity); ``clock`` (seconds) times the steps (a test passes a fake one)."""
    from ..inference import open_segmenter

    rows = []
    for size_name in sizes:
        frames = camera_frames(SIZES[size_name])
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
                stats = time_stream(segmenter, frames, warmup=warmup, steps=steps, clock=clock)
                rows.append(
                    {
                        "size": size_name,
                        "backend": backend,
                        "mode": mode,
                        "memory_length": segmenter.memory_length,
                        **stats.to_dict(),
                    }
                )
                say(
                    f"  step {size_name:>7} {backend:<11} {mode:<9} {stats.fps:6.1f} FPS  "
                    f"p50 {stats.p50_ms:6.1f} ms  p95 {stats.p95_ms:6.1f} ms"
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


def open_contenders(
    checkpoint: Path,
    loaded: Any,
    cache_dir: Path,
    *,
    threads: int,
    say: Say,
) -> dict[str, Callable[[], Any]]:
    """Name -> a function opening a fresh streaming segmenter: t2g fp32 and int8 (onnxruntime,
    temporal) and the ESPNetv2 peer; what is not available here is left out with a message."""
    from ..inference import open_segmenter

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

    out = {T2G_FP32: t2g("fp32")}
    if "precision" in inspect.signature(open_segmenter).parameters:
        out[T2G_INT8] = t2g("int8")
    else:
        say("  side by side: open_segmenter has no precision parameter here; int8 skipped")
    try:
        from ..peers.espnetv2 import EspNetV2Peer

        peer = EspNetV2Peer(threads=threads)
        out[PEER] = lambda: peer.segmenter(max_gap_s=1.0)
    except (ImportError, ValueError, OSError) as exc:  # module or peer files absent
        say(f"  side by side: the ESPNetv2 peer is not available ({exc}); skipped")
    return out


def side_by_side(
    contenders: dict[str, Callable[[], Any]],
    *,
    steps: int,
    warmup: int,
    sizes: list[str],
    say: Say,
    clock: Callable[[], float] = time.perf_counter,
) -> list[dict[str, Any]]:
    """One row per size and contender: the streaming step (``step(frame, stamp)`` at the frame size,
    labels and confidence included) timed as :func:`bench_steps` times it; a contender that cannot
    be opened is skipped with a message."""
    rows = []
    for size_name in sizes:
        frames = camera_frames(SIZES[size_name])
        for name, opener in contenders.items():
            try:
                segmenter = opener()
            except (ValueError, ImportError, OSError) as exc:
                say(f"  side by side {size_name}: {name} cannot be opened ({exc}); skipped")
                continue
            stats = time_stream(segmenter, frames, warmup=warmup, steps=steps, clock=clock)
            rows.append({"size": size_name, "contender": name, **stats.to_dict()})
            say(
                f"  side by side {size_name:>8} {name:<14} p50 {stats.p50_ms:7.1f} ms  "
                f"p95 {stats.p95_ms:7.1f} ms  {stats.fps:6.1f} FPS"
            )
    return rows


def side_by_side_ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per size: peer / t2g (fp32 and int8) and fp32 / int8, ratios of p50."""
    p50 = {(r["size"], r["contender"]): r["p50_ms"] for r in rows}
    pairs = [(PEER, T2G_FP32), (PEER, T2G_INT8), (T2G_FP32, T2G_INT8)]
    return [
        {"size": size, "ratio": f"{a} / {b}", "value": p50[(size, a)] / p50[(size, b)]}
        for size in dict.fromkeys(r["size"] for r in rows)
        for a, b in pairs
        if (size, a) in p50 and (size, b) in p50
    ]
