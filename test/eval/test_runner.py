"""The evaluation run on tiny random checkpoints and synthetic data: files, keys and value ranges."""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import pytest

from t2g_core.evaluate import main
from t2g_core.evaluation import PERFRAME, PERFRAME_EMA, RESULTS_FILE, SUMMARY_FILE, T2G, T2G_MEMORY1

MODELS = (PERFRAME, PERFRAME_EMA, T2G)


def _in_unit(value: float | None) -> bool:
    return value is not None and 0.0 <= value <= 1.0


def test_writes_json_markdown_and_plots(quick_config, quick_results):
    out = Path(quick_config.output_dir)
    on_disk = json.loads((out / RESULTS_FILE).read_text())
    assert set(on_disk) == {
        "meta",
        "class_names",
        "models",
        "ema_tuning",
        "targets",
        "speed",
        "plots",
    }
    assert set(on_disk["targets"]) == {"camvid_test", "camvid_corrupted", "video", "val_15hz"}
    assert set(on_disk["plots"]) == {"miou", "stability", "per_class", "strip"}
    for name in on_disk["plots"].values():
        image = cv2.imread(str(out / name))
        assert image is not None and image.shape[0] > 100 and image.shape[1] > 100, name
    summary = (out / SUMMARY_FILE).read_text()
    for heading in (
        "Accuracy: mIoU",
        "Stability on the labelled CamVid val run",
        "Flicker on real dash-cam video",
        "Per-class IoU",
        "Speed of one streaming step",
        "EMA baseline",
        "Quick smoke run",
        "Memory ablation",
    ):
        assert heading in summary
    assert [m["name"] for m in on_disk["models"]] == [*MODELS, T2G_MEMORY1]
    assert (
        on_disk["meta"]["quick"] is True
        and on_disk["meta"]["nproc"] >= 1
        and on_disk["meta"]["cpu"]
    )


def test_accuracy_values_are_fractions(quick_results):
    targets = quick_results["targets"]
    k = len(quick_results["class_names"])
    assert targets["camvid_test"]["frames"] == 7
    for name in MODELS:
        clean = targets["camvid_test"]["models"][name]
        assert _in_unit(clean["miou"])
        assert len(clean["per_class_iou"]) == k
        assert all(math.isnan(v) or 0 <= v <= 1 for v in clean["per_class_iou"])
        for corruption in ("fog", "spatter"):
            scores = targets["camvid_corrupted"]["corruptions"][corruption][name]
            assert _in_unit(scores["miou"])
            if clean["miou"] > 0:
                assert scores["retention"] == pytest.approx(scores["miou"] / clean["miou"])
            else:
                assert math.isnan(scores["retention"])


def test_per_stride_entries_for_every_configured_stride(quick_config, quick_results):
    video, val = quick_results["targets"]["video"], quick_results["targets"]["val_15hz"]
    assert video["clips"] == {"clip": 8}  # quick: the first 8 of 9 frames
    for name in MODELS:
        per_stride = video["models"][name]["per_stride"]
        assert [e["stride"] for e in per_stride] == list(quick_config.targets.video.strides)
        assert all(_in_unit(e["rate"]) and e["denominator"] > 0 for e in per_stride)
        entries = val["models"][name]
        assert [e["stride"] for e in entries] == list(quick_config.targets.val_15hz.strides)
        for e in entries:
            assert _in_unit(e["miou"]) and _in_unit(e["flicker"])
        # 8 frames; phases of 8 (stride 1), 4+4 (stride 2) and 3+3+2 frames (stride 3): windows pooled over phases.
        assert [e["vc3_windows"] for e in entries] == [6, 4, 2]
        assert [e["vc4_windows"] for e in entries] == [5, 2, 0]
        assert all(_in_unit(e["vc3"]) for e in entries) and math.isnan(entries[2]["vc4"])
    strip = video["strip"]
    assert 0 <= strip["start"] <= 8 - strip["length"] and _in_unit(strip["rate"])


def test_ema_tuning_on_val_and_chosen_alpha_used(quick_results):
    tuning = quick_results["ema_tuning"]
    assert tuning["split"] == "val"
    assert [c["alpha"] for c in tuning["candidates"]] == [0.3, 0.7]
    assert tuning["alpha"] in (1.0, 0.3, 0.7)
    ema = next(m for m in quick_results["models"] if m["name"] == PERFRAME_EMA)
    assert ema["ema_alpha"] == tuning["alpha"]


def test_speed_has_positive_fps_and_ratios(quick_results, has_transformers):
    speed = quick_results["speed"]
    assert speed["sizes"] == ["64x48", "128x96"]
    expected = set(MODELS) | ({"segformer_b0"} if has_transformers else set())
    assert set(speed["models"]) == expected
    for per_size in speed["models"].values():
        for stats in per_size.values():
            assert stats["fps"] > 0 and 0 < stats["p50_ms"] <= stats["p95_ms"]
    for size in speed["sizes"]:
        ratios = speed["ratios"][size]
        p50 = {name: speed["models"][name][size]["p50_ms"] for name in expected}
        assert ratios["t2g/perframe"] == pytest.approx(p50[T2G] / p50[PERFRAME])
        if has_transformers:
            assert ratios["segformer_b0/t2g"] == pytest.approx(p50["segformer_b0"] / p50[T2G])


def test_cli_reports_a_missing_checkpoint(tmp_path, capsys):
    config = tmp_path / "eval.yaml"
    text = (Path(__file__).resolve().parents[2] / "config" / "eval.yaml").read_text()
    config.write_text(
        text.replace("checkpoints/perframe_lite0_camvid.pt", str(tmp_path / "missing.pt"))
    )
    assert (
        main(
            ["--config", str(config), "--quick", "--no-progress", "--output", str(tmp_path / "out")]
        )
        == 2
    )
    assert "missing.pt" in capsys.readouterr().err
