from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
CAMVID_VAL = (REPO / ".." / "shared" / "data" / "camvid" / "val" / "images").resolve()


@pytest.fixture(scope="session")
def ros():
    """One rclpy context for the test process (nodes under test run in their own processes)."""
    import rclpy

    rclpy.init()
    yield rclpy
    rclpy.try_shutdown()


@pytest.fixture(scope="session")
def tiny_checkpoints(tmp_path_factory):
    """Random weights on the real backbone (the node runs in its own process, which cannot see test
    backbones): ``temporal`` has the shipped checkpoint's capacity of 4 frames, ``per_frame`` 1.
    Their onnxruntime exports (the node's default backend) are built here, into the run's export
    cache, as the set-up does for the shipped checkpoint: a node's activation (which holds its
    lifecycle services) then only loads them."""
    from tiny_models import REAL_BACKBONE, camvid_config, save_tiny_checkpoint

    from t2g_core.export import cached_export

    folder = tmp_path_factory.mktemp("checkpoints")
    checkpoints = {
        name: save_tiny_checkpoint(
            folder / f"random_init_{name}.pt",
            camvid_config(
                backbone=REAL_BACKBONE, input_size=(96, 128), temporal=temporal, memory_length=4
            ),
        )
        for name, temporal in (("temporal", True), ("per_frame", False))
    }
    for checkpoint in checkpoints.values():
        cached_export(checkpoint)
    return checkpoints


@pytest.fixture(scope="session")
def frames() -> list[np.ndarray]:
    """Eight consecutive real CamVid val frames (480x360 RGB), or generated ones where the data is absent."""
    paths = sorted(CAMVID_VAL.glob("*.jpg"))[:8]
    if paths:
        return [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in paths]
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (360, 480, 3), dtype=np.uint8)
    return [np.roll(base, 4 * i, axis=1) for i in range(8)]
