"""The stage-1 ablation table: per-frame checkpoints on the real-road regions and CamVid val.

    python scripts/ablation_table.py runs/ablation/a0 runs/ablation/a1 ... --output results/ablation.md

For each training run folder: its ``best.pt`` (or ``--checkpoint-name``) scored on the labelled frames
of the two dash-cam clips (region accuracy of sky, road, tree, car, their mean, sky labelled road; the
same JPEG q85 frames, region labels and counting as the scorecard's real-road axis,
``t2g_core.evaluation.real_road``), next to the run's validation at that checkpoint (``val.csv``: mean
per-drive mIoU, CamVid val mIoU, VC_8). A per-frame model has no state, so only the labelled frames
are segmented: seconds per run, where the scorecard's quick mode streams every frame of both clips
(minutes). Use the scorecard for anything with a memory.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import yaml

from t2g_core.checkpoint import load_checkpoint
from t2g_core.evaluation.contenders import Contender
from t2g_core.evaluation.real_road import (
    RegionTally,
    camera_frames,
    load_region_labels,
    region_masks,
    to_size,
)

CONFIG = Path("config/scorecard.yaml")


def score_regions(checkpoint: Path, *, data_root: Path, regions_file: str, quality: int) -> dict:
    """Region scores (fractions) of a per-frame checkpoint on the labelled frames of the clips."""
    loaded = load_checkpoint(checkpoint)
    if loaded.model.memory_capacity != 1:
        raise ValueError(f"{checkpoint}: not a per-frame checkpoint; use the scorecard")
    contender = Contender("perframe", "perframe", loaded, None, str(checkpoint), threads=2)
    regions = load_region_labels(data_root / regions_file)
    tally = RegionTally(regions.classes)
    for clip in regions.clips:
        frames = camera_frames(data_root / "video" / clip.path, quality=quality)
        for index, clip_regions in clip.frames.items():
            segmenter = contender.segmenter(max_gap_s=2.0, device="cpu")
            labels = segmenter.step(frames[index], 0.0).labels
            tally.add(to_size(labels, clip.size), region_masks(clip_regions, clip.size))
    return tally.scores()


def validation_row(run: Path, step: int | None) -> dict:
    """The run's ``val.csv`` row at ``step`` (None: the row of the best mean per-drive mIoU)."""
    with open(run / "val.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    if step is None:
        return max(rows, key=lambda r: float(r["val_miou"]))
    return next(r for r in rows if int(r["step"]) == step)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="training run folders")
    parser.add_argument("--checkpoint-name", default="best.pt")
    parser.add_argument("--output", type=Path, help="markdown table (printed as well)")
    args = parser.parse_args(argv)
    cfg = yaml.safe_load(CONFIG.read_text())
    data_root, spec = Path(cfg["data_root"]), cfg["real_road"]
    lines = [
        "| run | steps | sky | road | tree | car | region mean | sky called road "
        "| val mIoU (mean of drives) | CamVid val mIoU | val VC_8 |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in args.runs:
        checkpoint = run / args.checkpoint_name
        if not checkpoint.is_file():
            print(f"{run}: no {args.checkpoint_name}, skipped", file=sys.stderr)
            continue
        step = load_checkpoint(checkpoint).provenance.extra.get("step")
        val = validation_row(run, step)
        road = score_regions(
            checkpoint,
            data_root=data_root,
            regions_file=spec["regions"],
            quality=spec["jpeg_quality"],
        )
        cells = [f"{100 * road[c]:.1f}" for c in ("sky", "road", "tree", "car", "mean")]
        lines.append(
            f"| {run.name} | {step} | {' | '.join(cells)} | {100 * road['sky_as_road']:.1f} "
            f"| {100 * float(val['val_miou']):.1f} | {100 * float(val['val_miou_0016E5']):.1f} "
            f"| {float(val['val_vc8']):.3f} |"
        )
        print(lines[-1], flush=True)
    if args.output:
        command = " ".join(["python", "scripts/ablation_table.py", *(argv or sys.argv[1:])])
        header = [
            "# Stage-1 ablation: real-road regions and validation of each run's best.pt",
            "",
            f"`{command}` (runs from `make ablation`; configs in `config/ablation/`)",
            "",
        ]
        args.output.write_text("\n".join(header + lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
