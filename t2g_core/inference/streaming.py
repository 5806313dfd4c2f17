"""StreamingSegmenter: frame-by-frame inference with a bounded memory of cached frame features.

``StreamBase`` holds what every runtime shares (input checks, the reset rules and reasons, the memory
length); ``StreamingSegmenter`` runs the model in torch (CPU or CUDA, optionally under fp16/bf16
autocast) and ``t2g_core.inference.ort_streaming.OrtStreamingSegmenter`` runs an ONNX export in onnxruntime.
"""

from __future__ import annotations

import math
import numbers
from collections import deque
from dataclasses import dataclass

import numpy as np
import torch

from ..labels import LabelSet
from ..model import FrameFeatures, T2GModel
from ..transforms import LabelReadout, frames_to_tensor, resize_images, upsample_logits

# Reasons a step reports in FrameResult.reset_reason when the memory was cleared automatically.
RESET_START = "start"
RESET_GAP = "gap"
RESET_TIME_BACKWARDS = "time_backwards"
RESET_RESOLUTION = "resolution_change"
RESET_RECONFIGURED = "reconfigured"

# Autocast dtypes StreamingSegmenter accepts (None = full float32).
AUTOCAST_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16}


@dataclass(frozen=True)
class FrameResult:
    """Segmentation of one frame, at the frame's resolution.

    Attributes:
        labels: (H, W) uint8 class ids in 0..K-1 (argmax).
        confidence: (H, W) float32 in 0..1, the probability of the chosen class.
        reset_reason: why the memory was cleared before this frame (``"start"``, ``"gap"``,
            ``"time_backwards"``, ``"resolution_change"`` or the reason given to ``reset``), else None.
        memory_frames: frames the prediction used, this one included (1..memory_length).
    """

    labels: np.ndarray
    confidence: np.ndarray
    reset_reason: str | None
    memory_frames: int


