"""Core-test fixtures: a tiny frozen backbone in the registry and tiny model configs, so model tests run
in milliseconds on CPU. Real EfficientNet-Lite backbones are tested in test_backbone.py."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from t2g_core import BACKBONES, FrozenBackbone, register_backbone
from t2g_core.config import BackboneConfig, DecoderConfig, ModelConfig, TemporalConfig

TINY_BACKBONE = "test_tiny"

# Core tests run tiny tensors, where intra-op threads only add hand-off cost; on the shared 2-core machine
# under load, 2 threads made single steps ~20x slower than 1 (thread oversubscription).
torch.set_num_threads(1)


class TinyBackbone(FrozenBackbone):
    """Three strided 3x3 convs (one with BatchNorm): strides 8/16/32, 8/12/16 channels, ceil sizes."""

    def __init__(self, *, weights: str | None = None) -> None:
        if weights is not None:
            raise ValueError("the tiny test backbone has no weights file")
        super().__init__(out_channels={8: 8, 16: 12, 32: 16})
        # Fixed seed: every build is the same "pretrained" backbone, as a real one loaded from a file.
        with torch.random.fork_rng():
            torch.manual_seed(1234)
            self.s8 = nn.Sequential(nn.Conv2d(3, 8, 3, stride=8, padding=1), nn.BatchNorm2d(8), nn.ReLU())
            self.s16 = nn.Sequential(nn.Conv2d(8, 12, 3, stride=2, padding=1), nn.ReLU())
            self.s32 = nn.Sequential(nn.Conv2d(12, 16, 3, stride=2, padding=1), nn.ReLU())
            nn.init.uniform_(self.s8[1].running_mean, -0.5, 0.5)
        self._freeze()

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        return images / 255.0

    def extract(self, x: torch.Tensor) -> dict[int, torch.Tensor]:
        f8 = self.s8(x)
        f16 = self.s16(f8)
        return {8: f8, 16: f16, 32: self.s32(f16)}


if TINY_BACKBONE not in BACKBONES:
    register_backbone(TINY_BACKBONE)(TinyBackbone)


def tiny_config(
    *, memory_frames: int = 3, temporal: bool = True, input_size: tuple[int, int] = (32, 48)
) -> ModelConfig:
    """A model of about 20k trainable parameters on the tiny backbone."""
    return ModelConfig(
        backbone=BackboneConfig(name=TINY_BACKBONE),
        input_size=input_size,
        num_classes=5,
        dim=16,
        num_queries=4,
        decoder=DecoderConfig(num_layers=2, num_heads=2, ffn_dim=32, memory_strides=(32, 16)),
        temporal=TemporalConfig(enabled=temporal, memory_frames=memory_frames),
    )


@pytest.fixture
def make_tiny_config():
    """``tiny_config`` as a fixture (test modules must not import conftest)."""
    return tiny_config
