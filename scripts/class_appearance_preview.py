#!/usr/bin/env python3
"""Contact sheet of CamVid train frames under class-wise appearance randomisation (class_appearance.py).

    python scripts/class_appearance_preview.py [--output results/class_appearance_preview.png]
        [--seed 0] [--frames 3] [--draws 3]

Rows are train frames spread over the split; columns are the input, ``--draws`` random draws of the default
``ClassAppearanceConfig`` (the view always recoloured), then one column per sky look forced (glare off, the
other classes as drawn). Only the train split is read.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import cv2
import numpy as np

from t2g_core.data.camvid import DEFAULT_DATA_ROOT, CamVidSplit
from t2g_core.data.class_appearance import LOOKS, ClassAppearanceConfig, recolour_by_class

_TILE = (240, 180)  # (width, height) of a thumbnail: the default sheet stays near 1 MB
_TITLE_H = 20


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default="results/class_appearance_preview.png")
    parser.add_argument("--data-root", default=str(DEFAULT_DATA_ROOT))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--frames", type=int, default=3)
    parser.add_argument("--draws", type=int, default=3)
    args = parser.parse_args(argv)
    if args.frames < 1 or args.draws < 0:
        parser.error("--frames must be >= 1 and --draws >= 0")

    split = CamVidSplit(args.data_root, split="train")
    picks = np.linspace(0, len(split.frames) - 1, args.frames).round().astype(int)
    drawn = ClassAppearanceConfig(prob=1.0)
    forced = dataclasses.replace(drawn, glare_prob=0.0)
    columns = [("input", None, None)]
    columns += [(f"draw {k + 1}", drawn, None) for k in range(args.draws)]
    columns += [(f"sky: {look}", forced, {"sky": look}) for look in LOOKS["sky"]]

    tile_w, tile_h = _TILE
    sheet = np.full((_TITLE_H + len(picks) * tile_h, len(columns) * tile_w, 3), 255, np.uint8)
    for col, (title, _, _) in enumerate(columns):
        cv2.putText(sheet, title, (col * tile_w + 4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, 0, 1)
    for row, index in enumerate(picks):
        image, labels = split.load(split.frames[int(index)])
        for col, (_, cfg, looks) in enumerate(columns):
            rng = np.random.default_rng([args.seed, row, col])
            view = image if cfg is None else recolour_by_class(image, labels, rng, cfg, looks=looks)
            top = _TITLE_H + row * tile_h
            sheet[top : top + tile_h, col * tile_w : (col + 1) * tile_w] = cv2.resize(
                view, _TILE, interpolation=cv2.INTER_AREA
            )
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(
        str(output), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9]
    )
    print(f"wrote {output} ({len(picks)} frames x {len(columns)} columns)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
