"""Does the per-frame model flicker on ego-videos about as much as on real dash-cam video?

Runs the shipped per-frame checkpoint (onnxruntime, 1 thread) on
  (a) ego-videos (``t2g_core.data.ego_video``) rendered from CamVid TRAIN frames at the real
      video's frame rate (and, for comparison, the affine pseudo-clips the feature bank uses today);
  (b) the real dash-cam clips in ``<data_root>/video`` (evaluation only, never training),
at each ``--strides`` (real video subsampled, pseudo-videos rendered at the same rate), and reports
the flicker rate (``t2g_core.metrics.flicker_rate``: share of gray-stable pixels, |dgray| <= 20,
whose predicted label changes between consecutive frames) pooled over videos, and the ratio
ego-video / real. Also times ``render_ego_video`` per frame on one OpenCV thread.

Writes ``<out>.md`` and ``<out>.json``. Run: ``nice -n 15 python scripts/pseudo_video_flicker.py``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import cv2
import numpy as np

from t2g_core.data.camvid import CAMVID_VOID_ID, CamVidSplit
from t2g_core.data.ego_video import EgoVideoConfig, render_ego_video
from t2g_core.data.pseudo_clip import MotionRange, render_pseudo_clip, sample_motion, sample_times
from t2g_core.evaluation.sources import load_video_clips
from t2g_core.inference import open_segmenter
from t2g_core.metrics import FlickerResult, flicker_rate


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", default="checkpoints/perframe_lite0_camvid.pt")
    parser.add_argument("--data-root", default="../shared/data")
    parser.add_argument(
        "--videos", type=int, default=20, help="ego-videos, one per CamVid train frame"
    )
    parser.add_argument("--real-fps", type=float, default=25.0, help="the real clips' frame rate")
    parser.add_argument(
        "--strides",
        type=int,
        nargs="+",
        default=[1, 4],
        help="real video subsampled by each; pseudo-videos at real-fps / stride",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--backend", default="onnxruntime")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="results/pseudo_video_flicker")
    return parser.parse_args()


def _run(segmenter, frames, stamps_s) -> FlickerResult:
    """Stream one video from a cleared memory; flicker on its gray-stable pixels."""
    segmenter.reset("new video")
    preds = [segmenter.step(frame, float(stamp)).labels for frame, stamp in zip(frames, stamps_s)]
    return flicker_rate(preds, frames=frames)


def _pooled(results: list[FlickerResult]) -> dict:
    total = FlickerResult()
    for result in results:
        total = total.merge(result)
    rates = [r.rate for r in results]
    return {
        "flicker": total.rate,
        "videos": len(results),
        "per_video_min": min(rates),
        "per_video_median": float(np.median(rates)),
        "per_video_max": max(rates),
    }


def _render_ego(loaded, *, config: EgoVideoConfig, seed: int):
    """Ego-videos of (image, labels) pairs, and the render cost per frame (ms wall, ms CPU)."""
    videos, wall, cpu = [], 0.0, 0.0
    for index, (image, labels) in enumerate(loaded):
        wall_0, cpu_0 = time.perf_counter(), time.process_time()
        videos.append(
            render_ego_video(
                image,
                labels,
                rng=np.random.default_rng([seed, index]),
                config=config,
                void_id=CAMVID_VOID_ID,
            )
        )
        wall += time.perf_counter() - wall_0
        cpu += time.process_time() - cpu_0
    frames = len(loaded) * config.length
    return videos, 1000.0 * wall / frames, 1000.0 * cpu / frames


def _affine(loaded, *, fps: float, length: int, seed: int):
    """Today's feature-bank pseudo-videos (affine motion of a clean still), same frames and rate."""
    clips = []
    for index, (image, labels) in enumerate(loaded):
        rng = np.random.default_rng([seed, 1, index])
        times = sample_times(rng, clip_len=length, gap_s=1.0 / fps, gap_jitter=0.2)
        clips.append(
            render_pseudo_clip(
                image,
                labels,
                motion=sample_motion(rng, MotionRange()),
                times_s=times,
                target_index=-1,
                void_id=CAMVID_VOID_ID,
            )
        )
    return clips


