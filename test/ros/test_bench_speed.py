"""make bench-speed: step rows of every backend on a tiny checkpoint, computed from the times the
bench measured (a fake clock), the ratios, the per-stage profile through the segmenters' public API
with scripts/bench_speed.py's message stages, the goal checks, the markdown report and the
onnxruntime session variants (t2g_core.evaluation: step_timing, stage_profile, speed_report,
session_variants). Only bookkeeping is checked, not timings."""

from __future__ import annotations

import os

import pytest

from t2g_core.evaluation import session_variants as variants
from t2g_core.evaluation import speed_report, stage_profile, step_timing


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
    capacity = loaded.model.memory_capacity
    lines: list[str] = []
    bases = [
        10.0,
        20.0,
        30.0,
        40.0,
    ]  # torch per-frame, torch temporal, onnxruntime per-frame, temporal
    rows = step_timing.bench_steps(
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
    assert [(r["backend"], r["mode"], r["memory_length"]) for r in rows] == [
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
        for r in step_timing.step_ratios(rows)
    }
    assert ratios == pytest.approx(
        {
            ("torch / onnxruntime", "480x360", None, "per-frame"): 20 / 60,
            ("torch / onnxruntime", "480x360", None, "temporal"): 40 / 80,
            ("temporal / per-frame", "480x360", "torch", None): 2.0,
            ("temporal / per-frame", "480x360", "onnxruntime", None): 80 / 60,
        }
    )


@pytest.mark.parametrize("layout", ["memory", "gate"])
def test_profile_times_every_stage_through_public_api(
    bench, tiny_checkpoints, tmp_path, one_torch_thread, layout
):
    from tiny_models import REAL_BACKBONE, camvid_config, save_tiny_checkpoint

    from t2g_core import load_checkpoint

    if layout == "memory":
        checkpoint = tiny_checkpoints["temporal"]
    else:  # the shipped T2G's layout: a memory and the output gate
        checkpoint = save_tiny_checkpoint(
            tmp_path / "gated.pt",
            camvid_config(
                backbone=REAL_BACKBONE,
                input_size=(96, 128),
                output_gate=True,
                memory_length=4,
            ),
        )
    loaded = load_checkpoint(checkpoint)
    lines: list[str] = []
    profile = stage_profile.profile_stages(
        checkpoint,
        loaded,
        tmp_path / "cache",
        threads=1,
        repeats=2,
        sizes=["480x360"],
        say=lines.append,
        work=tmp_path,
        node_io=bench.ros_io,
    )
    prof = profile["480x360"]
    rows = {r["stage"]: r for r in prof["rows"]}
    memory = loaded.model.memory_capacity
    for stage in (
        "decode rgb8 Image (raw)",
        "backbone",
        stage_profile.INPUT_RESIZE,
        f"memory decoder (decode_m{memory}.onnx)",
        "read-out: upsample, argmax, confidence",
        "occupancy grid",
        "colourisation",
        "overlay",
    ):
        assert stage in rows, stage
    assert ("output gate (gate.onnx)" in rows) == (layout == "gate")
    assert any(s.startswith("publish: build") for s in rows)
    assert any(s.startswith("encoder: ") for s in rows)  # the modules after the backbone
    assert all(0 < r["p50_ms"] <= r["p95_ms"] for r in rows.values())
    assert all(r["how"] in stage_profile.HOW for r in rows.values())
    leaves = [r for r in rows.values() if r["leaf"]]
    assert sum(r["share"] for r in leaves) == pytest.approx(1.0)
    assert prof["leaves_p50_ms"] == pytest.approx(sum(r["p50_ms"] for r in leaves))
    # The encode graph's parts split its wall time by the profiler's shares.
    parts = [r for r in rows.values() if r["how"] == "ort-profile"]
    assert sum(r["p50_ms"] for r in parts) == pytest.approx(prof["encode_p50_ms"])
    assert prof["backbone_alone_p50_ms"] > 0 and prof["step_p50_ms"] > 0
    assert len(lines) == len(rows) + 1
    assert prof["precision"] == "fp32"
    if layout == "gate":  # the shipped layout at int8: the quantised backbone's nodes are its row
        int8 = stage_profile.profile_stages(
            checkpoint,
            loaded,
            tmp_path / "cache",
            threads=1,
            repeats=2,
            sizes=["480x360"],
            say=lines.append,
            work=tmp_path,
            precision="int8",
        )["480x360"]
        int8_rows = {r["stage"]: r for r in int8["rows"]}
        assert int8["precision"] == "int8" and int8_rows["backbone"]["p50_ms"] > 0
        parts = [r for r in int8_rows.values() if r["how"] == "ort-profile"]
        assert sum(r["p50_ms"] for r in parts) == pytest.approx(int8["encode_p50_ms"])
        assert any(line.startswith("  profile  480x360 int8 backbone") for line in lines)


def test_kernel_shares_group_nodes_by_module_after_the_first_run():
    def run(ts):
        return {"cat": "Session", "name": "model_run", "ts": ts, "dur": 50}

    def node(name, ts, dur):
        return {"cat": "Node", "name": f"{name}_kernel_time", "ts": ts, "dur": dur}

    events = [
        run(0),
        node("/backbone/_blocks.0/Conv", 10, 1000),  # first run: left out
        run(100),
        node("/backbone/_blocks.0/Conv", 110, 30),
        node("/backbone/_blocks.1/Conv_fused", 120, 30),
        node("/Resize", 105, 10),
        node("/stability_queries/levels.8/MatMul", 130, 20),
        node("/k_1/MatMul", 140, 5),
        node("ReorderOutput_token_3", 145, 5),
        {"cat": "Node", "name": "/backbone/x_fence_before", "ts": 111, "dur": 999},
    ]
    shares = stage_profile.kernel_shares(events, {"/Resize"})
    assert shares == pytest.approx(
        {
            "backbone": 0.6,
            "stability_queries": 0.2,
            stage_profile.INPUT_RESIZE: 0.1,
            "memory K/V projections and layout": 0.1,
        }
    )
    assert list(shares)[0] == "backbone"  # largest first


def test_side_by_side_rows_and_ratios_come_from_the_measured_times():
    class Fixed:
        def step(self, frame, stamp):
            return None

    clock = RowClock([10.0, 20.0, 60.0])  # t2g fp32, t2g int8, peer: two timed steps each
    contenders = {"t2g fp32": Fixed, "t2g int8": Fixed, step_timing.PEER: Fixed}

    def broken():
        raise ValueError("no int4 export")

    lines: list[str] = []
    rows = step_timing.side_by_side(
        {**contenders, "t2g int4": broken},
        steps=2,
        warmup=1,
        sizes=["480x360"],
        say=lines.append,
        clock=clock,
    )
    assert [r["contender"] for r in rows] == list(contenders)
    assert [r["p50_ms"] for r in rows] == pytest.approx([20.0, 40.0, 120.0])
    assert any("t2g int4 cannot be opened (no int4 export)" in line for line in lines)
    ratios = {r["ratio"]: r["value"] for r in step_timing.side_by_side_ratios(rows)}
    assert ratios == pytest.approx(
        {
            f"{step_timing.PEER} / t2g fp32": 6.0,
            f"{step_timing.PEER} / t2g int8": 3.0,
            "t2g fp32 / t2g int8": 0.5,
        }
    )
    (goal,) = [g for g in speed_report.goals([], side=rows) if "peer" in g["goal"]]
    assert goal["met"] is True and goal["measured"] == "6.00x"


def test_ratios_goals_and_report():
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
            "memory_length": 1 if mode == "per-frame" else 4,
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
        for r in step_timing.step_ratios(steps)
    }
    assert ratios[("torch / onnxruntime", "480x360", None, "temporal")] == pytest.approx(110 / 30)
    assert ratios[("temporal / per-frame", "480x360", "onnxruntime", None)] == pytest.approx(1.2)
    assert ratios[("960x720 / 480x360", None, "onnxruntime", "temporal")] == pytest.approx(1.5)
    profile_rows = [
        {
            "stage": "backbone",
            "p50_ms": 12.0,
            "p95_ms": 13.0,
            "share": 0.8,
            "how": "ort-profile",
            "leaf": True,
        },
        {
            "stage": "decode JPEG",
            "p50_ms": 1.0,
            "p95_ms": 2.0,
            "share": None,
            "how": "wall",
            "leaf": False,
        },
        {
            "stage": "memory decoder (decode_m4.onnx)",
            "p50_ms": 4.0,
            "p95_ms": 4.5,
            "share": 0.1,
            "how": "wall",
            "leaf": True,
        },
        {
            "stage": "overlay",
            "p50_ms": 3.0,
            "p95_ms": 4.0,
            "share": 0.1,
            "how": "wall",
            "leaf": True,
        },
    ]
    profile = {
        "480x360": {
            "rows": profile_rows,
            "leaves_p50_ms": 15.0,
            **{
                f"{k}_p50_ms": v
                for k, v in (
                    ("step", 30.0),
                    ("frame", 33.0),
                    ("encode", 20.0),
                    ("backbone_alone", 25.0),
                )
            },
            **{
                f"{k}_p95_ms": v
                for k, v in (
                    ("step", 31.0),
                    ("frame", 34.0),
                    ("encode", 21.0),
                    ("backbone_alone", 26.0),
                )
            },
        }
    }
    # The shipped default at int8: the backbone twice as fast, the step 16 ms.
    budget = {
        **profile["480x360"],
        "precision": "int8",
        "step_p50_ms": 16.0,
        "rows": [{**profile_rows[0], "p50_ms": 6.0}, *profile_rows[1:]],
    }
    goals = speed_report.goals(steps, profile=profile, budget=budget)
    # step 30 / backbone alone 25 = 1.2x <= 1.3x; per-frame 25 / 25 = 1.0x <= 1.1x; memory decoder
    # 4 ms > 3 ms; int8 backbone 12 / 6 = 2x; 16 ms <= 16.7 ms.
    assert [g["met"] for g in goals] == [True, True, False, True, True]
    assert [g["measured"].split(" ")[0] for g in goals] == [
        "1.20x",
        "1.00x",
        "4.00",
        "2.00x",
        "16.0",
    ]
    assert "memory decoder" in goals[2]["goal"] and "int8" in goals[4]["goal"]
    # Without the int8 profile there is no int8 goal, and the stages are the fp32 profile's.
    assert [g["met"] for g in speed_report.goals(steps, profile=profile)] == [True, True, False]
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
        "ratios": step_timing.step_ratios(steps),
        "profile": profile,
        "repeats": 5,
        "side_by_side": [
            {
                "size": "480x360",
                "contender": "t2g fp32",
                "p50_ms": 20.0,
                "p95_ms": 25.0,
                "fps": 50.0,
            },
            {
                "size": "480x360",
                "contender": step_timing.PEER,
                "p50_ms": 110.0,
                "p95_ms": 120.0,
                "fps": 9.0,
            },
        ],
        "budget": budget,
        "goals": goals,
    }
    text = speed_report.markdown(report)
    headings = [line for line in text.splitlines() if line.startswith("#")]
    assert headings[0] == "# t2g speed" and not any("Through ROS" in h for h in headings)
    assert (
        speed_report.SPLIT_NOTE in text
    )  # the measured reason the encode/decode split won is kept
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
    assert len(ratio_rows) == len(step_timing.step_ratios(steps))
    assert [cells[-1] for cells in tables["goal"]] == ["yes" if g["met"] else "no" for g in goals]
    # The profile: each stage with its own p50, p95 and share (none for a stage outside the sum).
    stage_tables = [cells[:4] for cells in tables["stage"]]
    assert stage_tables[:4] == [
        ["backbone", "12.00", "13.00", "80.0 %"],
        ["decode JPEG", "1.00", "2.00", "-"],
        ["memory decoder (decode_m4.onnx)", "4.00", "4.50", "10.0 %"],
        ["overlay", "3.00", "4.00", "10.0 %"],
    ]
    # The budget table: the step's stages only (not the JPEG decode or the overlay), with budgets.
    assert stage_tables[4:] == [
        ["backbone", "6.00", "7.0", "yes"],
        ["memory decoder (decode_m4.onnx)", "4.00", "3.0", "no"],
    ]
    assert sum(speed_report.STAGE_BUDGETS_MS.values()) == pytest.approx(
        speed_report.STEP_BUDGET_MS, abs=0.05
    )
    assert "step / backbone alone = 1.20x" in text
    assert [cells[:3] for cells in tables["contender"]] == [
        ["t2g fp32", "480x360", "20.0"],
        [step_timing.PEER, "480x360", "110.0"],
    ]
    assert tables["side-by-side ratio of p50"] == [
        [f"{step_timing.PEER} / t2g fp32", "480x360", "5.50x"]
    ]


