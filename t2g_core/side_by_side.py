"""A side-by-side video (input | per-frame | T2G ...) that a browser plays (numpy + cv2 only).

Flicker is seen in motion, not in stills. :class:`SideBySideWriter` streams frames (nothing is
held but a few frames while the frame rate is estimated, or the frames of a GIF) and writes, by
preference:

1. H.264 MP4 (``avc1``) when this cv2 build can encode it;
2. VP8 WebM (``VP80``);
3. an animated GIF via Pillow when Pillow is installed;

else it raises :class:`VideoFormatError`. The format is chosen at run time by opening a writer of
the real frame size, because cv2 wheels differ in the encoders they carry.

A frame is the input, then one colourised label map per model (the LabelSet's palette), each panel
``panel_width`` wide with a caption band above it.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np

from .labels import LabelSet

CAPTION_BAND = 22  # pixels above each panel
FORMATS = ("mp4", "webm", "gif")  # preference order
_FOURCC = {"mp4": "avc1", "webm": "VP80"}
_RATE_FRAMES = 16  # frames whose stamps estimate the frame rate when none is given
_FONT = cv2.FONT_HERSHEY_SIMPLEX


class VideoFormatError(RuntimeError):
    """No browser-playable video format can be written here (the message lists what was tried)."""


def compose_frame(
    frame_rgb: np.ndarray,
    label_maps: Sequence[np.ndarray],
    *,
    lut: np.ndarray,
    captions: Sequence[str],
    panel_width: int,
) -> np.ndarray:
    """One video frame: the input and each label map, colourised, side by side with captions.

    Args:
        frame_rgb: (H, W, 3) uint8 RGB.
        label_maps: M arrays (H, W) uint8 class ids, one per model.
        lut: (256, 3) uint8 palette (``LabelSet.palette_lut()``).
        captions: M + 1 captions, the input's first.
        panel_width: width of each panel in pixels (aspect kept).

    Returns:
        (band + h, (M + 1) * panel_width, 3) uint8 RGB with ``h = round(H * panel_width / W)``, both
        sides rounded up to even numbers (H.264 needs even sizes).

    Raises:
        ValueError: a frame, label map or caption count that does not fit.
    """
    _check_image(frame_rgb)
    if len(captions) != len(label_maps) + 1:
        raise ValueError(
            f"{len(captions)} captions for the input and {len(label_maps)} label "
            "maps; give one caption per panel, the input's first"
        )
    if panel_width < 16:
        raise ValueError(f"panel_width must be >= 16 pixels, got {panel_width}")
    h, w = frame_rgb.shape[:2]
    for k, labels in enumerate(label_maps):
        if not isinstance(labels, np.ndarray) or labels.dtype != np.uint8 or labels.shape != (h, w):
            raise ValueError(
                f"label map {k} must be ({h}, {w}) uint8 like the frame, got "
                f"{getattr(labels, 'shape', type(labels).__name__)} "
                f"{getattr(labels, 'dtype', '')}"
            )
    height = max(2, round(h * panel_width / w))
    tiles = [cv2.resize(frame_rgb, (panel_width, height), interpolation=cv2.INTER_AREA)]
    # Nearest neighbour: a resized label map must keep palette colours, not blends of them.
    tiles += [
        np.take(
            lut, cv2.resize(labels, (panel_width, height), interpolation=cv2.INTER_NEAREST), axis=0
        )
        for labels in label_maps
    ]
    composed = np.concatenate([_captioned(t, c) for t, c in zip(tiles, captions)], axis=1)
    pad_h, pad_w = composed.shape[0] % 2, composed.shape[1] % 2
    return np.pad(composed, ((0, pad_h), (0, pad_w), (0, 0))) if pad_h or pad_w else composed


def frame_rate(stamps_s: Sequence[float]) -> float:
    """Frames per second from capture times: 1 / the median positive step (1.0 with no step)."""
    steps = np.diff(np.asarray(stamps_s, dtype=np.float64))
    steps = steps[steps > 0]
    return float(1.0 / np.median(steps)) if steps.size else 1.0


class SideBySideWriter:
    """Writes composed frames to ``<stem>.<ext>`` (see the module docstring for the format).

    Args:
        stem: output path without the extension, e.g. ``artifacts/demo/side_by_side``.
        label_set: the checkpoint's classes (palette).
        captions: one per panel, the input's first, e.g. ``("input", "per-frame", "T2G")``.
        fps: frame rate; None estimates it from the stamps of the first 16 frames (the median step).
        panel_width: width of each panel in pixels.
        formats: extensions to try, in order (a subset of :data:`FORMATS`).
        still_index: also keep that frame (0-based) as a lossless image, see :attr:`still`.

    Use as a context manager, or call :meth:`close`, which returns the path written.
    """

    def __init__(
        self,
        stem: str | Path,
        *,
        label_set: LabelSet,
        captions: Sequence[str],
        fps: float | None = None,
        panel_width: int = 400,
        formats: Sequence[str] = FORMATS,
        still_index: int | None = None,
    ) -> None:
        unknown = [f for f in formats if f not in FORMATS]
        if unknown or not formats:
            raise ValueError(
                f"formats must be a non-empty subset of {FORMATS}, got {tuple(formats)}"
            )
        if fps is not None and not (np.isfinite(fps) and fps > 0):
            raise ValueError(f"fps must be a finite number > 0, got {fps!r}")
        self.stem = Path(stem)
        self.captions = tuple(captions)
        self.fps = fps
        self.panel_width = panel_width
        self.formats = tuple(formats)
        self.still_index = still_index
        self.still: np.ndarray | None = None  # the composed frame at still_index, RGB
        self.path: Path | None = None  # set once the format is chosen
        self.frames = 0
        self._lut = label_set.palette_lut()
        self._pending: list[tuple[np.ndarray, float | None]] = []  # until the rate is known
        self._video: cv2.VideoWriter | None = None
        self._gif: list = []  # Pillow palette images, written at close
        self._closed = False

    def add(
        self,
        frame_rgb: np.ndarray,
        label_maps: Sequence[np.ndarray],
        *,
        stamp_s: float | None = None,
    ) -> None:
        """Append one frame (see :func:`compose_frame`); ``stamp_s`` is needed while fps is None."""
        if self._closed:
            raise ValueError(f"{self.stem}: the side-by-side video is closed")
        if self.fps is None and stamp_s is None:
            raise ValueError("stamp_s is needed to estimate the frame rate (or give fps)")
        composed = compose_frame(
            frame_rgb,
            label_maps,
            lut=self._lut,
            captions=self.captions,
            panel_width=self.panel_width,
        )
        if self.frames == self.still_index:
            self.still = composed
        self.frames += 1
        if self.path is None:
            self._pending.append((composed, stamp_s))
            if self.fps is not None or len(self._pending) >= _RATE_FRAMES:
                self._start()
            return
        self._put(composed)

    def close(self) -> Path:
        """Finish the file and return its path. Raises ``ValueError`` when no frame was added."""
        if not self._closed:
            self._closed = True
            if self.frames == 0:
                raise ValueError(f"{self.stem}: no frame was added to the side-by-side video")
            if self.path is None:
                self._start()
            if self._video is not None:
                self._video.release()
            else:
                self._write_gif()
        assert self.path is not None
        return self.path

    def __enter__(self) -> SideBySideWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        elif self._video is not None:  # an error elsewhere: release the file, raise that error
            self._video.release()

    # ------------------------------------------------------------------------------------ internals

    def _start(self) -> None:
        if self.fps is None:
            self.fps = frame_rate([s for _, s in self._pending])
        height, width = self._pending[0][0].shape[:2]
        tried = []
        for ext in self.formats:
            path = Path(f"{self.stem}.{ext}")
            if ext == "gif":
                if _pillow() is not None:
                    self.path = path
                    break
                tried.append("gif (Pillow is not installed)")
                continue
            writer = _open_video(path, _FOURCC[ext], self.fps, (width, height))
            if writer is not None:
                self.path, self._video = path, writer
                break
            tried.append(f"{ext} ({_FOURCC[ext]}: not supported by this cv2 build)")
        if self.path is None:
            raise VideoFormatError(
                f"cannot write {self.stem}: tried {', '.join(tried)}; "
                "install an OpenCV with FFmpeg (H.264 or VP8) or Pillow for "
                "a GIF"
            )
        pending, self._pending = self._pending, []
        for composed, _ in pending:
            self._put(composed)

    def _put(self, composed: np.ndarray) -> None:
        if self._video is not None:
            self._video.write(cv2.cvtColor(composed, cv2.COLOR_RGB2BGR))
        else:
            # Palette images: 1 byte a pixel, so a few seconds of GIF fit in memory.
            self._gif.append(_pillow().fromarray(composed).quantize(colors=256))

    def _write_gif(self) -> None:
        duration_ms = max(20, round(1000 / self.fps))  # browsers slow down GIF frames under 20 ms
        first, *rest = self._gif
        first.save(self.path, save_all=True, append_images=rest, duration=duration_ms, loop=0)
        self._gif = []


def _open_video(
    path: Path, fourcc: str, fps: float, size: tuple[int, int]
) -> cv2.VideoWriter | None:
    """An opened cv2 writer, or None (and no file left behind) when the codec is not there."""
    with _quiet_stderr():  # FFmpeg prints a screen of errors for each encoder it cannot open
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, size)
    if writer.isOpened():
        return writer
    writer.release()
    path.unlink(missing_ok=True)
    return None


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Send file descriptor 2 to a temporary file (FFmpeg writes there from C, past sys.stderr)."""
    try:
        saved = os.dup(2)
    except OSError:  # no usable stderr: nothing to silence
        yield
        return
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _pillow():
    """``PIL.Image`` or None when Pillow is not installed (it is optional)."""
    try:
        from PIL import Image
    except ImportError:
        return None
    return Image


def _captioned(tile: np.ndarray, text: str) -> np.ndarray:
    band = np.zeros((CAPTION_BAND, tile.shape[1], 3), np.uint8)
    cv2.putText(band, text, (4, CAPTION_BAND - 7), _FONT, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
    return np.concatenate([band, tile], axis=0)


def _check_image(frame: np.ndarray) -> None:
    if (
        not isinstance(frame, np.ndarray)
        or frame.dtype != np.uint8
        or frame.ndim != 3
        or frame.shape[2] != 3
        or 0 in frame.shape
    ):
        raise ValueError(
            f"frame_rgb must be a non-empty (H, W, 3) uint8 RGB array, got "
            f"{getattr(frame, 'shape', type(frame).__name__)} "
            f"{getattr(frame, 'dtype', '')}"
        )
