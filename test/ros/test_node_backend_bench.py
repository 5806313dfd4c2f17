"""scripts/bench_speed.py (make bench-speed): step rows of all three backends on a tiny checkpoint, the
ratios, the goal checks and the markdown report. The through-ROS part runs the node like
test_node_backend.py does; here only its bookkeeping is checked, not timings."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_speed", REPO / "scripts" / "bench_speed.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def one_torch_thread():
    """As in the core tests: two torch threads collapse when the shared test machine is oversubscribed."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_step_rows_for_every_backend_and_mode(bench, tiny_checkpoints, tmp_path, one_torch_thread):
    from t2g_core import load_checkpoint
    from t2g_core.export import cached_export

    model = load_checkpoint(tiny_checkpoints["temporal"]).model
    export_dir = cached_export(tiny_checkpoints["temporal"], cache_dir=tmp_path, model=model)
    lines: list[str] = []
    rows = bench.bench_steps(model, export_dir, threads=1, steps=2, warmup=1, sizes=["480x360"],
                             backends=bench.BACKENDS, say=lines.append)
    assert [(r["backend"], r["mode"], r["memory_frames"]) for r in rows] == [
        ("torch", "per-frame", 1), ("torch", "temporal", 3), ("onnxruntime", "per-frame", 1),
        ("onnxruntime", "temporal", 3), ("ort+torch", "per-frame", 1), ("ort+torch", "temporal", 3)]
    assert all(r["fps"] > 0 and r["p95_ms"] >= r["p50_ms"] > 0 and r["steps"] == 2 for r in rows)
    assert len(lines) == 6 and "FPS" in lines[0]


def test_ratios_goals_and_report(bench):
    def row(size, backend, mode, p50):
        return {"size": size, "backend": backend, "mode": mode, "p50_ms": p50, "p95_ms": p50 * 1.2,
                "fps": 1000 / p50, "mean_ms": p50, "steps": 10, "memory_frames": 1 if mode == "per-frame" else 4}

    steps = [row("480x360", "torch", "per-frame", 100.0), row("480x360", "torch", "temporal", 110.0),
             row("480x360", "onnxruntime", "per-frame", 25.0), row("480x360", "onnxruntime", "temporal", 30.0),
             row("960x720", "onnxruntime", "temporal", 45.0)]
    ratios = {(r["ratio"], r.get("size"), r.get("backend"), r.get("mode")): r["value"] for r in bench.step_ratios(steps)}
    assert ratios[("torch / onnxruntime", "480x360", None, "temporal")] == pytest.approx(110 / 30)
    assert ratios[("temporal / per-frame", "480x360", "onnxruntime", None)] == pytest.approx(1.2)
    assert ratios[("960x720 / 480x360", None, "onnxruntime", "temporal")] == pytest.approx(1.5)
    ros = [{"backend": "onnxruntime", "size": "480x360", "output_rate_hz": 24.0, "latency_ms_p95": 70.0,
            "latency_slope_ms_per_s": 0.1, "publish_rate_hz": 30.0, "latency_ms_p50": 50.0,
            "node_processing_ms_p50": 35.0, "node_processing_ms_p95": 40.0, "dropped_overwritten_total": 40}]
    goals = bench.goals(steps, ros)
    assert [g["met"] for g in goals] == [True, True, True]  # 33 FPS, 1.2x, 24 Hz / 70 ms / flat
    ros[0]["latency_slope_ms_per_s"] = 5.0  # a growing lag fails the node goal
    assert bench.goals(steps, ros)[-1]["met"] is False
    report = {"date": "today", "machine": {"cpu": "cpu", "cores": 2, "torch": "t", "onnxruntime": "o",
                                          "load_average": [0.1, 0.1, 0.1]},
              "model": "m", "threads": 2, "steps_per_row": 10, "step": steps, "ratios": bench.step_ratios(steps),
              "profile": {"480x360": {"decode": 0.5, "  part": 0.25}}, "ros": ros, "ros_rate_hz": 30.0,
              "ros_seconds": 10.0, "ros_warmup_s": 3.0, "goals": goals}
    text = bench.markdown(report)
    assert "| 480x360 | onnxruntime | temporal | 33.3 | 30.0 | 36.0 |" in text
    assert "| torch / onnxruntime | 480x360, temporal | 3.67x |" in text
    assert "| onnxruntime | 480x360 | 30.0 | 24.0 | 50.0 | 70.0 | +5.00 |" in text
