"""scripts/bench_speed.py (make bench-speed): step rows of every backend on a tiny checkpoint, computed from
the times the bench measured (a fake clock), the ratios, the per-stage profile through the segmenters'
public API, the goal checks and the markdown report. The through-ROS part runs the node like
test_node_backend.py does; here only its bookkeeping is checked, not timings."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def bench():
    import bench_speed  # scripts/ is on the test path (pytest.ini pythonpath)

    return bench_speed


def _tables(text: str) -> dict[str, list[list[str]]]:
    """Markdown tables by their header row's first cell: the body rows, split into cells."""
    tables: dict[str, list[list[str]]] = {}
    current: list[list[str]] | None = None
    for line in text.splitlines():
        if not line.startswith("|"):
            current = None
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if current is None:
            current = tables.setdefault(cells[0], [])
        elif not set("".join(cells)) <= set("-:"):
            current.append(cells)
    return tables


@pytest.fixture
def one_torch_thread():
    """As in the core tests: two torch threads collapse when the shared test machine is oversubscribed."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


class RowClock:
    """Fake clock: timed step j of row r lasts ``bases_ms[r] * (1, 3)[j]`` (two timed steps per row)."""

    def __init__(self, bases_ms: list[float]) -> None:
        self.bases_ms, self.reads, self.now = bases_ms, 0, 0.0

    def __call__(self) -> float:
        step, is_end = divmod(self.reads, 2)
        self.reads += 1
        if is_end:
            self.now += self.bases_ms[step // 2] * (1, 3)[step % 2] / 1000.0
        return self.now


def test_step_rows_and_ratios_come_from_the_measured_times(
    bench, tiny_checkpoints, tmp_path, one_torch_thread
):
    from t2g_core import load_checkpoint
    from t2g_core.inference import BACKEND_NAMES

    checkpoint = tiny_checkpoints["temporal"]
    loaded = load_checkpoint(checkpoint)
    capacity = loaded.model.memory_length
    lines: list[str] = []
    bases = [
        10.0,
        20.0,
        30.0,
        40.0,
    ]  # torch per-frame, torch temporal, onnxruntime per-frame, temporal
    rows = bench.bench_steps(
        checkpoint,
        loaded,
        tmp_path,
        threads=1,
        steps=2,
        warmup=1,
        sizes=["480x360"],
        backends=BACKEND_NAMES,
        say=lines.append,
        clock=RowClock(bases),
    )
    assert [(r["backend"], r["mode"], r["memory_frames"]) for r in rows] == [
        ("torch", "per-frame", 1),
        ("torch", "temporal", capacity),
        ("onnxruntime", "per-frame", 1),
        ("onnxruntime", "temporal", capacity),
    ]
    for row, base in zip(rows, bases):  # steps of base and 3 * base ms
        assert (row["steps"], row["mean_ms"], row["p50_ms"]) == (
            2,
            pytest.approx(2 * base),
            pytest.approx(2 * base),
        )
        assert row["p95_ms"] == pytest.approx(base * 2.9) and row["fps"] == pytest.approx(
            500 / base
        )
    assert len(lines) == 4 and f"{500 / bases[0]:6.1f} FPS" in lines[0]
    ratios = {
        (r["ratio"], r.get("size"), r.get("backend"), r.get("mode")): r["value"]
        for r in bench.step_ratios(rows)
    }
    assert ratios == pytest.approx(
        {
            ("torch / onnxruntime", "480x360", None, "per-frame"): 20 / 60,
            ("torch / onnxruntime", "480x360", None, "temporal"): 40 / 80,
            ("temporal / per-frame", "480x360", "torch", None): 2.0,
            ("temporal / per-frame", "480x360", "onnxruntime", None): 80 / 60,
        }
    )


def test_profile_times_every_stage_through_public_api(
    bench, tiny_checkpoints, tmp_path, one_torch_thread
):
    from t2g_core import load_checkpoint

    checkpoint = tiny_checkpoints["temporal"]
    loaded = load_checkpoint(checkpoint)
    lines: list[str] = []
    profile = bench.profile_stages(
        checkpoint, loaded, tmp_path, threads=1, repeats=1, sizes=["480x360"], say=lines.append
    )
    stages = profile["480x360"]
    assert "  ort encode graph (resize + backbone + SQ + pixel dec + K/V)" in stages
    assert (
        f"  ort decode graph (memory {loaded.model.memory_length})" in stages
        and "onnxruntime step (total)" in stages
    )
    assert len(lines) == len(stages) and all(ms > 0 for ms in stages.values())


def test_ratios_goals_and_report(bench):
    def row(size, backend, mode, p50):
        return {
            "size": size,
            "backend": backend,
            "mode": mode,
            "p50_ms": p50,
            "p95_ms": p50 * 1.2,
            "fps": 1000 / p50,
            "mean_ms": p50,
            "steps": 10,
            "memory_frames": 1 if mode == "per-frame" else 4,
        }

    steps = [
        row("480x360", "torch", "per-frame", 100.0),
        row("480x360", "torch", "temporal", 110.0),
        row("480x360", "onnxruntime", "per-frame", 25.0),
        row("480x360", "onnxruntime", "temporal", 30.0),
        row("960x720", "onnxruntime", "temporal", 45.0),
    ]
    ratios = {
        (r["ratio"], r.get("size"), r.get("backend"), r.get("mode")): r["value"]
        for r in bench.step_ratios(steps)
    }
    assert ratios[("torch / onnxruntime", "480x360", None, "temporal")] == pytest.approx(110 / 30)
    assert ratios[("temporal / per-frame", "480x360", "onnxruntime", None)] == pytest.approx(1.2)
    assert ratios[("960x720 / 480x360", None, "onnxruntime", "temporal")] == pytest.approx(1.5)
    ros = [
        {
            "backend": "onnxruntime",
            "size": "480x360",
            "output_rate_hz": 24.0,
            "latency_ms_p95": 70.0,
            "latency_slope_ms_per_s": 0.1,
            "publish_rate_hz": 30.0,
            "latency_ms_p50": 50.0,
            "node_processing_ms_p50": 35.0,
            "node_processing_ms_p95": 40.0,
            "dropped_overwritten_total": 40,
        }
    ]
    goals = bench.goals(steps, ros)
    assert [g["met"] for g in goals] == [True, True, True]  # 33 FPS, 1.2x, 24 Hz / 70 ms / flat
    ros[0]["latency_slope_ms_per_s"] = 5.0  # a growing lag fails the node goal
    assert bench.goals(steps, ros)[-1]["met"] is False
    report = {
        "date": "today",
        "machine": {
            "cpu": "cpu",
            "cores": 2,
            "torch": "t",
            "onnxruntime": "o",
            "load_average": [0.1, 0.1, 0.1],
        },
        "model": "m",
        "threads": 2,
        "steps_per_row": 10,
        "step": steps,
        "ratios": bench.step_ratios(steps),
        "profile": {"480x360": {"decode": 0.5, "  part": 0.25}},
        "ros": ros,
        "ros_rate_hz": 30.0,
        "ros_seconds": 10.0,
        "ros_warmup_s": 3.0,
        "goals": goals,
    }
    text = bench.markdown(report)
    headings = [line for line in text.splitlines() if line.startswith("#")]
    assert headings[0] == "# t2g speed" and any("Through ROS" in h for h in headings)
    assert bench.SPLIT_NOTE in text  # the measured reason the encode/decode split won is kept
    tables = _tables(text)
    # Every measured row is one table row carrying its own numbers (FPS, p50, p95).
    step_rows = tables["size"]
    assert len(step_rows) == len(steps)
    for cells, r in zip(step_rows, steps):
        assert cells[:3] == [r["size"], r["backend"], r["mode"]]
        assert [float(c) for c in cells[3:6]] == pytest.approx(
            [r["fps"], r["p50_ms"], r["p95_ms"]], abs=0.05
        )
    ratio_rows = {(cells[0], cells[1]): float(cells[2].rstrip("x")) for cells in tables["ratio"]}
    assert ratio_rows[("torch / onnxruntime", "480x360, temporal")] == pytest.approx(
        110 / 30, abs=0.005
    )
    assert len(ratio_rows) == len(bench.step_ratios(steps))
    (ros_row,) = tables["backend"]
    assert ros_row[:2] == ["onnxruntime", "480x360"] and float(ros_row[6]) == pytest.approx(5.0)
    assert [cells[-1] for cells in tables["goal"]] == ["yes" if g["met"] else "no" for g in goals]
    assert list(tables["stage"][0][1:]) == ["0.50"]  # the profile's stage, in ms
