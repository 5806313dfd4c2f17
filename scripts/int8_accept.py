#!/usr/bin/env python3
"""The int8 backbone against fp32: side by side on CamVid val, and their speed.

    python scripts/int8_accept.py                                  # or: make int8-accept
    python scripts/int8_accept.py --checkpoint checkpoints/t2g_lite0_camvid.pt --max-frames 6 \\
        --steps 10                                                 # smoke run -> results/quick/

For every checkpoint (default: the two shipped ones), on onnxruntime:
1. Accuracy and stability on the labelled 15 Hz CamVid val run (``config/eval.yaml`` val_15hz: every
   val frame, in order), each precision streamed from a fresh state at every stride of
   ``--strides``: mIoU, VC_8 (mean of windows) and flicker (GT-stable pixels; ``score_val_strides``,
   what ``make bench`` runs), and the share of pixels whose label differs between the precisions.
2. Latency at 480x360 on ``--threads`` threads: the streaming step (``step(frame, stamp)`` on val
   frames) and the encode graph alone (resize + backbone + heads), fp32 and int8 interleaved step
   by step so a load change on the shared machine hits both alike.
3. The backbone alone: its share of each encode graph's kernel time in onnxruntime's profiler times
   that graph's interleaved wall-clock p50, and the ratio fp32 / int8.

What int8 changes is judged by the release gate, not here: ``make release-check`` with the candidate
scored at ``--precision int8`` (issue 23; ``results/release/v3int8_vs_v3.md``). This script reports the
differences on val at every stride and the speed, and changes no default.

The int8 export is calibrated on CamVid train frames only (``t2g_core.export.quantize``), never on
val, so val stays a fair judge. Writes ``results/int8.json`` and ``results/int8.md`` (a smoke run
with ``--max-frames`` writes under ``results/quick/``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import cv2
import numpy as np

from t2g_core import load_checkpoint
from t2g_core.checkpoint import LoadedCheckpoint
from t2g_core.cpuinfo import cpu_flags, cpu_model
from t2g_core.data.calibration import camvid_calibration_frames
from t2g_core.evaluation.config import load_eval_config
from t2g_core.evaluation.environment import usable_cores, utc_now
from t2g_core.evaluation.sources import load_val_run
from t2g_core.evaluation.stage_profile import encode_shares
from t2g_core.evaluation.targets import score_val_strides
from t2g_core.export import ENCODE_FILE, cached_export
from t2g_core.export.quantize import PRECISIONS, RECIPE
from t2g_core.inference import open_segmenter
from t2g_core.inference.ort_streaming import load_session

REPO = Path(__file__).resolve().parents[1]
SHIPPED = ("checkpoints/t2g_lite0_camvid.pt", "checkpoints/perframe_lite0_camvid.pt")
VC_WINDOW = 8
LATENCY_SIZE = (360, 480)  # (H, W)


@dataclass(frozen=True)
class PrecisionContender:
    """One checkpoint at one precision, as ``score_val_strides`` streams it (name + segmenter)."""

    name: str
    checkpoint: str
    loaded: LoadedCheckpoint
    threads: int

    def segmenter(self, *, max_gap_s: float, device: str):
        return open_segmenter(
            self.checkpoint,
            backend="onnxruntime",
            device=device,
            threads=self.threads,
            max_gap_s=max_gap_s,
            loaded=self.loaded,
            precision=self.name,
            log=lambda line: print(f"  {line}", flush=True),
        )


def latency_ms(steps_by_name: dict, *, warmup: int, steps: int) -> dict[str, dict[str, float]]:
    """Time ``step(i)`` of every entry, interleaved step by step after ``warmup`` untimed rounds."""
    times: dict[str, list[float]] = {name: [] for name in steps_by_name}
    for i in range(warmup + steps):
        for name, step in steps_by_name.items():
            start = time.perf_counter()
            step(i)
            if i >= warmup:
                times[name].append((time.perf_counter() - start) * 1000.0)
    return {
        name: {
            "p50_ms": float(np.percentile(t, 50)),
            "p95_ms": float(np.percentile(t, 95)),
            "mean_ms": float(np.mean(t)),
            "steps": len(t),
        }
        for name, t in times.items()
    }


def _finite(value):
    """``value`` with every NaN (a VC window longer than a smoke run) as None, for strict JSON."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return None if isinstance(value, float) and value != value else value


SIMD = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8")


