"""The frames each target evaluates: CamVid runs (clean or corrupted) and decoded dash-cam clips.

Everything is loaded once into memory (CamVid test is ~120 MB of images, the two clips at 480 wide
~160 MB) because every contender and stride streams the same frames again.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..data.camvid import CamVidFrame, CamVidSplit, check_not_test_split
from ..data.corruptions import corrupt


@dataclass(frozen=True)
class LabelledRun:
    """Labelled frames of one continuous run of a drive, in time order.

    Attributes:
        name: the run (``0001TP``, ``Seq05VD``, ``0016E5``).
        frame_names: CamVid names such as ``0016E5_07959``, one per frame.
        images: (H, W, 3) uint8 RGB frames.
        labels: (H, W) uint8 ids, void included.
        stamps_s: (L,) float64 capture times, ``frame_number / 30``.
    """

    name: str
    frame_names: tuple[str, ...]
    images: tuple[np.ndarray, ...]
    labels: tuple[np.ndarray, ...]
    stamps_s: np.ndarray

    def __len__(self) -> int:
        return len(self.images)


@dataclass(frozen=True)
class VideoClip:
    """Consecutive frames of an unlabelled video.

    Attributes:
        name: the clip's folder name.
        frames: (H, W, 3) uint8 RGB, resized.
        stamps_s: (L,) float64, ``index / fps``.
    """

    name: str
    frames: tuple[np.ndarray, ...]
    stamps_s: np.ndarray

    def __len__(self) -> int:
        return len(self.frames)


def load_test_runs(data_root: str | Path, *, max_frames: int | None) -> list[LabelledRun]:
    """The CamVid test split as ordered runs (0001TP, Seq05VD), for the final evaluation only.

    Args:
        max_frames: keep the first ``max_frames`` frames of every run; None keeps all.
    """
    split = CamVidSplit(data_root, split="test")
    return [_load_run(split, seq.name, seq.frames[:max_frames]) for seq in split.sequences]


def load_val_run(
    data_root: str | Path,
    *,
    sequence: str,
    first_frame: int,
    last_frame: int,
    frame_step: int,
    max_frames: int | None,
) -> LabelledRun:
    """The labelled high-rate run of CamVid val: frames ``first_frame..last_frame`` every ``frame_step``.

    Raises:
        ValueError: a frame of that range is missing from the val list (the run would not be uniform).
    """
    split = CamVidSplit(data_root, split=check_not_test_split("val"))
    wanted = range(first_frame, last_frame + 1, frame_step)
    by_number = {f.frame_number: f for f in split.frames if f.sequence == sequence}
    missing = [n for n in wanted if n not in by_number]
    if missing:
        raise ValueError(
            f"CamVid val has no frame(s) {missing[:5]} of {sequence} {first_frame}..{last_frame}"
        )
    frames = [by_number[n] for n in wanted][:max_frames]
    return _load_run(split, sequence, frames)


def corrupt_run(run: LabelledRun, name: str, severity: int) -> LabelledRun:
    """``run`` with one ``imagecorruptions`` corruption on every image; labels unchanged.

    The seed of each frame is a CRC of (corruption, severity, frame name), so a frame gets the same
    corrupted image whatever else is evaluated and in whatever order.
    """
    images = tuple(
        corrupt(image, name, severity, seed=zlib.crc32(f"{name}/{severity}/{frame}".encode()))
        for image, frame in zip(run.images, run.frame_names, strict=True)
    )
    return LabelledRun(run.name, run.frame_names, images, run.labels, run.stamps_s)


def load_video_clips(
    data_root: str | Path, *, pattern: str, fps: float, width: int, max_frames: int | None
) -> list[VideoClip]:
    """Every video matching ``pattern`` under ``data_root``, sorted by path, named by its folder.

    Raises:
        FileNotFoundError: no file matches.
    """
    paths = sorted(Path(data_root).glob(pattern))
    if not paths:
        raise FileNotFoundError(f"no video matches {pattern!r} under {str(data_root)!r}")
    clips = []
    for path in paths:
        frames = decode_video(path, width=width, max_frames=max_frames)
        clips.append(
            VideoClip(
                path.parent.name, tuple(frames), np.arange(len(frames), dtype=np.float64) / fps
            )
        )
    return clips


def decode_video(
    path: str | Path, *, width: int | None, max_frames: int | None
) -> list[np.ndarray]:
    """Decode a video in order (no seeking: it returned empty frames in this OpenCV build).

    Returns:
        (H', width, 3) uint8 RGB frames, H' keeping the aspect ratio (960x540 -> 480x270); the
        native size with ``width=None``.
    Raises:
        ValueError: the file cannot be opened or holds no frame.
    """
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise ValueError(f"video {str(path)!r} cannot be opened")
    frames = []
    try:
        while max_frames is None or len(frames) < max_frames:
            ok, bgr = capture.read()
            if not ok:
                break
            if width is not None:
                height = round(bgr.shape[0] * width / bgr.shape[1])
                # INTER_AREA: a downscale without the aliasing that would add flicker of its own.
                bgr = cv2.resize(bgr, (width, height), interpolation=cv2.INTER_AREA)
            frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    finally:
        capture.release()
    if not frames:
        raise ValueError(f"video {str(path)!r} holds no decodable frame")
    return frames


def _load_run(split: CamVidSplit, name: str, frames: Sequence[CamVidFrame]) -> LabelledRun:
    images, labels = zip(*(split.load(f) for f in frames))
    return LabelledRun(
        name=name,
        frame_names=tuple(f.name for f in frames),
        images=tuple(images),
        labels=tuple(labels),
        stamps_s=np.array([f.time_s for f in frames], dtype=np.float64),
    )
