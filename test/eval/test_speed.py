"""Latency measurement, ratios, the streaming step function and the SegFormer peer."""

from __future__ import annotations

import time

import numpy as np
import pytest

from t2g_core import load_checkpoint
from t2g_core.evaluation import T2G, Contender, latency_ratios, measure_latency
from t2g_core.evaluation.speed import SegformerPeer, streaming_step


def test_measure_latency_times_only_the_timed_steps():
    calls = []

    def step(i):
        calls.append(i)
        time.sleep(0.02 if i < 3 else 0.005)  # slow warm-up must not count

    stats = measure_latency(step, warmup_steps=3, steps=6)
    assert calls == list(range(9))
    assert stats.steps == 6
    assert 4.5 <= stats.p50_ms < 15 and stats.p50_ms <= stats.p95_ms
    assert stats.fps == pytest.approx(1000 / stats.mean_ms) and stats.fps > 0


def test_latency_ratios_side_by_side():
    ratios = latency_ratios({"perframe": 50.0, "perframe_ema": 55.0, "t2g": 80.0, "segformer_b0": 240.0})
    assert ratios == pytest.approx(
        {"t2g/perframe": 1.6, "perframe_ema/perframe": 1.1, "segformer_b0/t2g": 3.0, "segformer_b0/perframe": 4.8}
    )
    assert latency_ratios({"t2g": 80.0}) == {}


def test_streaming_step_runs_the_model(checkpoints):
    loaded = load_checkpoint(checkpoints[1])
    contender = Contender(T2G, "T2G", loaded.model, None, str(checkpoints[1]))
    step = streaming_step(contender, (48, 64), max_gap_s=2.0, device="cpu")
    stats = measure_latency(step, warmup_steps=1, steps=3)
    assert stats.fps > 0 and stats.p95_ms >= stats.p50_ms > 0


def test_segformer_peer_segments_at_frame_size():
    pytest.importorskip("transformers")
    peer = SegformerPeer(num_classes=11)
    labels = peer.step(np.zeros((64, 96, 3), np.uint8))
    assert labels.shape == (64, 96) and labels.dtype == np.uint8 and labels.max() < 11
