"""The memory ablation: the changed-label share, the memory-1 contender, its results, its table."""

from __future__ import annotations

import numpy as np
import pytest

from t2g_core import load_checkpoint
from t2g_core.evaluation import (
    T2G,
    T2G_MEMORY1,
    Contender,
    LabelChange,
    label_change,
    memory_ablation_contender,
    render_markdown,
)
from t2g_core.evaluation.ablation import flicker_ratio

VAL_FRAMES = 8  # conftest's synthetic val run


def test_label_change_counts_differing_pixels_over_frames():
    a = [np.array([[0, 1], [2, 3]], np.uint8), np.array([[5, 5, 5]], np.uint8)]
    b = [np.array([[0, 1], [3, 3]], np.uint8), np.array([[4, 5, 6]], np.uint8)]
    change = label_change(a, b)
    # frame 0: 1 of 4 pixels differs; frame 1: 2 of 3 -> 3 of 7 pooled (not the mean of 1/4, 2/3).
    assert (change.changed, change.pixels) == (3, 7)
    assert change.rate == pytest.approx(3 / 7)
    assert change.merge(LabelChange(1, 3)).rate == pytest.approx(4 / 10)
    assert np.isnan(LabelChange().rate)
    with pytest.raises(ValueError, match="same frames"):
        label_change(a, b[:1])
    with pytest.raises(ValueError, match="frame 1"):
        label_change(a, [b[0], b[1][:, :2]])


def test_flicker_ratio():
    assert flicker_ratio(0.02, 0.04) == pytest.approx(0.5)
    assert np.isnan(flicker_ratio(0.02, 0.0)) and np.isnan(flicker_ratio(None, 0.04))


def test_ablation_contender_runs_with_a_one_frame_memory(checkpoints):
    perframe_path, t2g_path = checkpoints
    t2g = Contender(T2G, "T2G", load_checkpoint(t2g_path), None, str(t2g_path))
    ablated = memory_ablation_contender(t2g)
    assert ablated.name == T2G_MEMORY1 and ablated.loaded is t2g.loaded
    assert ablated.memory_length == 1
    frame = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    used = {}
    for contender in (t2g, ablated):
        segmenter = contender.segmenter(max_gap_s=1.0, device="cpu")
        used[contender.name] = [segmenter.step(frame, 0.1 * k).frames_in_memory for k in range(4)]
    assert used == {T2G: [1, 2, 3, 3], T2G_MEMORY1: [1, 1, 1, 1]}
    perframe = Contender(
        "perframe", "per-frame", load_checkpoint(perframe_path), None, str(perframe_path)
    )
    assert memory_ablation_contender(perframe) is None  # nothing to ablate


def test_quick_run_has_the_ablation_on_both_streaming_targets(quick_results):
    models = {m["name"]: m for m in quick_results["models"]}
    assert models[T2G_MEMORY1]["memory_length"] == 1 and models[T2G]["memory_length"] == 3
    targets = quick_results["targets"]
    h, w = 72, 96  # the synthetic val frames; the clip is 192x108 resized to 96 wide
    frames = {"val_15hz": VAL_FRAMES, "video": 8}
    pixels = {"val_15hz": h * w, "video": 96 * 54}
    for key in ("val_15hz", "video"):
        ablation = targets[key]["memory_ablation"]
        assert (ablation["full"], ablation["memory1"]) == (T2G, T2G_MEMORY1)
        assert [e["stride"] for e in ablation["per_stride"]] == targets[key]["strides"]
        for e in ablation["per_stride"]:
            # every frame once per stride (the phases partition the frames)
            assert e["pixels"] == frames[key] * pixels[key]
            assert e["changed"] == pytest.approx(e["changed_pixels"] / e["pixels"])
            assert 0 <= e["changed"] <= 1
            if key == "val_15hz":
                full = next(s for s in targets[key]["models"][T2G] if s["stride"] == e["stride"])[
                    "flicker"
                ]
            else:
                full = next(
                    s
                    for s in targets[key]["models"][T2G]["per_stride"]
                    if s["stride"] == e["stride"]
                )["rate"]
            assert e["flicker_full"] == full
            if e["flicker_memory1"]:
                assert e["flicker_ratio"] == pytest.approx(e["flicker_full"] / e["flicker_memory1"])
    assert T2G_MEMORY1 not in quick_results["speed"]["models"]
    assert T2G_MEMORY1 not in targets["camvid_test"]["models"]


