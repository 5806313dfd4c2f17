"""Fixtures for the bag tool tests: a typestore and real road frames (the tiny checkpoint is the
root conftest's)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def store():
    from t2g_ros.bags.io import make_typestore

    return make_typestore()


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
