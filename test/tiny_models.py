"""The tiny, RANDOMLY INITIALISED models every test uses: one backbone, one config factory, one
checkpoint writer.

They exercise the real code paths in milliseconds on a CPU; their outputs are meaningless, so tests
check plumbing, shapes and invariants, never accuracy. Import it as ``from tiny_models import ...``
(pytest puts ``test/`` on ``sys.path``, as it holds the rootdir conftest).

Two backbones are registered from one class:
- ``test_tiny``: with a BatchNorm whose running mean is random, so a model that forgot to keep its
  frozen backbone in eval mode (or an export that drops the running statistics) differs;
- ``test_tiny_plain``: the same convolutions without it.
A node under test runs in its own process, which cannot see these registrations: its checkpoints use
the real ``efficientnet_lite0`` backbone (``backbone=REAL_BACKBONE``).
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import torch
from torch import nn

from t2g_core import (
    BACKBONES,
    FrozenBackbone,
    LabelSet,
    Provenance,
    build_model,
    register_backbone,
    save_checkpoint,
)
from t2g_core.config import (
    BackboneConfig,
    DecoderConfig,
    DetailConfig,
    ModelConfig,
    OutputGateConfig,
    TemporalConfig,
    VerticalPriorConfig,
)

REPO = Path(__file__).resolve().parents[1]
TINY_BACKBONE = "test_tiny"
TINY_BACKBONE_PLAIN = "test_tiny_plain"
REAL_BACKBONE = "efficientnet_lite0"
CAMVID_CLASSES = REPO / "config" / "classes_camvid.yaml"


class TinyBackbone(FrozenBackbone):
    """Four strided 3x3 convs: strides 4/8/16/32, 4/8/12/16 channels, ceil sizes; the same weights at
    every build (fixed seed), as a real backbone loaded from a file."""

    def __init__(self, *, weights: str | None = None, batchnorm: bool = True) -> None:
        if weights is not None:
            raise ValueError("the tiny test backbone has no weights file")
        super().__init__(out_channels={4: 4, 8: 8, 16: 12, 32: 16})
        with torch.random.fork_rng():
            torch.manual_seed(1234)
            norm = [nn.BatchNorm2d(8)] if batchnorm else []
            self.s4 = nn.Sequential(nn.Conv2d(3, 4, 3, stride=4, padding=1), nn.ReLU())
            self.s8 = nn.Sequential(nn.Conv2d(4, 8, 3, stride=2, padding=1), *norm, nn.ReLU())
            self.s16 = nn.Sequential(nn.Conv2d(8, 12, 3, stride=2, padding=1), nn.ReLU())
            self.s32 = nn.Sequential(nn.Conv2d(12, 16, 3, stride=2, padding=1), nn.ReLU())
            if batchnorm:
                nn.init.uniform_(self.s8[1].running_mean, -0.5, 0.5)
        self._freeze()

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        return images / 255.0

    def extract(self, x: torch.Tensor) -> dict[int, torch.Tensor]:
        f4 = self.s4(x)
        f8 = self.s8(f4)
        f16 = self.s16(f8)
        return {4: f4, 8: f8, 16: f16, 32: self.s32(f16)}


for _name, _batchnorm in ((TINY_BACKBONE, True), (TINY_BACKBONE_PLAIN, False)):
    if _name not in BACKBONES:
        register_backbone(_name)(partial(TinyBackbone, batchnorm=_batchnorm))


def tiny_config(
    *,
    backbone: str = TINY_BACKBONE,
    input_size: tuple[int, int] = (32, 48),
    num_classes: int = 5,
    dim: int = 16,
    num_queries: int = 4,
    num_layers: int = 2,
    memory_length: int = 3,
    temporal: bool = True,
    detail: bool = False,
    output_gate: bool = False,
    vertical_prior: bool = False,
    past_encoding: bool = False,
) -> ModelConfig:
    """A model config; the defaults give about 20k trainable parameters on ``test_tiny``.
    ``memory_length`` is the model's capacity T (``temporal.memory_capacity``)."""
    return ModelConfig(
        backbone=BackboneConfig(name=backbone),
        input_size=input_size,
        num_classes=num_classes,
        dim=dim,
        num_queries=num_queries,
        decoder=DecoderConfig(
            num_layers=num_layers,
            num_heads=2,
            ffn_dim=32,
            memory_strides=(32, 16),
            past_encoding=past_encoding,
        ),
        temporal=TemporalConfig(enabled=temporal, memory_capacity=memory_length),
        detail=DetailConfig(enabled=detail, channels=8),
        output_gate=OutputGateConfig(enabled=output_gate, hidden=4),
        vertical_prior=VerticalPriorConfig(enabled=vertical_prior, num_frequencies=2),
    )


def camvid_config(
    *,
    backbone: str = TINY_BACKBONE_PLAIN,
    input_size: tuple[int, int] = (64, 96),
    memory_length: int = 3,
    temporal: bool = True,
    output_gate: bool = False,
) -> ModelConfig:
    """A tiny model over the 11 CamVid classes, as saved in checkpoints (evaluation, bags, node);
    ``output_gate``: with the shipped T2G's output gate."""
    return tiny_config(
        backbone=backbone,
        input_size=input_size,
        num_classes=11,
        dim=32,
        num_queries=8,
        num_layers=1,
        memory_length=memory_length,
        temporal=temporal,
        output_gate=output_gate,
    )


def save_tiny_checkpoint(path: Path, config: ModelConfig, *, seed: int | None = None) -> Path:
    """Build ``config`` with random weights (from ``seed`` when given, without touching the global
    RNG state) and save it with the CamVid label set; returns ``path``."""
    with torch.random.fork_rng(enabled=seed is not None):
        if seed is not None:
            torch.manual_seed(seed)
        model = build_model(config)
    save_checkpoint(
        path,
        model,
        LabelSet.from_yaml(CAMVID_CLASSES),
        Provenance(data="none: random initialisation for tests"),
    )
    return path
