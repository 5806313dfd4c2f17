"""A long stream keeps a bounded memory: no growth in cached frames or live tensors over 10 000 steps."""

from __future__ import annotations

import gc

import numpy as np
import torch

from t2g_core import StreamingSegmenter, build_model


def _live_tensors() -> int:
    gc.collect()
    # type() instead of isinstance: isinstance probes lazy torch modules (deprecation warnings).
    return sum(1 for obj in gc.get_objects() if issubclass(type(obj), torch.Tensor))


def test_memory_bounded_over_10000_steps(make_tiny_config):
    torch.manual_seed(0)
    model = build_model(make_tiny_config(memory_length=3, input_size=(32, 32)))
    segmenter = StreamingSegmenter(model, max_gap_s=0.5)
    frame = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    stamp = 0.0
    resets = 0
    for step in range(10_000):
        # Every 1000th frame comes after a long gap, so resets happen along the way too.
        stamp += 2.0 if step % 1000 == 999 else 0.04
        result = segmenter.step(frame, stamp)
        resets += result.reset_reason is not None
        assert result.frames_in_memory <= 3
        if step == 1_500:
            early = _live_tensors()
        elif step == 9_500:
            late = _live_tensors()  # both with a full memory of 3 frames
    assert resets == 11  # "start" plus a gap at steps 999, 1999, ..., 9999
    assert segmenter.frames_in_memory == 1
    assert late <= early
