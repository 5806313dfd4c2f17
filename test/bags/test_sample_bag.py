"""The shipped sample bag (data/sample/) is what its README says it is."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from t2g_ros.bags.io import open_reader
from t2g_ros.image_codec import compressed_msg_to_rgb

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample"
BAG = SAMPLE / "solidwhiteright"
TOPIC = "/camera/image_raw/compressed"
FRAMES, WIDTH, HEIGHT, FPS = 150, 480, 270, 25


@pytest.fixture(scope="module")
def messages():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a truncation warning would fail the test
        with open_reader(BAG) as bag:
            assert bag.topics == {TOPIC: "sensor_msgs/msg/CompressedImage"}
            assert bag.message_count(TOPIC) == FRAMES
            return list(bag.messages(TOPIC))


def test_count_frame_id_and_format(messages):
    assert len(messages) == FRAMES
    assert {m.msg.header.frame_id for m in messages} == {"camera"}
    assert {m.msg.format for m in messages} == {"rgb8; jpeg compressed bgr8"}


def test_stamps_strictly_increase_at_25_fps(messages):
    stamps = np.array([m.stamp_ns for m in messages], np.int64)
    steps = np.diff(stamps)
    assert (steps > 0).all()
    np.testing.assert_allclose(steps, 1e9 / FPS, atol=1e6)  # within 1 ms of 40 ms
    assert [m.log_time_ns for m in messages] == stamps.tolist()
    assert (stamps[-1] - stamps[0]) / 1e9 == pytest.approx((FRAMES - 1) / FPS)


def test_frames_decode_to_the_documented_size_and_are_real_video(messages):
    frames = [compressed_msg_to_rgb(m.msg) for m in messages]
    assert {f.shape for f in frames} == {(HEIGHT, WIDTH, 3)}
    first = frames[0].astype(np.int16)
    assert first.std() > 20  # a real scene, not a flat placeholder
    # Daytime sky on top: blue brighter than red in the top rows (catches swapped channels).
    assert first[:40, :, 2].mean() > first[:40, :, 0].mean() + 10
    motion = [np.abs(a.astype(np.int16) - b).mean() for a, b in zip(frames, frames[1:])]
    assert min(motion) > 0.5 and max(motion) < 40  # consecutive frames: moving, yet the same scene


def test_size_and_readme_match():
    size = sum(f.stat().st_size for f in BAG.iterdir())
    assert size <= 8_000_000
    readme = (SAMPLE / "README.md").read_text()
    facts = (TOPIC, f"{FRAMES} consecutive frames", f"{WIDTH}x{HEIGHT}", f"{FPS} fps")
    facts += ("Copyright (c) 2016-2019 Udacity, Inc.",)
    for fact in facts:
        assert fact in readme
    assert f"{size / 1e6:.2f} MB" in readme
