"""The staged recipe end to end on a generated CamVid-shaped folder: stage 1 (single views, backbone on
the fly) trains the per-frame model; stage 2 trains only the temporal parts on ego-motion clips, so its
model at memory 1 is the stage-1 checkpoint exactly; the view and clip samplers draw what they say."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from camvid_folder import write_split

from t2g_core import load_checkpoint
from t2g_core.data.camvid import CamVidSplit
from t2g_core.train import _outermost_new_modules
from t2g_core.train import main as train_main
from t2g_core.training.config import EgoClipConfig, ViewConfig
from t2g_core.training.temporal_stage import EgoClipSampler, freeze_all_but
from t2g_core.training.views import ViewSampler

REPO = Path(__file__).resolve().parents[2]
MODEL = {
    "input_size": [64, 96],
    "dim": 32,
    "num_queries": 8,
    "decoder": {"num_layers": 1, "num_heads": 2, "ffn_dim": 32},
    "temporal": {"enabled": False},
    "vertical_prior": {"enabled": True, "num_frequencies": 2},
}


def _keep_recolouring(image, labels, rng):
    """A stand-in for the class-wise recolouring that marks what it touched (sky turns red)."""
    out = image.copy()
    out[labels == 0] = (255, 0, 0)
    return out


@pytest.fixture(scope="module")
def staged(tmp_path_factory) -> Path:
    """The generated data, and both stages run on it (stage 2 from stage 1's best.pt)."""
    base = tmp_path_factory.mktemp("staged")
    rng = np.random.default_rng(0)
    camvid = base / "data" / "camvid"
    write_split(camvid, "train", "0006R0", range(30, 30 * 13, 30), rng)
    write_split(camvid, "train", "0001TP", range(30, 30 * 5, 30), rng)
    write_split(camvid, "val", "0016E5", range(100, 120, 2), rng)
    (base / "perframe.yaml").write_text(yaml.safe_dump(MODEL))
    t2g = {
        **MODEL,
        "temporal": {"enabled": True, "memory_capacity": 3},
        "decoder": {**MODEL["decoder"], "past_encoding": True},
        "output_gate": {"enabled": True, "hidden": 4},
    }
    (base / "t2g.yaml").write_text(yaml.safe_dump(t2g))
    common = {
        "labels": str(REPO / "config" / "classes_camvid.yaml"),
        "data_root": str(base / "data"),
        "init_modules": [],
        "views": {"crop_size": [64, 96], "batch": 4},
        "optim": {"lr": 0.005, "warmup_steps": 2, "threads": 1},
    }
    stage1 = {
        **common,
        "base": str(REPO / "config" / "train_stage1.yaml"),
        "model": str(base / "perframe.yaml"),
        "out_dir": str(base / "stage1"),
        "init_from": "",
        "optim": {**common["optim"], "steps": 16},
        "eval": {"every_steps": 8, "holdout_drives": ["0001TP"]},
    }
    stage2 = {
        **common,
        "base": str(REPO / "config" / "train_stage2.yaml"),
        "model": str(base / "t2g.yaml"),
        "out_dir": str(base / "stage2"),
        "init_from": str(base / "stage1" / "best.pt"),
        "ego_clips": {"length": 3, "batch": 2, "stride_range": [1, 2]},
        "optim": {**common["optim"], "steps": 6},
        "eval": {"every_steps": 3, "holdout_drives": ["0001TP"], "vc8_weight": 1.0},
    }
    for name, config in (("stage1", stage1), ("stage2", stage2)):
        (base / f"{name}.yaml").write_text(yaml.safe_dump(config))
    assert train_main(["--config", str(base / "stage1.yaml"), "--no-progress"]) == 0
    assert train_main(["--config", str(base / "stage2.yaml"), "--no-progress"]) == 0
    return base


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path) as f:
        return list(csv.DictReader(f))


def test_stage1_trains_the_per_frame_model(staged):
    losses = np.array([float(r["loss"]) for r in _rows(staged / "stage1" / "log.csv")])
    assert len(losses) == 16 and np.isfinite(losses).all()
    assert losses[-4:].mean() < losses[:4].mean(), losses
    loaded = load_checkpoint(staged / "stage1" / "best.pt")
    assert loaded.model.memory_capacity == 1
    assert "vertical_prior" in loaded.model.trainable
    assert "single views" in loaded.provenance.data


def test_stage2_trains_only_the_temporal_parts(staged):
    """Every stage-1 weight is bit-identical in the stage-2 checkpoint; the gate moved from the EMA."""
    stage1 = load_checkpoint(staged / "stage1" / "best.pt").model.trainable.state_dict()
    stage2 = load_checkpoint(staged / "stage2" / "last.pt").model
    after = stage2.trainable.state_dict()
    for key, value in stage1.items():
        assert after[key].equal(value), key
    assert after["output_gate.weight.weight"].abs().sum() > 0, "the gate never trained"
    assert after["memory_decoder.past_encoding.past_bias"].abs().sum() > 0, "δ never trained"
    rows = _rows(staged / "stage2" / "val.csv")
    assert [int(r["step"]) for r in rows] == [3, 6]
    for row in rows:
        expected = float(row["val_miou"]) + float(row["val_vc8"])
        assert float(row["val_selection"]) == pytest.approx(expected)


