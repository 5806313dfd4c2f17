"""A generated CamVid-shaped folder for training tests: banded scenes (sky, building, road) whose band
borders move from frame to frame, with the split lists CamVidSplit reads."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

# Class colours of the generated scenes: sky on top, building in the middle, road at the bottom.
BANDS = ((0, (150, 180, 230)), (1, (120, 60, 40)), (3, (90, 90, 90)))


def write_split(
    root: Path, split: str, sequence: str, frames: range, rng: np.random.Generator
) -> None:
    (root / split / "images").mkdir(parents=True, exist_ok=True)
    (root / split / "labels").mkdir(parents=True, exist_ok=True)
    lines = []
    for frame in frames:
        name = f"{sequence}_{frame:06d}"
        height, width = 64, 96
        cut1, cut2 = (
            rng.integers(14, 26),
            rng.integers(38, 50),
        )  # band borders move from frame to frame
        labels = np.full((height, width), 3, np.uint8)
        labels[:cut2], labels[:cut1] = 1, 0
        image = np.zeros((height, width, 3), np.uint8)
        for class_id, colour in BANDS:
            image[labels == class_id] = colour
        image = np.clip(image + rng.normal(0, 8, image.shape), 0, 255).astype(np.uint8)
        cv2.imwrite(
            str(root / split / "images" / f"{name}.jpg"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
        )
        cv2.imwrite(str(root / split / "labels" / f"{name}.png"), labels)
        lines.append(f"{split}/images/{name}.jpg {split}/labels/{name}.png")
    with open(root / f"{split}.txt", "a") as listing:  # appends: a split may hold several drives
        listing.write("\n".join(lines) + "\n")
