"""Counting the frames of a video a tool wrote (``from video_frames import video_frames``; ``test/``
is on ``sys.path``)."""

from __future__ import annotations

from pathlib import Path

import cv2


def video_frames(path: Path) -> int:
    """Frames in a written side-by-side video (cv2) or GIF (Pillow)."""
    if path.suffix == ".gif":
        from PIL import Image

        with Image.open(path) as image:
            return image.n_frames
    capture = cv2.VideoCapture(str(path))
    count = 0
    while capture.read()[0]:
        count += 1
    capture.release()
    return count
