"""Fixtures for the rosbag workflow tests: a typestore and a tiny random checkpoint."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# node_harness (NodeProcess, make_tiny_checkpoint) lives beside the node tests.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ros"))


@pytest.fixture(scope="session")
def store():
    from t2g_ros.bag_io import make_typestore

    return make_typestore()


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """Random weights (outputs are meaningless), a memory of 4 frames: the node's default clip_length."""
    from node_harness import make_tiny_checkpoint

    return make_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "random_init_t4.pt", memory_frames=4)
