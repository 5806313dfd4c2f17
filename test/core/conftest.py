"""Core-test fixtures: the tiny models of ``test/tiny_models.py`` (a tiny frozen backbone in the registry,
tiny model configs), so model tests run in milliseconds on CPU. Real EfficientNet-Lite backbones are
tested in test_backbone.py."""

from __future__ import annotations

import pytest
import torch
from tiny_models import tiny_config

# Core tests run tiny tensors, where intra-op threads only add hand-off cost; on the shared 2-core machine
# under load, 2 threads made single steps ~20x slower than 1 (thread oversubscription).
torch.set_num_threads(1)


@pytest.fixture
def make_tiny_config():
    """``tiny_models.tiny_config`` as a fixture: a model of about 20k trainable parameters."""
    return tiny_config
