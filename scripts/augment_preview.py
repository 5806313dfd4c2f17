#!/usr/bin/env python3
"""Contact sheet of CamVid train frames under each training augmentation (a visual check of augment.py).

    python scripts/augment_preview.py OUT.png [--frames 3] [--seed 0] [--severity 0.7]

Rows are frames; columns are: the input, the photometric draw alone (colour, white balance, tone curve),
each synthetic weather effect of ``t2g_core/data/weather_synth.py`` at ``--severity``, then a 0.5x and a 2x
crop, then a draw of the default ``AugmentConfig`` (what the feature bank gets without a yaml override).
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import cv2
import numpy as np

from t2g_core.data.augment import AugmentConfig, augment_clip
from t2g_core.data.camvid import DEFAULT_DATA_ROOT, CamVidSplit
from t2g_core.data.weather_synth import EFFECTS

_CROP = (288, 384)
_OFF = dict(
    scale_range=(1.0, 1.0),
    hflip_prob=0.0,
    photometric_prob=0.0,
    tone_curve_prob=0.0,
    grayscale_prob=0.0,
    blur_prob=0.0,
    noise_prob=0.0,
    crop_size=_CROP,
    **{f"{name}_prob": 0.0 for name in EFFECTS},
)


def _columns(severity: float) -> list[tuple[str, AugmentConfig]]:
    off = AugmentConfig(**_OFF)
    columns = [
        ("input", off),
        ("photometric", dataclasses.replace(off, photometric_prob=1.0, tone_curve_prob=1.0)),
    ]
    for name in EFFECTS:
        sev = (severity, severity)
        columns.append(
            (name, dataclasses.replace(off, **{f"{name}_prob": 1.0, f"{name}_severity": sev}))
        )
    columns.append(("scale 0.5", dataclasses.replace(off, scale_range=(0.5, 0.5))))
    columns.append(("scale 2", dataclasses.replace(off, scale_range=(2.0, 2.0))))
    columns.append(("default", AugmentConfig(crop_size=_CROP)))
    return columns


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="PNG path to write")
    parser.add_argument("--data-root", default=str(DEFAULT_DATA_ROOT))
    parser.add_argument("--frames", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--severity", type=float, default=0.7)
    parser.add_argument(
        "--cell-width", type=int, default=192, help="px per thumbnail (keeps it small)"
    )
    args = parser.parse_args(argv)
    split = CamVidSplit(args.data_root, split="train")
    # Spread the rows over the split: different drives, light and scenes.
    picks = np.linspace(0, len(split.frames) - 1, args.frames).round().astype(int)
    columns = _columns(args.severity)
    cell_w = args.cell_width
    cell_h = round(cell_w * _CROP[0] / _CROP[1])
    sheet = np.full((20 + args.frames * cell_h, len(columns) * cell_w, 3), 255, np.uint8)
    for col, (title, _) in enumerate(columns):
        cv2.putText(sheet, title, (col * cell_w + 4, 15), cv2.FONT_HERSHEY_SIMPLEX, 0.45, 0, 1)
    for row, index in enumerate(picks):
        image, labels = split.load(split.frames[int(index)])
        for col, (_, config) in enumerate(columns):
            rng = np.random.default_rng([args.seed, row, col])
            frames, _ = augment_clip(image[None], labels[None], rng=rng, config=config, void_id=11)
            thumb = cv2.resize(frames[0], (cell_w, cell_h), interpolation=cv2.INTER_AREA)
            top = 20 + row * cell_h
            sheet[top : top + cell_h, col * cell_w : (col + 1) * cell_w] = thumb
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    print(f"wrote {args.out} ({len(picks)} frames x {len(columns)} columns)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
