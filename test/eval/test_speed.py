"""Latency measurement (statistics from the clock it reads), ratios, the streaming step function on every
backend, and the SegFormer peer."""

from __future__ import annotations

import numpy as np
import pytest

from t2g_core import load_checkpoint
from t2g_core.evaluation import T2G, Contender, latency_ratios, measure_latency
from t2g_core.evaluation.speed import SegformerPeer, streaming_step


def test_measure_latency_times_only_the_timed_steps():
    calls = []
    now = [0.0]  # a fake clock: each step advances it by its own cost, so no real time is measured

    def step(i):
        calls.append(i)
        now[0] += 0.02 if i < 3 else 0.005  # slow warm-up must not count

    stats = measure_latency(step, warmup_steps=3, steps=6, clock=lambda: now[0])
    assert calls == list(range(9))
    assert stats.steps == 6
    assert stats.p50_ms == pytest.approx(5.0) and stats.p95_ms == pytest.approx(5.0)
    assert stats.fps == pytest.approx(200.0)


def test_latency_statistics_come_from_the_measured_times():
    """A fake clock gives the timed steps 10, 30, 20 and 100 ms; the warm-up reads no clock."""
    readings = iter([0.0, 0.010, 1.0, 1.030, 2.0, 2.020, 3.0, 3.100])
    calls = []
    stats = measure_latency(calls.append, warmup_steps=2, steps=4, clock=lambda: next(readings))
    assert calls == list(range(6))
    assert stats.steps == 4
    assert stats.mean_ms == pytest.approx(40.0)
    assert stats.p50_ms == pytest.approx(25.0)
    assert stats.p95_ms == pytest.approx(89.5)  # linear interpolation between 30 and 100 ms
    assert stats.fps == pytest.approx(25.0)
    assert stats.to_dict() == pytest.approx(
        {"steps": 4, "fps": 25.0, "mean_ms": 40.0, "p50_ms": 25.0, "p95_ms": 89.5}
    )


def test_latency_ratios_side_by_side():
    ratios = latency_ratios(
        {"perframe": 50.0, "perframe_ema": 55.0, "t2g": 80.0, "segformer_b0": 240.0}
    )
    assert ratios == pytest.approx(
        {
            "t2g/perframe": 1.6,
            "perframe_ema/perframe": 1.1,
            "segformer_b0/t2g": 3.0,
            "segformer_b0/perframe": 4.8,
        }
    )
    assert latency_ratios({"t2g": 80.0}) == {}


@pytest.mark.parametrize(
    "backend, runtime", [("torch", "StreamingSegmenter"), ("onnxruntime", "OrtStreamingSegmenter")]
)
def test_streaming_step_runs_the_contender_on_its_backend(
    checkpoints, backend, runtime, tmp_path, monkeypatch
):
    monkeypatch.setenv(
        "XDG_CACHE_HOME", str(tmp_path)
    )  # the onnxruntime export goes to a private cache
    loaded = load_checkpoint(checkpoints[1])
    contender = Contender(T2G, "T2G", loaded, None, str(checkpoints[1]), backend=backend)
    assert type(contender.segmenter(max_gap_s=2.0, device="cpu")).__name__ == runtime
    step = streaming_step(contender, (48, 64), max_gap_s=2.0, device="cpu")
    results = [step(i) for i in range(5)]  # frame i at i / 25 s: one stream, no resets
    assert [r.frames_in_memory for r in results] == [1, 2, 3, 3, 3]
    assert [r.reset_reason for r in results] == ["start", None, None, None, None]
    assert all(r.labels.shape == (48, 64) for r in results)


def test_segformer_peer_segments_at_frame_size():
    pytest.importorskip("transformers")
    peer = SegformerPeer(num_classes=11)
    labels = peer.step(np.zeros((64, 96, 3), np.uint8))
    assert labels.shape == (64, 96) and labels.dtype == np.uint8 and labels.max() < 11
