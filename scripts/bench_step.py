#!/usr/bin/env python3
"""Per-frame cost of ``StreamingSegmenter.step`` at 480x360, eager torch on CPU, warm, median of N steps.

Compares the temporal model (config/model_t2g.yaml, T = 4), the per-frame model (config/model_perframe.yaml)
and the per-frame model with the EMA smoother, and splits the temporal step into backbone / encode /
decode. Trainable modules are randomly initialised: speed does not depend on the weights.

    python scripts/bench_step.py --threads 2 --steps 30
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from t2g_core import StreamingSegmenter, build_model, frames_to_tensor, load_model_config  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def _bench(fns: dict[str, Callable[[int], object]], steps: int, warmup: int) -> dict[str, float]:
    """Median wall time (ms) of each ``fn(i)``, round-robin (one call of each per round) so that load from
    other processes on the shared cores hits every variant alike."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for i in range(warmup + steps):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn(i)
            if i >= warmup:
                times[name].append(time.perf_counter() - start)
    return {name: 1e3 * statistics.median(t) for name, t in times.items()}


def _stepper(segmenter: StreamingSegmenter, frames: list[np.ndarray]) -> Callable[[int], object]:
    return lambda i: segmenter.step(frames[i % len(frames)], 0.04 * i)  # 25 fps stamps, never a reset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--steps", type=int, default=30, help="timed steps (median reported)")
    parser.add_argument("--warmup", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (360, 480, 3), dtype=np.uint8) for _ in range(8)]
    t2g = build_model(load_model_config(REPO / "config" / "model_t2g.yaml")).eval()
    perframe = build_model(load_model_config(REPO / "config" / "model_perframe.yaml")).eval()

    image = frames_to_tensor(frames[0])
    with torch.inference_mode():
        feats = t2g.encode_frames(image)
        memory = [feats] * t2g.memory_frames
        offsets = torch.tensor([[-0.12, -0.08, -0.04, 0.0]])
        rows = _bench(
            {
                "backbone only (Lite0)": lambda i: t2g.backbone(image),
                "encode_frames (backbone + SQ + pixel dec + memory K/V)": lambda i: t2g.encode_frames(image),
                "decode, T=4 memory": lambda i: t2g.decode(feats, memory, offsets),
                "decode, T=1 memory": lambda i: t2g.decode(feats, [feats], torch.zeros(1, 1)),
            },
            args.steps,
            args.warmup,
        )
    steps = {
        "step: T2G temporal (T=4)": StreamingSegmenter(t2g, max_gap_s=1.0),
        "step: per-frame (T=1)": StreamingSegmenter(perframe, max_gap_s=1.0),
        "step: per-frame + EMA (alpha=0.5)": StreamingSegmenter(perframe, max_gap_s=1.0, ema_alpha=0.5),
    }
    rows.update(_bench({name: _stepper(seg, frames) for name, seg in steps.items()}, args.steps, args.warmup))

    trainable = sum(p.numel() for p in t2g.trainable.parameters())
    frozen = sum(p.numel() for p in t2g.backbone.parameters())
    print(
        f"480x360 frames, eager torch {torch.__version__}, {args.threads} thread(s), "
        f"median of {args.steps} warm steps"
    )
    for name, ms in rows.items():
        print(f"  {name:<58} {ms:7.1f} ms")
    parts = {name: sum(p.numel() for p in module.parameters()) for name, module in t2g.trainable.items()}
    print(f"trainable parameters: {trainable:,} ({', '.join(f'{k} {v:,}' for k, v in parts.items())})")
    print(f"frozen backbone parameters: {frozen:,}")


if __name__ == "__main__":
    main()
