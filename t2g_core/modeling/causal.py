"""The causal-step rules, written once for every runtime (no torch: the onnxruntime segmenter reads them).

Frame t of a stream is decoded from the memory frames ``window_start(t, T)..t`` (T the memory
length in use) and from the step state of frame t-1 (its fused embedding for the pixel fusion, its
filtered class probabilities for the output gate). The torch model
(``T2GModel.step``, which ``forward_clip``, training, validation and ``StreamingSegmenter`` call) and
``OrtStreamingSegmenter`` apply these two rules and no other.
"""

from __future__ import annotations


def window_start(t: int, memory_length: int) -> int:
    """Index of the oldest memory frame of frame ``t``: the memory holds frames window_start..t.

    Args:
        t: frame index in the stream since the last reset, >= 0.
        memory_length: frames the memory holds at most (the current one included), >= 1.
    """
    if t < 0 or memory_length < 1:
        raise ValueError(f"need t >= 0 and memory_length >= 1, got t={t}, {memory_length=}")
    return max(0, t - memory_length + 1)


def keeps_fusion_state(memory_length: int) -> bool:
    """The memory-1 rule: a memory of one frame is the per-frame model, so no step state is kept either
    (nothing of the past reaches the frame: no pixel fusion, no output gate); longer memories carry it."""
    return memory_length > 1
