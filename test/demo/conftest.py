"""Fixtures for the demo test: a tiny random checkpoint with the shipped one's memory capacity."""

from __future__ import annotations

from pathlib import Path

import pytest
from tiny_models import REAL_BACKBONE, camvid_config, save_tiny_checkpoint


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """Random weights (outputs are meaningless), a memory of 4: the default model.memory_length."""
    config = camvid_config(backbone=REAL_BACKBONE, input_size=(96, 128), memory_length=4)
    path = tmp_path_factory.mktemp("ckpt") / "random_init_t4.pt"
    return save_tiny_checkpoint(path, config, seed=0)
