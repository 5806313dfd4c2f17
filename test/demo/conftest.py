"""Fixtures for the demo tests: the sample bag's first 10 frames (the tiny checkpoint is the root
conftest's)."""

from __future__ import annotations

from pathlib import Path

import pytest

from t2g_ros.bags.io import BagWriter, open_reader

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample" / "solidwhiteright"
TOPIC = "/camera/image_raw/compressed"


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
