"""StreamingSegmenter: frame-by-frame inference in torch with a bounded memory of cached frame features.

The bookkeeping every runtime shares (input checks, reset rules and reasons, the memory length) is
``stream_base.StreamBase``; ``t2g_core.inference.ort_streaming.OrtStreamingSegmenter`` runs an ONNX export
in onnxruntime on the same base.
"""

from __future__ import annotations

import dataclasses
from collections import deque

import numpy as np
import torch

from ..labels import LabelSet
from ..modeling.model import FrameFeatures, StepState, T2GModel
from ..transforms import frames_to_tensor, resize_images, upsample_logits
from .readout import LabelReadout
from .stream_base import StreamBase, check_ema_alpha

# Autocast dtypes StreamingSegmenter accepts (None = full float32).
AUTOCAST_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16}


class StreamingSegmenter(StreamBase):
    """Owns the inference state of one camera stream: a ring buffer of the last T frames' features.

    Each ``step`` runs the backbone once (on the new frame only) and then ``T2GModel.step``, the one
    causal step: it updates the step state (the previous frame's fused embedding and, with the output
    gate, its filtered probabilities, when the memory length is > 1) and decodes the frame from the
    buffer and that state, which gives the same result as ``T2GModel.forward_clip`` on the frames since the last
    reset. With ``ema_alpha`` the output probabilities are additionally smoothed,
    p̄_t = α p_t + (1-α) p̄_{t-1} at model resolution (the EMA baseline; use it with a per-frame
    model); the average restarts with the memory.

    On the CPU the labels and confidence are read out with ``LabelReadout`` (same result as
    upsample + softmax + max, faster; frames larger than the model input are read out at the input
    size and resized, as onnxruntime does); on other devices with torch on the device at the frame
    size, and only the uint8 labels and the float32 confidence are copied back.

    Args:
        model: the segmenter; moved to ``device`` and put in eval mode.
        max_gap_s: a gap between consecutive stamps larger than this (seconds) clears the memory.
        device: torch device to run on (``cpu``, ``cuda``, ``cuda:N``).
        ema_alpha: weight of the new frame in the probability EMA, in (0, 1]; None = no smoothing.
        memory_length: frames kept in the memory, 1..``model.memory_capacity`` (the model's T);
            None = T.
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
            raise ValueError(
                f"autocast must be one of {sorted(AUTOCAST_DTYPES)} or None, got {autocast!r}"
            )
        self._device = torch.device(device)
        self._model = model.to(self._device).eval()
        self._ema_alpha = ema_alpha
        self._ema: torch.Tensor | None = None
        self._autocast = AUTOCAST_DTYPES.get(autocast) if autocast is not None else None
        # Frames larger than the model input are read out at the input size (see LabelReadout).
        self._readout = LabelReadout(
            threads=torch.get_num_threads(), max_size=tuple(model.input_size)
        )
        self._memory: deque[tuple[FrameFeatures, float]] = deque(maxlen=model.memory_capacity)
        self._state: StepState | None = None  # the step state of the last step
        super().__init__(
            memory_capacity=model.memory_capacity,
            memory_length=memory_length,
            max_gap_s=max_gap_s,
            label_set=label_set,
        )

    @property
    def frames_in_memory(self) -> int:
        """Frames currently held in the memory (0..memory_length)."""
        return len(self._memory)

    def _resize_memory(self, memory_length: int) -> None:
        self._memory = deque(maxlen=memory_length)

    def _clear_memory(self) -> None:
        self._memory.clear()
        self._state = None
        self._ema = None

    def _segment(self, frame_rgb: np.ndarray, stamp_s: float) -> tuple[np.ndarray, np.ndarray]:
        size = frame_rgb.shape[:2]
        with (
            torch.inference_mode(),
            torch.autocast(
                device_type=self._device.type,
                dtype=self._autocast or torch.float32,
                enabled=self._autocast is not None,
            ),
        ):
            image = resize_images(self._to_device(frame_rgb), self._model.input_size)
            current = self._model.encode_frames(image)
            # Past frames are read for their memory keys/values only: their detail need not stay.
            self._memory.append((dataclasses.replace(current, detail=None), stamp_s))
            out = self._model.step(
                current,
                [f for f, _ in self._memory],
                torch.tensor([[s for _, s in self._memory]], dtype=torch.float64),  # (1, M)
                self._state,
                memory_length=self._memory.maxlen,
            )
            self._state = out.state
            logits = out.sem_logits.float()  # (1, K, h, w)
        with torch.inference_mode():
            if self._ema_alpha is not None:
                probs = logits.softmax(dim=1)
                self._ema = (
                    probs
                    if self._ema is None
                    else self._ema_alpha * probs + (1 - self._ema_alpha) * self._ema
                )
                # log p̄ has softmax p̄, so the output path below stays the same with and without the EMA.
                logits = torch.log(self._ema.clamp_min(1e-12))
            if self._device.type == "cpu":
                return self._readout(logits[0].numpy(), size)
            probs = upsample_logits(logits, size).softmax(dim=1)  # (1, K, H, W) on the device
            confidence, labels = probs[0].max(dim=0)  # (H, W) each
            return labels.to(torch.uint8).cpu().numpy(), confidence.cpu().numpy()

    def _to_device(self, frame_rgb: np.ndarray) -> torch.Tensor:
        """(1, 3, H, W) float32 on the device; a GPU gets the uint8 frame (4x fewer bytes to copy)."""
        if self._device.type == "cpu":
            return frames_to_tensor(frame_rgb)
        frame = torch.from_numpy(np.ascontiguousarray(frame_rgb)).to(
            self._device
        )  # (H, W, 3) uint8
        return frame.permute(2, 0, 1)[None].float()  # (1, 3, H, W)
