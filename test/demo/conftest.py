"""Fixtures for the demo tests: a tiny random checkpoint with the shipped one's memory capacity, and
the sample bag's first 10 frames."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from tiny_models import REAL_BACKBONE, camvid_config, save_tiny_checkpoint

from t2g_ros.bags.io import BagWriter, open_reader

# small_disk (a tiny tmpfs: a real full disk) lives beside the bag tool tests.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bags"))

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample" / "solidwhiteright"
TOPIC = "/camera/image_raw/compressed"


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """Random weights (outputs are meaningless), a memory of 4: the default model.memory_length."""
    config = camvid_config(backbone=REAL_BACKBONE, input_size=(96, 128), memory_length=4)
    path = tmp_path_factory.mktemp("ckpt") / "random_init_t4.pt"
    return save_tiny_checkpoint(path, config, seed=0)


@pytest.fixture(scope="session")
def short_bag(tmp_path_factory) -> tuple[Path, list[int]]:
    """The sample bag's first 10 frames, and their stamps."""
    path = tmp_path_factory.mktemp("bags") / "first10"
    with open_reader(SAMPLE) as source, BagWriter(path, typestore=source.typestore) as bag:
        bag.add_topic(TOPIC, "sensor_msgs/msg/CompressedImage")
        messages = [m for m, _ in zip(source.messages(TOPIC), range(10))]
        for message in messages:
            bag.write(TOPIC, message.msg, message.log_time_ns)
    return path, [m.stamp_ns for m in messages]
