"""config/eval.yaml loads strictly; --quick overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from t2g_core.evaluation import load_eval_config

CONFIG = Path(__file__).resolve().parents[2] / "config" / "eval.yaml"


def test_repository_config_loads_and_quick_variant_overrides():
    cfg = load_eval_config(CONFIG)
    assert cfg.max_frames is None and not cfg.is_quick
    assert cfg.targets.video.strides == (1, 2, 4, 8)
    assert cfg.targets.val_15hz.strides == tuple(range(1, 9))
    assert cfg.max_gap_s > 31 / 30  # CamVid test's 1 Hz steps must never reset the memory
    quick = cfg.quick_variant()
    assert quick.is_quick and quick.max_frames == cfg.quick.frames
    assert quick.output_dir == str(Path(cfg.output_dir) / "quick")
    assert quick.speed.steps == cfg.quick.steps and quick.ema.alphas == cfg.quick.ema_alphas


@pytest.mark.parametrize(
    "old, new, message",
    [
        ("output_dir: results", "output_dir: results\nthread: 3", "thread"),
        ("severity: 3", "severity: 6", "severity"),
        ("strides: [1, 2, 4, 8]", "strides: [1, 1]", "video.strides"),
        ("max_miou_drop: 0.005", "max_miou_drop: 2", "max_miou_drop"),
        ("alphas: [0.2,", "alphas: [1.0,", "alphas"),
        ("device: cpu", "device: cpu\nmax_frames: 3", "max_frames"),
        ("  vc_window: 8", "", "vc_window"),
    ],
)
def test_bad_values_name_the_key(tmp_path, old, new, message):
    text = CONFIG.read_text()
    assert old in text
    path = tmp_path / "eval.yaml"
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(ValueError, match=message):
        load_eval_config(path)