def _synthetic_results() -> dict:
    def per_stride(**values):
        return {"stride": 1, **values}

    return {
        "meta": {
            "date_utc": "2025-01-01",
            "cpu": "cpu",
            "nproc": 2,
            "torch_threads": 1,
            "torch": "2",
            "git_commit": "abc",
            "wall_s": 60.0,
            "quick": False,
        },
        "class_names": ["a", "b"],
        "models": [
            {
                "name": "perframe",
                "label": "per-frame",
                "checkpoint": "p.pt",
                "ema_alpha": None,
                "memory_length": 1,
            },
            {
                "name": T2G,
                "label": "T2G",
                "checkpoint": "t.pt",
                "ema_alpha": None,
                "memory_length": 4,
            },
            {
                "name": T2G_MEMORY1,
                "label": "T2G, memory 1",
                "checkpoint": "t.pt",
                "ema_alpha": None,
                "memory_length": 1,
            },
        ],
        "ema_tuning": {
            "alpha": 0.5,
            "criterion": "c",
            "split": "val",
            "vc_window": 8,
            "max_miou_drop": 0.005,
            "reference": {"alpha": 1.0, "miou": 0.6, "vc": 0.9},
            "candidates": [],
        },
        "targets": {
            "val_15hz": {
                "frames": 10,
                "rate_hz": 15.0,
                "strides": [1],
                "vc_windows": [8],
                "models": {
                    "perframe": [per_stride(miou=0.68, flicker=0.05, vc8=0.88)],
                    T2G: [per_stride(miou=0.70, flicker=0.02, vc8=0.95)],
                    T2G_MEMORY1: [per_stride(miou=0.69, flicker=0.04, vc8=0.90)],
                },
                "memory_ablation": {
                    "full": T2G,
                    "memory1": T2G_MEMORY1,
                    "per_stride": [
                        per_stride(
                            changed=0.0025,
                            changed_pixels=25,
                            pixels=10000,
                            flicker_full=0.02,
                            flicker_memory1=0.04,
                            flicker_ratio=0.5,
                        )
                    ],
                },
            },
            "video": {
                "fps": 25.0,
                "width": 480,
                "strides": [1],
                "clips": {"c": 10},
                "models": {
                    name: {"per_stride": [per_stride(rate=r)], "per_clip": {}}
                    for name, r in (("perframe", 0.05), (T2G, 0.03), (T2G_MEMORY1, 0.04))
                },
                "memory_ablation": {
                    "full": T2G,
                    "memory1": T2G_MEMORY1,
                    "per_stride": [
                        per_stride(
                            changed=0.125,
                            changed_pixels=1,
                            pixels=8,
                            flicker_full=0.03,
                            flicker_memory1=0.04,
                            flicker_ratio=0.75,
                        )
                    ],
                },
            },
        },
    }


def test_report_renders_the_memory_ablation_table():
    text = render_markdown(_synthetic_results())
    assert "## Memory ablation: T2G with memory 4 vs memory 1" in text
    assert "| val 1 (15 Hz) | 0.25 | 2.00 | 4.00 | 0.50 | 0.950 | 0.900 | 70.0 | 69.0 |" in text
    assert "| video 1 (25 fps) | 12.50 | 3.00 | 4.00 | 0.75 | – | – | – | – |" in text
    # The ablation contender stays out of the tables that compare models on every target.
    stability = text.split("## Memory ablation")[0].split("## Stability")[1]
    assert "T2G, memory 1" not in stability


def test_report_without_ablation_has_no_table():
    results = _synthetic_results()
    for target in results["targets"].values():
        del target["memory_ablation"]
    assert "Memory ablation" not in render_markdown(results)