def test_session_variants_change_only_how_sessions_run(
    tiny_checkpoints, tmp_path, one_torch_thread
):
    """Each in-process variant gives the shipped variant's labels; the 1-thread one really builds
    1-thread decoder sessions. (global-pool-spin is process-wide: the subprocess test covers it.)"""
    frames = step_timing.camera_frames((96, 128), 3)

    def labels_of(variant):
        seg = variants.open_variant(
            tiny_checkpoints["temporal"], variant, threads=2, cache_dir=tmp_path
        )
        return seg, [seg.step(f, 0.1 * i).labels for i, f in enumerate(frames)]

    _, shipped = labels_of("shipped")
    for variant in ("spin-encode", "small-graphs-1-thread"):
        seg, got = labels_of(variant)
        assert all((a == b).all() for a, b in zip(got, shipped)), variant
    threads = [s.get_session_options().intra_op_num_threads for s in seg._decoders.values()]
    assert threads == [1] * len(threads)
    assert seg._encode.get_session_options().intra_op_num_threads == 2
    with pytest.raises(ValueError, match="unknown session variant"):
        variants.variant_options("turbo")


def test_a_session_variant_runs_in_its_own_process(tiny_checkpoints, tmp_path):
    lines: list[str] = []
    rows = variants.session_variants(
        tiny_checkpoints["temporal"],
        threads=1,
        steps=2,
        warmup=1,
        rounds=1,
        env={**os.environ, "T2G_EXPORT_CACHE": str(tmp_path)},
        say=lines.append,
    )
    assert [r["variant"] for r in rows] == list(variants.SESSION_VARIANTS), lines
    assert all(r["rounds"] == 1 and r["p95_ms"] >= r["p50_ms"] > 0 for r in rows)
