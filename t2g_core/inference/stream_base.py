"""What every streaming segmenter shares, whatever runs the model (numpy only: no torch).

``StreamBase`` validates frames and stamps, applies the reset rules and reports their reasons, and
holds the memory length; ``FrameResult`` is what a step returns. The torch ``StreamingSegmenter``
and the onnxruntime ``OrtStreamingSegmenter`` subclass it.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

from ..labels import LabelSet

# Reasons a step reports in FrameResult.reset_reason when the memory was cleared automatically.
RESET_START = "start"
RESET_GAP = "gap"
RESET_TIME_BACKWARDS = "time_backwards"
RESET_RESOLUTION = "resolution_change"
RESET_RECONFIGURED = "reconfigured"


@dataclass(frozen=True)
class FrameResult:
    """Segmentation of one frame, at the frame's resolution.

    Attributes:
        labels: (H, W) uint8 class ids in 0..K-1 (argmax).
        confidence: (H, W) float32 in 0..1, the probability of the chosen class.
        reset_reason: why the memory was cleared before this frame (``"start"``, ``"gap"``,
            ``"time_backwards"``, ``"resolution_change"`` or the reason given to ``reset``), else None.
        frames_in_memory: frames the prediction used, this one included (1..memory_length).
    """

    labels: np.ndarray
    confidence: np.ndarray
    reset_reason: str | None
    frames_in_memory: int


class StreamBase:
    """Stream bookkeeping shared by the torch and onnxruntime segmenters.

    Validates frames and stamps, clears the memory on a gap, a stamp going backwards or a resolution
    change, and reports why on the next result. Subclasses hold the memory and implement ``_segment``,
    ``_resize_memory``, ``_clear_memory`` and ``frames_in_memory``.

    The memory has three numbers: ``memory_capacity``, the model's T (fixed by the checkpoint);
    ``memory_length``, the active setting in 1..T (``configure``); ``frames_in_memory``, the frames
    currently held (0..memory_length), which a step's result reports as the frames its prediction
    used.

    Args:
        memory_capacity: the model's T.
        memory_length: 1..T, None = T.
        max_gap_s: a gap between consecutive stamps larger than this (seconds) clears the memory.
        label_set: the classes of the checkpoint it runs (set by ``open_segmenter``); None: unknown.
    """

    def __init__(
        self,
        *,
        memory_capacity: int,
        memory_length: int | None,
        max_gap_s: float,
        label_set: LabelSet | None = None,
    ) -> None:
        self.label_set = label_set
        self._memory_capacity = int(memory_capacity)
        self._memory_length = self._memory_capacity
        self._last_stamp: float | None = None
        self._last_size: tuple[int, int] | None = None
        self.configure(memory_length=memory_length, max_gap_s=max_gap_s)
        self._pending_reason: str | None = RESET_START

    @property
    def memory_capacity(self) -> int:
        """The model's T: the longest memory ``configure`` accepts."""
        return self._memory_capacity

    @property
    def memory_length(self) -> int:
        """Frames the memory holds at most (the active setting, 1..memory_capacity)."""
        return self._memory_length

    @property
    def frames_in_memory(self) -> int:
        """Frames currently held in the memory (0..memory_length)."""
        raise NotImplementedError

    def configure(self, *, memory_length: int | None, max_gap_s: float) -> None:
        """Set the memory length (1..``memory_capacity``; None = the model's T) and the gap limit.

        The one place both are validated. The memory restarts empty and the next step reports
        ``"reconfigured"``.

        Raises:
            ValueError: naming the bad value; the segmenter is unchanged then.
        """
        if not (isinstance(max_gap_s, numbers.Real) and math.isfinite(max_gap_s) and max_gap_s > 0):
            raise ValueError(f"max_gap_s must be a finite number > 0, got {max_gap_s!r}")
        if memory_length is None:
            memory_length = self.memory_capacity
        valid_int = isinstance(memory_length, int) and not isinstance(memory_length, bool)
        if not (valid_int and 1 <= memory_length <= self.memory_capacity):
            raise ValueError(
                f"memory_length must be an int in 1..{self.memory_capacity} "
                f"(the model's memory capacity), got {memory_length!r}"
            )
        self._max_gap_s = float(max_gap_s)
        self._memory_length = memory_length
        self._resize_memory(memory_length)
        self.reset(RESET_RECONFIGURED)

    def reset(self, reason: str) -> None:
        """Clear the memory (and any smoothing state); the next step reports ``reason`` as its ``reset_reason``."""
        self._clear_memory()
        self._last_stamp = None
        self._last_size = None
        self._pending_reason = reason

    def step(self, frame_rgb: np.ndarray, stamp_s: float) -> FrameResult:
        """Segment the next frame of the stream.

        Args:
            frame_rgb: (H, W, 3) uint8 RGB, any size > 0 (resized to the model input size internally).
            stamp_s: capture time in seconds (e.g. the header stamp); finite.

        Returns:
            FrameResult at (H, W).

        Raises:
            ValueError: bad frame (type, dtype, shape, empty) or non-finite stamp; the state is unchanged.
        """
        _check_frame(frame_rgb)
        if (
            isinstance(stamp_s, bool)
            or not isinstance(stamp_s, numbers.Real)
            or not math.isfinite(stamp_s)
        ):
            raise ValueError(f"stamp_s must be a finite number of seconds, got {stamp_s!r}")
        stamp_s = float(stamp_s)
        size = frame_rgb.shape[:2]
        self._auto_reset(stamp_s, size)
        labels, confidence = self._segment(frame_rgb, stamp_s)
        reason, self._pending_reason = self._pending_reason, None
        self._last_stamp, self._last_size = stamp_s, size
        return FrameResult(
            labels=labels,
            confidence=confidence,
            reset_reason=reason,
            frames_in_memory=self.frames_in_memory,
        )

    def _segment(self, frame_rgb: np.ndarray, stamp_s: float) -> tuple[np.ndarray, np.ndarray]:
        """Add the frame to the memory and return (labels (H, W) uint8, confidence (H, W) float32)."""
        raise NotImplementedError

    def _resize_memory(self, memory_length: int) -> None:
        raise NotImplementedError

    def _clear_memory(self) -> None:
        raise NotImplementedError

    def _auto_reset(self, stamp_s: float, size: tuple[int, int]) -> None:
        if self._last_stamp is None:
            return
        if size != self._last_size:
            self.reset(RESET_RESOLUTION)
        elif stamp_s < self._last_stamp:
            self.reset(RESET_TIME_BACKWARDS)
        elif stamp_s - self._last_stamp > self._max_gap_s:
            self.reset(RESET_GAP)


def check_ema_alpha(ema_alpha: float | None) -> None:
    """``ValueError`` unless ``ema_alpha`` is None or in (0, 1]."""
    if ema_alpha is not None and not (isinstance(ema_alpha, numbers.Real) and 0 < ema_alpha <= 1):
        raise ValueError(f"ema_alpha must be in (0, 1] or None, got {ema_alpha!r}")


def _check_frame(frame: np.ndarray) -> None:
    if not isinstance(frame, np.ndarray):
        raise ValueError(f"frame_rgb must be a numpy array, got {type(frame).__name__}")
    if frame.dtype != np.uint8:
        raise ValueError(f"frame_rgb must be uint8, got dtype {frame.dtype}")
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"frame_rgb must be (H, W, 3) RGB, got shape {frame.shape}")
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise ValueError(f"frame_rgb must not be empty, got shape {frame.shape}")
