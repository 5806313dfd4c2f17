"""Frames that calibrate an int8 export (``t2g_core.export.quantize``), read from CamVid train.

The export code never reads data itself: ``t2g-export`` and ``open_segmenter(precision="int8")`` call
``camvid_calibration_frames`` and pass the frames in. Only the train split is read, so val and test stay
clean for the int8 acceptance measurement.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from .camvid import load_image, read_split_list

# Where the calibration frames are read when no data root is given: $T2G_DATA_ROOT (a deployment
# whose shared data folder lives elsewhere), else the shared data folder beside the repository
# (``../shared/data``), whatever the working directory.
DATA_ROOT_ENV = "T2G_DATA_ROOT"
REPO_DATA_ROOT = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


def calibration_images(data_root: str | Path | None = None, *, count: int) -> list[Path]:
    """``count`` CamVid train images (all when there are fewer), evenly spaced over the train list
    (deterministic).

    Args:
        data_root: the shared data folder holding ``camvid/``; default ``$T2G_DATA_ROOT``, else
            ``REPO_DATA_ROOT``.
        count: how many, >= 1.

    Raises:
        ValueError: no CamVid train split under ``data_root``, or ``count`` < 1 (the message says
            which).
    """
    if data_root is None:
        data_root = os.environ.get(DATA_ROOT_ENV) or REPO_DATA_ROOT.resolve()
    root = Path(data_root)
    try:
        frames = read_split_list(root, split="train")
    except (FileNotFoundError, ValueError) as exc:
        raise ValueError(f"int8 calibration needs the CamVid train frames: {exc}") from exc
    if count < 1 or not frames:
        raise ValueError(f"int8 calibration needs >= 1 train frame (count {count}, {root})")
    picks = np.linspace(0, len(frames) - 1, min(count, len(frames))).round().astype(int)
    return [frames[i].image_path for i in picks]


def read_frames(paths: Sequence[Path]) -> Iterator[np.ndarray]:
    """(H, W, 3) uint8 RGB frames, read one at a time."""
    for path in paths:
        yield np.ascontiguousarray(load_image(path))


def camvid_calibration_frames(
    data_root: str | Path | None = None, *, count: int
) -> tuple[list[str], Iterator[np.ndarray]]:
    """The calibration set ``quantize_export`` takes: the images' names and their frames (read lazily).

    Raises:
        ValueError: as ``calibration_images``.
    """
    images = calibration_images(data_root, count=count)
    return [image.stem for image in images], read_frames(images)
