"""ModelConfig: YAML files in config/, strict validation, dict round trip."""

from __future__ import annotations

import pytest
import yaml

from t2g_core import ModelConfig, load_model_config


def test_shipped_configs_load():
    t2g = load_model_config("config/model_t2g.yaml")
    perframe = load_model_config("config/model_perframe.yaml")
    assert t2g.memory_capacity == 4 and t2g.temporal.enabled
    assert perframe.memory_capacity == 1 and not perframe.temporal.enabled
    assert t2g.backbone.name == "efficientnet_lite0" and t2g.backbone.weights is None
    assert t2g.input_size == (360, 480) and t2g.decoder.memory_strides == (32, 16)
    # The two differ only in the temporal switch, so the comparison is the memory alone.
    assert (
        perframe.backbone == t2g.backbone
        and perframe.decoder == t2g.decoder
        and perframe.dim == t2g.dim
    )


def test_dict_round_trip():
    cfg = load_model_config("config/model_t2g.yaml")
    plain = cfg.to_dict()
    assert plain["input_size"] == [360, 480]
    assert ModelConfig.from_dict(plain) == cfg


@pytest.mark.parametrize(
    "patch, message",
    [
        ({"colour": 1}, r"unknown key\(s\) \['colour'\]"),
        ({"decoder": {"layers": 3}}, r"unknown key\(s\) \['decoder.layers'\]"),
        ({"dim": "128"}, "dim must be int"),
        ({"dim": 100}, "dim must be a multiple of 8"),
        ({"dim": 136, "decoder": {"num_heads": 5}}, "multiple of 8 and of decoder.num_heads=5"),
        ({"num_queries": 0}, "num_queries must be >= 1"),
        ({"num_classes": True}, "num_classes must be int"),
        ({"input_size": [360, 480, 3]}, "input_size must have 2 items"),
        ({"input_size": [0, 480]}, "input_size must be two positive"),
        ({"decoder": {"memory_strides": [4]}}, "memory_strides must be distinct values"),
        ({"temporal": {"memory_capacity": 0}}, "temporal.memory_capacity must be >= 1"),
        ({"temporal": {"enabled": 1}}, "temporal.enabled must be bool"),
        ({"temporal": {"min_period_s": 5.0, "max_period_s": 1.0}}, "min_period_s <= max_period_s"),
        ({"backbone": {"name": ""}}, "backbone.name must be a non-empty"),
        ({"backbone": "efficientnet_lite0"}, "backbone must be a mapping"),
    ],
)
def test_bad_values_raise_naming_the_key(tmp_path, patch, message):
    data = load_model_config("config/model_t2g.yaml").to_dict()
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key].update(value)
        else:
            data[key] = value
    path = tmp_path / "model.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ValueError, match=message) as info:
        load_model_config(path)
    assert str(path) in str(info.value)


def test_missing_keys_take_documented_defaults():
    assert ModelConfig.from_dict({}) == ModelConfig()
    assert ModelConfig.from_dict({"temporal": {"enabled": False}}).memory_capacity == 1


@pytest.mark.parametrize("old_key", ["memory_length", "memory_frames"])
def test_configs_with_an_old_capacity_key_still_load(old_key):
    """Checkpoints and YAML written before the capacity got its name store ``temporal.memory_length``
    (457207a and the shipped checkpoints) or ``temporal.memory_frames`` (f9261af)."""
    legacy = ModelConfig.from_dict({"temporal": {"enabled": True, old_key: 3}})
    assert legacy.memory_capacity == 3 and legacy.temporal.memory_capacity == 3
    assert legacy == ModelConfig.from_dict({"temporal": {"enabled": True, "memory_capacity": 3}})
    assert "memory_capacity" in legacy.to_dict()["temporal"]  # saved under the new name
    assert old_key not in legacy.to_dict()["temporal"]
    with pytest.raises(ValueError, match="one setting"):
        ModelConfig.from_dict({"temporal": {old_key: 3, "memory_capacity": 3}})


def test_a_checkpoint_with_the_old_capacity_key_loads_and_runs_on_both_backends(tmp_path):
    """A checkpoint file as 457207a wrote it (``temporal.memory_length``) loads, rebuilds its
    capacity and streams on torch and onnxruntime."""
    import numpy as np
    import torch
    from tiny_models import REAL_BACKBONE, camvid_config, save_tiny_checkpoint

    from t2g_core import load_checkpoint
    from t2g_core.inference import open_segmenter

    path = save_tiny_checkpoint(
        tmp_path / "new.pt", camvid_config(backbone=REAL_BACKBONE, memory_length=2), seed=0
    )
    payload = torch.load(path, weights_only=True)
    temporal = payload["model_config"]["temporal"]
    temporal["memory_length"] = temporal.pop("memory_capacity")
    torch.save(payload, tmp_path / "old.pt")
    assert load_checkpoint(tmp_path / "old.pt").model.memory_capacity == 2
    frame = np.random.default_rng(0).integers(0, 256, (64, 96, 3), dtype=np.uint8)
    for backend in ("torch", "onnxruntime"):
        segmenter = open_segmenter(
            tmp_path / "old.pt", backend=backend, threads=1, cache_dir=tmp_path / "cache"
        )
        assert segmenter.memory_capacity == 2
        results = [segmenter.step(frame, 0.1 * t) for t in range(3)]
        assert [r.frames_in_memory for r in results] == [1, 2, 2]


def test_pixel_fusion_needs_the_temporal_model():
    assert ModelConfig.from_dict({"fusion": {"enabled": True}}).pixel_fusion
    assert not ModelConfig.from_dict(
        {"fusion": {"enabled": True}, "temporal": {"enabled": False}}
    ).pixel_fusion
    with pytest.raises(ValueError, match="fusion.window must be an odd int"):
        ModelConfig.from_dict({"fusion": {"window": 4}})