def test_warm_start_names_the_new_part_of_a_module_not_the_module():
    """Stage 2 from stage 1: the decoder is loaded, only its past encoding and the gate are new."""
    keys = [
        "memory_decoder.layers.0.w",
        "memory_decoder.past_encoding.proj.weight",
        "memory_decoder.past_encoding.past_bias",
        "output_gate.evidence.weight",
        "output_gate.weight.bias",
        "pixel_decoder.w",
    ]
    missing = [k for k in keys if "past_encoding" in k or k.startswith("output_gate")]
    assert _outermost_new_modules(keys, missing) == ["memory_decoder.past_encoding", "output_gate"]
    assert _outermost_new_modules(keys, []) == []


def test_stage2_at_memory_one_is_the_stage1_checkpoint(staged):
    from t2g_core import StreamingSegmenter

    perframe = load_checkpoint(staged / "stage1" / "best.pt").model.eval()
    t2g = load_checkpoint(staged / "stage2" / "last.pt").model.eval()
    one = StreamingSegmenter(t2g, max_gap_s=1.0, memory_length=1)
    alone = StreamingSegmenter(perframe, max_gap_s=1.0)
    rng = np.random.default_rng(1)
    for t in range(4):
        frame = rng.integers(0, 256, (64, 96, 3), dtype=np.uint8)
        a, b = one.step(frame, 0.1 * t), alone.step(frame, 0.1 * t)
        np.testing.assert_array_equal(a.labels, b.labels)
        np.testing.assert_allclose(a.confidence, b.confidence, atol=1e-6)


def test_view_sampler_draws_recoloured_views_of_the_configured_size(staged):
    split = CamVidSplit(staged / "data", split="train")
    config = ViewConfig(crop_size=(48, 64), class_appearance_prob=1.0)
    sampler = ViewSampler(split, config, void_id=11, recolour=_keep_recolouring)
    images, labels = sampler.sample(np.random.default_rng(0), 3)
    assert images.shape == (3, 3, 48, 64) and images.dtype == torch.uint8
    assert labels.shape == (3, 48, 64) and labels.dtype == torch.uint8
    again, _ = sampler.sample(np.random.default_rng(0), 3)
    assert images.equal(again), "a seed must reproduce the draw"
    plain = ViewSampler(
        split, ViewConfig(crop_size=(48, 64)), void_id=11, recolour=_keep_recolouring
    )
    # The recoloured sky is red (the photometric draws shift it, but it stays red-dominant).
    sky = (labels == 0)[:, None].expand_as(images)
    red = images[:, 0][labels == 0].float().mean()
    assert red > images[:, 2][labels == 0].float().mean() + 50 and sky.any()
    plain_images, plain_labels = plain.sample(np.random.default_rng(0), 3)
    assert (
        plain_images[:, 2][plain_labels == 0].float().mean()
        > plain_images[:, 0][plain_labels == 0].float().mean()
    )  # CamVid-like generated sky is blue-ish here, never recoloured


def test_clip_sampler_draws_ordered_clips_with_labels(staged):
    split = CamVidSplit(staged / "data", split="train")
    views = ViewSampler(
        split, ViewConfig(crop_size=(48, 64)), void_id=11, recolour=_keep_recolouring
    )
    sampler = EgoClipSampler(views, EgoClipConfig(length=4, batch=2, stride_range=(2, 2)))
    frames, labels, times = sampler.sample(np.random.default_rng(0), 2)
    assert frames.shape == (2, 4, 3, 48, 64) and labels.shape == (2, 4, 48, 64)
    assert times.shape == (2, 4) and (times.diff(dim=1) > 0).all()
    # Stride 2 of a 5-30 fps video: steps between 2/30 and 2/5 s (with the renderer's jitter).
    assert times.diff(dim=1).min() > 0.05 and times.diff(dim=1).max() < 0.5


def test_freeze_all_but_names_real_parameters(staged):
    model = load_checkpoint(staged / "stage2" / "last.pt").model
    kept = freeze_all_but(model, ("output_gate",))
    assert kept and all(p.requires_grad for p in kept)
    assert sum(p.requires_grad for p in model.trainable.parameters()) == len(kept)
    with pytest.raises(ValueError, match="names no parameter"):
        freeze_all_but(model, ("pixel_fusion",))


def test_gpu_recipe_chains_its_stages_within_nine_minutes():
    """``make train-gpu``: stage 2 starts from stage 1's best.pt, both train against a clock that
    leaves room for start-up and validation inside 9 minutes, with augmentation workers to feed a GPU."""
    from t2g_core.training.config import load_train_config

    stage1 = load_train_config(REPO / "config" / "gpu_stage1.yaml")
    stage2 = load_train_config(REPO / "config" / "gpu_stage2.yaml")
    assert (stage1.stage, stage2.stage) == ("views", "temporal")
    assert Path(stage2.init_from) == Path(stage1.out_dir) / "best.pt"
    assert stage1.optim.max_minutes + stage2.optim.max_minutes <= 7.5
    assert stage1.views.workers > 1 and stage2.views.workers > 1