def cpu_description() -> dict:
    """Model name, usable cores and the SIMD flags int8 kernels depend on."""
    flags = cpu_flags()
    return {"model": cpu_model(), "cores": usable_cores(), "simd": [f for f in SIMD if f in flags]}


def evaluate_checkpoint(path: str, args, cfg) -> dict:
    print(f"{path}:", flush=True)
    loaded = load_checkpoint(path)
    contenders = [PrecisionContender(p, path, loaded, args.threads) for p in PRECISIONS]
    exports = {
        p: cached_export(
            path,
            model=loaded.model,
            precision=p,
            calibration=partial(camvid_calibration_frames, args.data_root),
            log=lambda line: print(f"  {line}", flush=True),
        )
        for p in PRECISIONS
    }
    val = cfg.targets.val_15hz
    run = load_val_run(
        args.data_root,
        sequence=val.sequence,
        first_frame=val.first_frame,
        last_frame=val.last_frame,
        frame_step=val.frame_step,
        max_frames=args.max_frames,
    )
    print(f"  val: {len(run)} frames of {run.name}, strides {args.strides}", flush=True)
    started = time.monotonic()
    scores = score_val_strides(
        contenders,
        run,
        strides=args.strides,
        vc_windows=(VC_WINDOW,),
        num_classes=loaded.label_set.num_classes,
        void_id=loaded.label_set.void_id,
        max_gap_s=cfg.max_gap_s,
        device="cpu",
        compare=("fp32", "int8"),
    )
    accuracy = {
        p: {
            str(stride): {
                "miou": s.mean_iou,
                f"vc_{VC_WINDOW}": s.vc[VC_WINDOW].mean_of_windows,
                "flicker": s.flicker.rate,
            }
            for stride, s in scores.per_model[p].items()
        }
        for p in PRECISIONS
    }
    changed = {str(stride): c.rate for stride, c in scores.changed.items()}
    print(f"  scored in {time.monotonic() - started:.0f} s", flush=True)

    height, width = LATENCY_SIZE
    frames = [
        img if img.shape[:2] == (height, width) else cv2.resize(img, (width, height))
        for img in run.images
    ]
    segmenters = {c.name: c.segmenter(max_gap_s=cfg.max_gap_s, device="cpu") for c in contenders}
    step = latency_ms(
        {
            p: (lambda i, s=s: s.step(frames[i % len(frames)], i / 15.0))
            for p, s in segmenters.items()
        },
        warmup=args.warmup,
        steps=args.steps,
    )
    encoders = {p: load_session(exports[p] / ENCODE_FILE, args.threads) for p in PRECISIONS}
    encode = latency_ms(
        {
            p: (lambda i, s=s: s.run(None, {"frame": frames[i % len(frames)]}))
            for p, s in encoders.items()
        },
        warmup=args.warmup,
        steps=args.steps,
    )
    with tempfile.TemporaryDirectory(prefix="t2g_int8_") as work:
        shares = {
            p: encode_shares(
                exports[p], frames[0], threads=args.threads, runs=args.steps, work=Path(work)
            )
            for p in PRECISIONS
        }
    backbone = {p: shares[p]["backbone"] * encode[p]["p50_ms"] for p in PRECISIONS}
    first = str(args.strides[0])
    return {
        "checkpoint": path,
        "val_frames": len(run),
        "accuracy": accuracy,
        "labels_changed_fp32_vs_int8": changed,
        "step_latency": step,
        "encode_latency": encode,
        "backbone_p50_ms": backbone,
        "first_stride": int(first),
        "exports": {p: str(folder) for p, folder in exports.items()},
    }


