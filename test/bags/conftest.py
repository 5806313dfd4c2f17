"""Fixtures for the bag tool tests: a typestore, a tiny random checkpoint and real road frames."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# node_harness (NodeProcess) lives beside the node tests; the replay -> node -> record test uses it.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ros"))


@pytest.fixture(scope="session")
def store():
    from t2g_ros.bags.io import make_typestore

    return make_typestore()


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """Random weights (outputs are meaningless), a memory of 4: the node's default model.memory_length."""
    from tiny_models import REAL_BACKBONE, camvid_config, save_tiny_checkpoint

    config = camvid_config(backbone=REAL_BACKBONE, input_size=(96, 128), memory_length=4)
    return save_tiny_checkpoint(
        tmp_path_factory.mktemp("ckpt") / "random_init_t4.pt", config, seed=0
    )


@pytest.fixture(scope="session")
def sample_frames():
    """Nine real road frames (every 4th of the sample bag), 72x128 RGB: unlike synthetic patterns they make
    the random tiny model predict several classes that change over time, so flicker and IoU are non-trivial."""
    import cv2

    from t2g_ros.bags.io import open_reader
    from t2g_ros.image_codec import compressed_msg_to_rgb

    sample = Path(__file__).resolve().parents[2] / "data" / "sample" / "solidwhiteright"
    with open_reader(sample) as bag:
        frames = [
            compressed_msg_to_rgb(m.msg)
            for m, _ in zip(bag.messages("/camera/image_raw/compressed"), range(36))
        ]
    return [cv2.resize(f, (128, 72), interpolation=cv2.INTER_AREA) for f in frames[::4]]