def _measure(segmenter, loaded, clips, *, stride: int, real_fps: float, seed: int) -> dict:
    fps = real_fps / stride
    config = dataclasses.replace(EgoVideoConfig(), fps_range=(fps, fps))
    ego, wall_ms, cpu_ms = _render_ego(loaded, config=config, seed=seed)
    ego_flicker = _pooled([_run(segmenter, list(v.frames), v.times_s) for v in ego])
    affine = _affine(loaded, fps=fps, length=config.length, seed=seed)
    affine_flicker = _pooled([_run(segmenter, list(c.frames), c.times_s) for c in affine])
    real_results = [_run(segmenter, list(c.frames[::stride]), c.stamps_s[::stride]) for c in clips]
    real_flicker = _pooled(real_results)
    real_flicker["clips"] = {c.name: r.rate for c, r in zip(clips, real_results)}
    return {
        "stride": stride,
        "fps": fps,
        "render_ms_per_frame": wall_ms,
        "render_cpu_ms_per_frame": cpu_ms,
        "ego_video": ego_flicker,
        "affine_pseudo_clip": affine_flicker,
        "real_video": real_flicker,
        "ratio_ego_to_real": ego_flicker["flicker"] / real_flicker["flicker"],
        "ratio_affine_to_real": affine_flicker["flicker"] / real_flicker["flicker"],
    }


def main() -> None:
    args = _parse_args()
    cv2.setNumThreads(1)
    split = CamVidSplit(args.data_root, split="train")  # train only: never val or test here
    picks = np.random.default_rng(args.seed).choice(
        len(split.frames), size=args.videos, replace=False
    )
    loaded = [split.load(split.frames[i]) for i in sorted(picks)]
    clips = load_video_clips(
        args.data_root, pattern="video/*/*.mp4", fps=args.real_fps, width=480, max_frames=None
    )
    segmenter = open_segmenter(
        args.checkpoint, backend=args.backend, threads=args.threads, max_gap_s=1.0
    )
    rates = [
        _measure(segmenter, loaded, clips, stride=stride, real_fps=args.real_fps, seed=args.seed)
        for stride in args.strides
    ]
    defaults = dataclasses.asdict(EgoVideoConfig())
    report = {
        "checkpoint": args.checkpoint,
        "backend": args.backend,
        "threads": args.threads,
        "videos": args.videos,
        "frames_per_video": defaults["length"],
        "seed": args.seed,
        "ego_config": {k: v for k, v in defaults.items() if k != "fps_range"},
        "rates": rates,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    markdown = _markdown(report)
    out.with_suffix(".md").write_text(markdown)
    print(markdown)


def _markdown(report: dict) -> str:
    def pct(entry):
        return (
            f"{100 * entry['flicker']:.2f} % ({100 * entry['per_video_min']:.1f} / "
            f"{100 * entry['per_video_median']:.1f} / {100 * entry['per_video_max']:.1f})"
        )

    lines = [
        "# Per-frame flicker: ego-videos vs real dash-cam video",
        "",
        f"`scripts/pseudo_video_flicker.py`: `{report['checkpoint']}` on {report['backend']} "
        f"({report['threads']} thread); {report['videos']} ego-videos of "
        f"{report['frames_per_video']} frames from CamVid train frames (seed {report['seed']}), "
        "default `EgoVideoConfig` ranges with the fps fixed to the real video's rate at each",
        "stride.",
        "Flicker: share of gray-stable pixels (|dgray| <= 20) whose predicted label changes",
        "between consecutive frames (`t2g_core.metrics.flicker_rate`), pooled over videos; in",
        "brackets the per-video min / median / max.",
        "",
        "| stride (fps) | real dash-cam (2 clips) | ego-videos | ego / real "
        "| affine pseudo-clips (bank today) | affine / real |",
        "|---|---|---|---|---|---|",
    ]
    for rate in report["rates"]:
        lines.append(
            f"| {rate['stride']} ({rate['fps']:g}) | {pct(rate['real_video'])} "
            f"| {pct(rate['ego_video'])} | **{rate['ratio_ego_to_real']:.2f}** "
            f"| {pct(rate['affine_pseudo_clip'])} | {rate['ratio_affine_to_real']:.2f} |"
        )
    lines.append("")
    for rate in report["rates"]:
        clips = ", ".join(
            f"{name} {100 * value:.2f} %" for name, value in rate["real_video"]["clips"].items()
        )
        lines.append(
            f"- stride {rate['stride']}: real clips {clips}; render_ego_video "
            f"{rate['render_ms_per_frame']:.1f} ms wall / {rate['render_cpu_ms_per_frame']:.1f} ms "
            "CPU per 480x360 frame (one OpenCV thread, shared 2-core machine)"
        )
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
