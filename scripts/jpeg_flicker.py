#!/usr/bin/env python3
"""Flicker on real dash-cam video delivered as JPEG CompressedImage, quality 85 vs 100.

    python scripts/jpeg_flicker.py                    # or: make jpeg-flicker
    python scripts/jpeg_flicker.py --backend torch --threads 1

Cameras usually publish JPEG at about quality 85, and JPEG noise changes labels from frame to frame
on its own. For each real clip in ``../shared/data/video`` (evaluation data only, never trained on)
and each quality this:

1. writes every frame, resized to ``--width`` px wide (aspect kept, ``cv2.INTER_AREA``), as a
   ``sensor_msgs/CompressedImage`` bag stamped at ``--fps`` (``make_sample_bag.write_bag``) under
   ``runs/jpeg_flicker/<clip>_q<quality>``;
2. runs ``t2g-bag-eval`` on it (``t2g_ros.bags.eval.evaluate``, no side-by-side video): the T2G
   checkpoint with its full memory, the same checkpoint at memory 1, and the per-frame baseline
   checkpoint, all on ``--backend``.

Per clip and quality it reports the flicker (``t2g_core.meters.FLICKER_PROTOCOL``) of T2G, of the
per-frame baseline, their ratio, the flicker of T2G at memory 1, the ratio full / memory 1 and the
share of labels the memory changes. Written: ``results/jpeg_flicker.json`` and
``results/jpeg_flicker.md`` (a table to quote), with the command line, the checkpoints' SHA-256 and
the date.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
from make_sample_bag import TOPIC, write_bag  # scripts/ is the script's own directory

from t2g_core.export import file_sha256
from t2g_core.inference import BACKEND_NAMES, DEFAULT_BACKEND
from t2g_core.meters import FLICKER_PROTOCOL, ratio
from t2g_ros.bags.eval import evaluate

REPO = Path(__file__).resolve().parents[1]
VIDEO_DIR = REPO.parent / "shared" / "data" / "video"
# Clip name -> file under VIDEO_DIR (see its README: 25 fps, 221 and 200 frames).
CLIPS = {
    "solidWhiteRight": "udacity_solidWhiteRight/solidWhiteRight.mp4",
    "project_video_short": "udacity_project_video_short/project_video_short.mp4",
}
QUALITIES = (85, 100)
SHA_DIGITS = 12


def scaled_size(video: Path, *, width: int) -> tuple[int, int]:
    """``(width, height)`` of ``video`` scaled to ``width`` px wide, aspect kept (height rounded)."""
    capture = cv2.VideoCapture(str(video))
    try:
        if not capture.isOpened():
            raise OSError(f"cannot open video {video}")
        source_w = capture.get(cv2.CAP_PROP_FRAME_WIDTH)
        source_h = capture.get(cv2.CAP_PROP_FRAME_HEIGHT)
    finally:
        capture.release()
    if source_w <= 0 or source_h <= 0:
        raise ValueError(f"{video} reports no frame size")
    return width, max(1, round(width * source_h / source_w))


def measure_clip(
    video: Path,
    *,
    name: str,
    quality: int,
    out_dir: Path,
    checkpoint: Path,
    baseline_checkpoint: Path,
    width: int,
    fps: float,
    backend: str,
    threads: int,
    progress: bool,
) -> dict[str, Any]:
    """Bag every frame of ``video`` at JPEG ``quality`` and evaluate it; one row of the table.

    The bag ``out_dir/<name>_q<quality>`` and the evaluation ``out_dir/<name>_q<quality>_eval``
    (+ ``.metrics.json``) are replaced if they exist.
    """
    size = scaled_size(video, width=width)
    bag = out_dir / f"{name}_q{quality}"
    evaluated = out_dir / f"{bag.name}_eval"
    for path in (bag, evaluated):
        shutil.rmtree(path, ignore_errors=True)
    written = write_bag(
        video,
        bag,
        quality=quality,
        width=size[0],
        height=size[1],
        frames=None,
        start_frame=0,
        fps=fps,
    )
    report = evaluate(
        bag,
        TOPIC,
        evaluated,
        checkpoint=checkpoint,
        baseline_checkpoint=baseline_checkpoint,
        preview_rows=0,
        threads=threads,
        progress=progress,
        video=False,
        backend=backend,
    )
    if report["error"] or report["frames"]["dropped_bad"]:
        raise RuntimeError(f"{bag}: {report['error'] or report['frames']['problems']}")
    flicker = report["flicker"]
    return {
        "clip": name,
        "quality": quality,
        "frames": report["frames"]["out"],
        "size": list(size),
        "jpeg_bytes_per_frame": round(written["jpeg_bytes"] / written["frames"]),
        "flicker_t2g": flicker["t2g"],
        "flicker_per_frame": flicker["baseline"],
        "ratio_t2g_per_frame": ratio(flicker["t2g"], flicker["baseline"]),
        "flicker_memory_1": flicker["memory_1"],
        "ratio_full_memory_1": ratio(flicker["t2g"], flicker["memory_1"]),
        "labels_changed_by_memory": report["memory_ablation"]["labels_changed"],
        "bag": str(bag),
        "metrics": report["output"]["metrics"],
    }


def measure(
    videos: dict[str, Path],
    *,
    out_dir: Path,
    checkpoint: Path,
    baseline_checkpoint: Path,
    qualities: tuple[int, ...] = QUALITIES,
    width: int = 480,
    fps: float = 25.0,
    backend: str = DEFAULT_BACKEND,
    threads: int = 1,
    command: str = "",
    progress: bool = True,
) -> dict[str, Any]:
    """Every clip of ``videos`` (name -> video file) at every quality: the report (``rows``)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = [
        measure_clip(
            video,
            name=name,
            quality=quality,
            out_dir=out_dir,
            checkpoint=checkpoint,
            baseline_checkpoint=baseline_checkpoint,
            width=width,
            fps=fps,
            backend=backend,
            threads=threads,
            progress=progress,
        )
        for name, video in videos.items()
        for quality in qualities
    ]
    return {
        "what": "flicker of T2G vs the per-frame baseline and vs its own memory 1, on real video "
        "delivered as JPEG CompressedImage (t2g-bag-eval)",
        "flicker_protocol": FLICKER_PROTOCOL,
        "command": command,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "checkpoints": {
            "t2g": {"path": str(checkpoint), "sha256": file_sha256(checkpoint)[:SHA_DIGITS]},
            "per_frame": {
                "path": str(baseline_checkpoint),
                "sha256": file_sha256(baseline_checkpoint)[:SHA_DIGITS],
            },
        },
        "backend": backend,
        "threads": threads,
        "width": width,
        "fps": fps,
        "videos": {name: str(video) for name, video in videos.items()},
        "rows": rows,
    }