def write_markdown(results: dict, path: Path) -> None:
    lines = ["# int8 backbone vs fp32 (onnxruntime)", ""]
    if results["smoke"]:
        lines += [f"**Smoke run ({results['max_frames']} val frames): not a result.**", ""]
    env = results["environment"]
    lines += [
        f"{results['created']}; onnxruntime {env['onnxruntime']}, {env['cpu']['model']} "
        f"({env['cpu']['cores']} cores, {', '.join(env['cpu']['simd'])}), {results['threads']} "
        f"threads; load average {env['load_before'][0]:.2f} before, {env['load_after'][0]:.2f} "
        "after (the machine is shared: latency is only comparable within this run).",
        "",
        "int8 = the whole frozen backbone statically quantised (onnxruntime QDQ, recipe "
        f"{results['recipe']['recipe_version']}: int8 per-channel weights, reduce_range "
        f"{results['recipe']['reduce_range']}, uint8 activations, MinMax-calibrated on 128 CamVid "
        "train frames); the resize, heads, decoders and gate stay float32. Backbone = its share of "
        "the encode graph's kernel time (onnxruntime profiler) x the encode p50. Whether int8 may "
        "ship is the release gate's call (`make release-check`, the candidate scored with "
        "`--precision int8`), not this table's.",
        "",
        "| checkpoint | precision | val mIoU | VC_8 | flicker | labels changed vs fp32 | "
        "step p50 / p95 ms | encode p50 ms | backbone p50 ms |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results["checkpoints"]:
        first = str(r["first_stride"])
        for p in PRECISIONS:
            a = r["accuracy"][p][first]
            changed = (
                "" if p == "fp32" else f"{100 * r['labels_changed_fp32_vs_int8'][first]:.2f} %"
            )
            step, enc = r["step_latency"][p], r["encode_latency"][p]
            lines.append(
                f"| {Path(r['checkpoint']).name} | {p} | {100 * a['miou']:.2f} | "
                f"{a['vc_8']:.4f} | {100 * a['flicker']:.3f} % | {changed} | "
                f"{step['p50_ms']:.1f} / {step['p95_ms']:.1f} | {enc['p50_ms']:.1f} | "
                f"{r['backbone_p50_ms'][p]:.1f} |"
            )
    lines += ["", "fp32 / int8, ratios of p50 in this run:", ""]
    for r in results["checkpoints"]:
        ratio = {
            name: r[key]["fp32"]["p50_ms"] / r[key]["int8"]["p50_ms"]
            for name, key in (("step", "step_latency"), ("encode", "encode_latency"))
        }
        backbone = r["backbone_p50_ms"]["fp32"] / r["backbone_p50_ms"]["int8"]
        lines.append(
            f"- {Path(r['checkpoint']).name}: backbone **{backbone:.2f}x**, encode graph "
            f"{ratio['encode']:.2f}x, streaming step {ratio['step']:.2f}x"
        )
    strides = sorted({s for r in results["checkpoints"] for s in r["accuracy"]["fp32"]}, key=int)
    if len(strides) > 1:
        lines += ["", "Per stride (mIoU / flicker %, fp32 -> int8):", ""]
        lines += ["| checkpoint | " + " | ".join(f"stride {s}" for s in strides) + " |"]
        lines += ["|---|" + "---|" * len(strides)]
        for r in results["checkpoints"]:
            cells = []
            for s in strides:
                f, i = r["accuracy"]["fp32"][s], r["accuracy"]["int8"][s]
                cells.append(
                    f"{100 * f['miou']:.2f} -> {100 * i['miou']:.2f} / "
                    f"{100 * f['flicker']:.3f} -> {100 * i['flicker']:.3f}"
                )
            lines.append(f"| {Path(r['checkpoint']).name} | " + " | ".join(cells) + " |")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", action="append", help=f"repeatable; default {SHIPPED}")
    parser.add_argument("--data-root", default=str(REPO / ".." / "shared" / "data"))
    parser.add_argument("--eval-config", default=str(REPO / "config" / "eval.yaml"))
    parser.add_argument("--strides", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=100, help="timed latency steps")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument(
        "--max-frames", type=int, default=None, help="smoke run: first N val frames"
    )
    parser.add_argument("--out-dir", default=str(REPO / "results"))
    args = parser.parse_args(argv)
    checkpoints = args.checkpoint or [str(REPO / p) for p in SHIPPED]
    cfg = load_eval_config(args.eval_config)
    out = Path(args.out_dir) / ("quick" if args.max_frames is not None else "")
    out.mkdir(parents=True, exist_ok=True)
    import onnxruntime

    load_before = os.getloadavg()
    per_checkpoint = [evaluate_checkpoint(path, args, cfg) for path in checkpoints]
    results = {
        "created": utc_now(),
        "smoke": args.max_frames is not None,
        "max_frames": args.max_frames,
        "threads": args.threads,
        "latency_frame_size": list(LATENCY_SIZE),
        "environment": {
            "onnxruntime": onnxruntime.__version__,
            "python": sys.version.split()[0],
            "cpu": cpu_description(),
            "load_before": list(load_before),
            "load_after": list(os.getloadavg()),
        },
        "recipe": RECIPE,
        "checkpoints": per_checkpoint,
    }
    text = json.dumps(_finite(results), indent=2, allow_nan=False)
    (out / "int8.json").write_text(text + "\n", encoding="utf-8")
    write_markdown(results, out / "int8.md")
    print((out / "int8.md").read_text(encoding="utf-8"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
