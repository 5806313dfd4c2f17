"""The side-by-side video: panel layout, a file that plays back frame for frame, clear errors."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from t2g_core import LabelSet
from t2g_core.side_by_side import (
    CAPTION_BAND,
    SideBySideWriter,
    VideoFormatError,
    compose_frame,
    frame_rate,
)

REPO = Path(__file__).resolve().parents[2]
CAPTIONS = ("input", "per-frame", "T2G")


@pytest.fixture(scope="module")
def label_set() -> LabelSet:
    return LabelSet.from_yaml(REPO / "config" / "classes_camvid.yaml")


def _frames(
    count: int, size: tuple[int, int] = (45, 61)
) -> list[tuple[np.ndarray, list[np.ndarray]]]:
    """Frames that all differ (a GIF writer merges identical ones), with two label maps each."""
    h, w = size
    out = []
    for k in range(count):
        frame = np.full((h, w, 3), 12 * k, np.uint8)
        labels = np.full((h, w), k % 11, np.uint8)
        out.append((frame, [labels, (labels + 1) % 11]))
    return out


def _read_back(path: Path) -> tuple[int, tuple[int, int]]:
    """(frames, (height, width)) of a written video or GIF."""
    if path.suffix == ".gif":
        from PIL import Image

        with Image.open(path) as image:
            return image.n_frames, (image.size[1], image.size[0])
    capture = cv2.VideoCapture(str(path))
    count, shape = 0, None
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        count, shape = count + 1, frame.shape[:2]
    capture.release()
    return count, shape


def test_compose_frame_layout_and_palette(label_set):
    frame = np.zeros((45, 61, 3), np.uint8)
    first = np.full((45, 61), 3, np.uint8)
    second = np.full((45, 61), 7, np.uint8)
    composed = compose_frame(
        frame, [first, second], lut=label_set.palette_lut(), captions=CAPTIONS, panel_width=101
    )
    height = round(45 * 101 / 61)  # 75: the panel keeps the frame's aspect
    # 3 panels of 101 px = 303, padded to even; band + 75 = 97, padded to 98.
    assert composed.shape == (98, 304, 3) and composed.dtype == np.uint8
    body = CAPTION_BAND + height // 2
    assert tuple(composed[body, 101 + 50]) == label_set.colors[3]
    assert tuple(composed[body, 202 + 50]) == label_set.colors[7]
    assert composed[:CAPTION_BAND].any()  # the captions are drawn


@pytest.mark.parametrize("formats", [("mp4", "webm"), ("gif",)])
def test_writer_file_plays_back_every_frame(tmp_path, label_set, formats):
    if formats == ("gif",):
        pytest.importorskip("PIL")
    writer = SideBySideWriter(
        tmp_path / "run.side_by_side",
        label_set=label_set,
        captions=CAPTIONS,
        fps=12.5,
        panel_width=101,
        formats=formats,
        still_index=4,
    )
    for frame, maps in _frames(20):
        writer.add(frame, maps)
    try:
        path = writer.close()
    except VideoFormatError:
        pytest.skip(f"this cv2 build writes none of {formats}")
    assert path.name.startswith("run.side_by_side.") and path.suffix[1:] in formats
    assert _read_back(path) == (20, (98, 304))
    assert writer.still is not None and writer.still.shape == (98, 304, 3)


def test_frame_rate_is_estimated_from_stamps(tmp_path, label_set):
    writer = SideBySideWriter(
        tmp_path / "v", label_set=label_set, captions=CAPTIONS, panel_width=64
    )
    for k, (frame, maps) in enumerate(_frames(5)):
        writer.add(frame, maps, stamp_s=100.0 + k * 0.04)
    writer.close()
    assert writer.fps == pytest.approx(25.0)
    # the median step; the zero step is skipped
    assert frame_rate([0.0, 0.1, 0.2, 0.2, 0.5]) == pytest.approx(10.0)


def test_bad_input_is_a_clear_error(tmp_path, label_set):
    lut = label_set.palette_lut()
    frame = np.zeros((45, 61, 3), np.uint8)
    good = np.zeros((45, 61), np.uint8)
    with pytest.raises(ValueError, match="frame_rgb"):
        compose_frame(frame[..., 0], [good], lut=lut, captions=CAPTIONS[:2], panel_width=64)
    with pytest.raises(ValueError, match="label map 1"):
        compose_frame(frame, [good, good[:-1]], lut=lut, captions=CAPTIONS, panel_width=64)
    with pytest.raises(ValueError, match="captions"):
        compose_frame(frame, [good], lut=lut, captions=CAPTIONS, panel_width=64)
    with pytest.raises(ValueError, match="fps"):
        SideBySideWriter(tmp_path / "v", label_set=label_set, captions=CAPTIONS, fps=0.0)
    with pytest.raises(ValueError, match="formats"):
        SideBySideWriter(tmp_path / "v", label_set=label_set, captions=CAPTIONS, formats=("avi",))
    writer = SideBySideWriter(tmp_path / "v", label_set=label_set, captions=CAPTIONS)
    with pytest.raises(ValueError, match="stamp_s"):
        writer.add(frame, [good, good])
    with pytest.raises(ValueError, match="no frame"):
        writer.close()


def test_no_playable_format_names_what_was_tried(tmp_path, label_set, monkeypatch):
    import t2g_core.side_by_side as module

    monkeypatch.setattr(module, "_pillow", lambda: None)  # as if Pillow were not installed
    writer = SideBySideWriter(
        tmp_path / "v", label_set=label_set, captions=CAPTIONS, fps=10.0, formats=("gif",)
    )
    with pytest.raises(VideoFormatError, match="gif .Pillow is not installed"):
        writer.add(*_frames(1)[0])
    assert not list(tmp_path.iterdir())