def to_markdown(report: dict[str, Any]) -> str:
    """The report as a small table (one row per clip and quality) with its provenance below."""
    lines = [
        "| clip | JPEG q | frames | flicker T2G | flicker per-frame | T2G / per-frame "
        "| flicker T2G memory 1 | full / memory 1 | labels changed by the memory |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in report["rows"]:
        lines.append(
            f"| {row['clip']} | {row['quality']} | {row['frames']} | {_pct(row['flicker_t2g'])} "
            f"| {_pct(row['flicker_per_frame'])} | {_num(row['ratio_t2g_per_frame'])} "
            f"| {_pct(row['flicker_memory_1'])} | {_num(row['ratio_full_memory_1'])} "
            f"| {_pct(row['labels_changed_by_memory'])} |"
        )
    ckpts = report["checkpoints"]
    size = "x".join(str(v) for v in report["rows"][0]["size"]) if report["rows"] else "?"
    lines += [
        "",
        f"Every frame at {size} ({report['width']} px wide), {report['fps']:g} fps stamps, through "
        f"`t2g-bag-eval` on {report['backend']} ({report['threads']} thread(s)). Flicker: "
        f"{report['flicker_protocol']}.",
        f"T2G `{ckpts['t2g']['path']}` (sha256 {ckpts['t2g']['sha256']}), per-frame "
        f"`{ckpts['per_frame']['path']}` (sha256 {ckpts['per_frame']['sha256']}); "
        f"{report['date']}; `{report['command']}`.",
    ]
    return "\n".join(lines) + "\n"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.2f} %"


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", type=Path, default=Path("checkpoints/t2g_lite0_camvid.pt"))
    parser.add_argument(
        "--baseline-checkpoint", type=Path, default=Path("checkpoints/perframe_lite0_camvid.pt")
    )
    parser.add_argument("--backend", choices=BACKEND_NAMES, default=DEFAULT_BACKEND)
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for inference")
    parser.add_argument(
        "--video-dir", type=Path, default=VIDEO_DIR, help="folder holding the clips of CLIPS"
    )
    parser.add_argument("--width", type=int, default=480, help="frame width, aspect kept")
    parser.add_argument("--fps", type=float, default=25.0, help="frame rate of the stamps")
    parser.add_argument(
        "--runs",
        type=Path,
        default=Path("runs/jpeg_flicker"),
        help="where the bags and their evaluations go",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("results/jpeg_flicker"), help="writes OUT.json and OUT.md"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    videos = {name: args.video_dir / path for name, path in CLIPS.items()}
    missing = [
        str(v)
        for v in (*videos.values(), args.checkpoint, args.baseline_checkpoint)
        if not v.is_file()
    ]
    if missing:
        print(f"jpeg_flicker: error: not found: {', '.join(missing)}", file=sys.stderr)
        return 1
    report = measure(
        videos,
        out_dir=args.runs,
        checkpoint=args.checkpoint,
        baseline_checkpoint=args.baseline_checkpoint,
        width=args.width,
        fps=args.fps,
        backend=args.backend,
        threads=args.threads,
        command=shlex.join(["python", "scripts/jpeg_flicker.py", *argv]),
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    json_path, md_path = args.out.with_suffix(".json"), args.out.with_suffix(".md")
    json_path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    markdown = to_markdown(report)
    md_path.write_text(markdown, encoding="utf-8")
    print(markdown, end="")
    print(f"wrote {json_path} and {md_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