class StreamBase:
    """Stream bookkeeping shared by the torch and onnxruntime segmenters.

    Validates frames and stamps, clears the memory on a gap, a stamp going backwards or a resolution
    change, and reports why on the next result. Subclasses hold the memory and implement ``_segment``,
    ``_resize_memory``, ``_clear_memory`` and ``memory_frames``.

    Args:
        max_memory_length: the model's T.
        memory_length: 1..T, None = T.
        max_gap_s: a gap between consecutive stamps larger than this (seconds) clears the memory.
        label_set: the classes of the checkpoint it runs (``open_segmenter`` sets it), None if unknown.
    """

    def __init__(self, *, max_memory_length: int, memory_length: int | None, max_gap_s: float,
                 label_set: LabelSet | None = None) -> None:
        self.label_set = label_set
        self._max_memory_length = int(max_memory_length)
        self._memory_length = self._max_memory_length
        self._last_stamp: float | None = None
        self._last_size: tuple[int, int] | None = None
        self.configure(memory_length=memory_length, max_gap_s=max_gap_s)
        self._pending_reason: str | None = RESET_START

    @property
    def max_memory_length(self) -> int:
        """The model's T: the longest memory ``configure`` accepts."""
        return self._max_memory_length

    @property
    def memory_length(self) -> int:
        """Frames the memory holds at most (the configured length)."""
        return self._memory_length

    @property
    def memory_frames(self) -> int:
        """Frames currently held in the memory (0..T)."""
        raise NotImplementedError

    def configure(self, *, memory_length: int | None, max_gap_s: float) -> None:
        """Set the memory length (1..``max_memory_length``; None = the model's T) and the gap limit.

        The memory restarts empty and the next step reports ``"reconfigured"``.

        Raises:
            ValueError: naming the bad value; the segmenter is unchanged then.
        """
        if not (isinstance(max_gap_s, numbers.Real) and math.isfinite(max_gap_s) and max_gap_s > 0):
            raise ValueError(f"max_gap_s must be a finite number > 0, got {max_gap_s!r}")
        if memory_length is None:
            memory_length = self.max_memory_length
        valid_int = isinstance(memory_length, int) and not isinstance(memory_length, bool)
        if not (valid_int and 1 <= memory_length <= self.max_memory_length):
            raise ValueError(
                f"memory_length must be an int in 1..{self.max_memory_length} (the model's T), got {memory_length!r}"
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
        if isinstance(stamp_s, bool) or not isinstance(stamp_s, numbers.Real) or not math.isfinite(stamp_s):
            raise ValueError(f"stamp_s must be a finite number of seconds, got {stamp_s!r}")
        stamp_s = float(stamp_s)
        size = frame_rgb.shape[:2]
        self._auto_reset(stamp_s, size)
        labels, confidence = self._segment(frame_rgb, stamp_s)
        reason, self._pending_reason = self._pending_reason, None
        self._last_stamp, self._last_size = stamp_s, size
        return FrameResult(labels=labels, confidence=confidence, reset_reason=reason, memory_frames=self.memory_frames)

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


class StreamingSegmenter(StreamBase):
    """Owns the inference state of one camera stream: a ring buffer of the last T frames' features.

    Each ``step`` runs the backbone once (on the new frame only), updates the pixel-fusion state (the
    previous frame's fused embedding, when the model has pixel fusion and the memory length is > 1) and
    decodes the frame from the buffer and that state, which gives the same result as
    ``T2GModel.forward_clip`` on the frames since the last reset. With ``ema_alpha`` the output
    probabilities are additionally smoothed, p̄_t = α p_t + (1-α) p̄_{t-1} at model resolution (the
    EMA baseline; use it with a per-frame model); the average restarts with the memory.

    On the CPU the labels and confidence are read out with ``LabelReadout`` (same result as
    upsample + softmax + max, faster); on other devices with torch on the device, and only the uint8
    labels and the float32 confidence are copied back.

    Args:
        model: the segmenter; moved to ``device`` and put in eval mode.
        max_gap_s: a gap between consecutive stamps larger than this (seconds) clears the memory.
        device: torch device to run on (``cpu``, ``cuda``, ``cuda:N``).
        ema_alpha: weight of the new frame in the probability EMA, in (0, 1]; None = no smoothing.
        memory_length: frames kept in the memory, 1..``model.memory_length``; None = the model's T.
            Shorter memories are in-distribution: the first frames of every training clip have them.
        autocast: ``"float16"`` or ``"bfloat16"`` runs the model under ``torch.autocast`` on ``device``
            (the cached memory is then kept in that dtype too); None = float32. Meant for CUDA; bfloat16
            also works on the CPU (used to test this path without a GPU), float16 on the CPU is slow.
    """

    def __init__(
        self,
        model: T2GModel,
        *,
        max_gap_s: float,
        device: str | torch.device = "cpu",
        ema_alpha: float | None = None,
        memory_length: int | None = None,
        autocast: str | None = None,
        label_set: LabelSet | None = None,
    ) -> None:
        check_ema_alpha(ema_alpha)
        if autocast is not None and autocast not in AUTOCAST_DTYPES:
            raise ValueError(f"autocast must be one of {sorted(AUTOCAST_DTYPES)} or None, got {autocast!r}")
        self._device = torch.device(device)
        self._model = model.to(self._device).eval()
        self._ema_alpha = ema_alpha
        self._ema: torch.Tensor | None = None
        self._autocast = AUTOCAST_DTYPES.get(autocast) if autocast is not None else None
        self._readout = LabelReadout()
        self._memory: deque[tuple[FrameFeatures, float]] = deque(maxlen=model.memory_length)
        self._fused: tuple[torch.Tensor, float] | None = None  # (fused embedding, its stamp)
        super().__init__(max_memory_length=model.memory_length, memory_length=memory_length, max_gap_s=max_gap_s)

    @property
    def memory_frames(self) -> int:
        """Frames currently held in the memory (0..T)."""
        return len(self._memory)

    def _resize_memory(self, memory_length: int) -> None:
        self._memory = deque(maxlen=memory_length)

    def _clear_memory(self) -> None:
        self._memory.clear()
        self._fused = None
        self._ema = None

    def _segment(self, frame_rgb: np.ndarray, stamp_s: float) -> tuple[np.ndarray, np.ndarray]:
        size = frame_rgb.shape[:2]
        with torch.inference_mode(), torch.autocast(
            device_type=self._device.type, dtype=self._autocast or torch.float32, enabled=self._autocast is not None
        ):
            image = resize_images(self._to_device(frame_rgb), self._model.input_size)
            current = self._model.encode_frames(image)
            self._memory.append((current, stamp_s))
            offsets = torch.tensor([[s - stamp_s for _, s in self._memory]], dtype=torch.float32)  # (1, M)
            fused = self._fuse(current.pixel_embedding, stamp_s)
            logits = self._model.decode(current, [f for f, _ in self._memory], offsets, pixel_embedding=fused)
            logits = logits.float()  # (1, K, h, w)
        with torch.inference_mode():
            if self._ema_alpha is not None:
                probs = logits.softmax(dim=1)
                self._ema = probs if self._ema is None else self._ema_alpha * probs + (1 - self._ema_alpha) * self._ema
                # log p̄ has softmax p̄, so the output path below stays the same with and without the EMA.
                logits = torch.log(self._ema.clamp_min(1e-12))
            if self._device.type == "cpu":
                return self._readout(logits[0], size)
            probs = upsample_logits(logits, size).softmax(dim=1)  # (1, K, H, W) on the device
            confidence, labels = probs[0].max(dim=0)  # (H, W) each
            return labels.to(torch.uint8).cpu().numpy(), confidence.cpu().numpy()

    def _fuse(self, embedding: torch.Tensor, stamp_s: float) -> torch.Tensor:
        """The fused embedding of this frame; it becomes the state. Memory length 1 keeps no state."""
        if self._model.pixel_fusion is None or self._memory.maxlen == 1:
            return embedding
        state, offset = None, torch.zeros(1)
        if self._fused is not None:
            state, offset = self._fused[0], torch.tensor([self._fused[1] - stamp_s], dtype=torch.float32)
        fused = self._model.fuse(embedding, state, offset)
        self._fused = (fused, stamp_s)
        return fused

    def _to_device(self, frame_rgb: np.ndarray) -> torch.Tensor:
        """(1, 3, H, W) float32 on the device; a GPU gets the uint8 frame (4x fewer bytes to copy)."""
        if self._device.type == "cpu":
            return frames_to_tensor(frame_rgb)
        frame = torch.from_numpy(np.ascontiguousarray(frame_rgb)).to(self._device)  # (H, W, 3) uint8
        return frame.permute(2, 0, 1)[None].float()  # (1, 3, H, W)


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
