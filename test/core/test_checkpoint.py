"""Checkpoints: exact round trip without backbone weights, and a CheckpointError for every bad file."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from t2g_core import (
    CheckpointError,
    LabelSet,
    Provenance,
    build_model,
    load_checkpoint,
    save_checkpoint,
)


def _labels(k: int = 5) -> LabelSet:
    names = tuple(f"c{i}" for i in range(k))
    return LabelSet(names=names, colors=tuple((i, 2 * i, 3 * i) for i in range(k)), void_id=k)


PROVENANCE = Provenance(
    data="tiny random clips",
    git_commit="0123abc",
    hardware="2-core CPU",
    metrics={"val_miou": 0.5, "val_vc8": 0.9},
    extra={"epochs": 3, "lr": 1e-3, "note": "test"},
)


@pytest.fixture
def saved(tmp_path, make_tiny_config):
    torch.manual_seed(0)
    model = build_model(make_tiny_config())
    path = tmp_path / "model.pt"
    save_checkpoint(path, model, _labels(), PROVENANCE)
    return model, path


def test_round_trip_gives_identical_outputs(saved):
    model, path = saved
    loaded = load_checkpoint(path)
    assert loaded.label_set == _labels()
    assert loaded.provenance == PROVENANCE
    assert loaded.model.config == model.config
    assert not loaded.model.training
    clip = torch.rand(1, 3, 3, 32, 48) * 255
    times = torch.tensor([[0.0, 0.1, 0.3]])
    model.eval()
    with torch.no_grad():
        expected = model.forward_clip(clip, times)
        got = loaded.model.forward_clip(clip, times)
    assert torch.equal(expected.sem_logits, got.sem_logits)
    assert all(torch.equal(a, b) for a, b in zip(expected.aux_sem_logits, got.aux_sem_logits))


def test_file_holds_trainable_weights_only(saved):
    model, path = saved
    payload = torch.load(path, weights_only=True)
    assert set(payload["trainable_state"]) == set(model.trainable.state_dict())
    assert not any("backbone" in key for key in payload["trainable_state"])
    stored = sum(t.numel() for t in payload["trainable_state"].values())
    assert stored == sum(
        p.numel() for p in model.trainable.parameters()
    )  # no buffers beyond parameters
    assert payload["model_config"] == model.config.to_dict()


def _mutate(path, change) -> None:
    payload = torch.load(path, weights_only=True)
    change(payload)
    torch.save(payload, path)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda p: p.update(format_version=99), "unknown checkpoint format_version 99"),
        (lambda p: p.pop("provenance"), "checkpoint keys"),
        (
            lambda p: p["trainable_state"].pop("stability_queries.queries"),
            r"missing \['stability_queries.queries'\]",
        ),
        (lambda p: p["trainable_state"].update(extra=torch.zeros(1)), r"unexpected \['extra'\]"),
        (
            lambda p: p["trainable_state"].update(
                {"stability_queries.queries": torch.zeros(7, 16)}
            ),
            r"shape mismatch for stability_queries.queries: checkpoint \(7, 16\), model \(4, 16\)",
        ),
        (lambda p: p["model_config"].update(dim=12), "invalid config"),
        (
            lambda p: p["model_config"].update(num_queries=5),
            "shape mismatch for stability_queries.queries",
        ),
        (
            lambda p: p["model_config"]["backbone"].update(name="not_registered"),
            "unknown backbone 'not_registered'",
        ),
        (
            lambda p: p["labels"].update(names=["a", "b"], colors=[[0, 0, 0]] * 2, void_id=2),
            "label set has 2 classes",
        ),
        (
            lambda p: p["provenance"].update(metrics={"miou": "high"}),
            "invalid config, labels or provenance",
        ),
    ],
)
def test_bad_checkpoint_contents(saved, change, message):
    _, path = saved
    _mutate(path, change)
    with pytest.raises(CheckpointError, match=message) as info:
        load_checkpoint(path)
    assert str(path) in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="no such checkpoint file") as info:
        load_checkpoint(tmp_path / "absent.pt")
    assert "absent.pt" in str(info.value)


@pytest.mark.parametrize("kind", ["garbage", "truncated", "text"])
def test_unreadable_files(saved, kind):
    _, path = saved
    data = path.read_bytes()
    if kind == "garbage":
        path.write_bytes(bytes(range(256)) * 10)
    elif kind == "truncated":
        path.write_bytes(data[: len(data) // 2])
    else:
        path.write_text("model: t2g\n")
    with pytest.raises(CheckpointError, match="not a readable weights-only torch file") as info:
        load_checkpoint(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    "payload", [torch.zeros(3), {"state_dict": {"w": torch.zeros(1)}}, {"format": "other"}]
)
def test_torch_files_that_are_not_t2g_checkpoints(tmp_path, payload):
    path = tmp_path / "other.pt"
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="not a t2g checkpoint") as info:
        load_checkpoint(path)
    assert str(path) in str(info.value)


def test_pickled_objects_are_refused(tmp_path):
    path = tmp_path / "pickled.pt"
    torch.save({"format": "t2g-checkpoint", "obj": _labels()}, path)
    with pytest.raises(CheckpointError, match="not a readable weights-only torch file"):
        load_checkpoint(path)


def test_save_refuses_label_set_of_wrong_size(tmp_path, make_tiny_config):
    model = build_model(make_tiny_config())
    with pytest.raises(ValueError, match="label set has 3 classes, model predicts 5"):
        save_checkpoint(tmp_path / "x.pt", model, _labels(3), PROVENANCE)
    assert not (tmp_path / "x.pt").exists()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"git_commit": 123}, "provenance.git_commit must be a str"),
        ({"metrics": {"miou": "0.5"}}, "provenance.metrics must map str to float"),
        ({"extra": {"flag": True}}, "provenance.extra must map str to str/int/float"),
        ({"extra": {"nested": {"a": 1}}}, "provenance.extra must map str to str/int/float"),
    ],
)
def test_provenance_types_are_checked(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Provenance(**kwargs)


def test_provenance_numpy_scalars_become_builtins():
    prov = Provenance(
        metrics={"miou": np.float32(0.5)}, extra={"step": np.int64(3), "lr": np.float64(1e-3)}
    )
    assert prov.metrics == {"miou": 0.5} and type(prov.metrics["miou"]) is float
    assert type(prov.extra["step"]) is int and type(prov.extra["lr"]) is float
