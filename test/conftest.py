"""Test-wide environment: DDS on loopback, one ROS domain per run, the large-image Fast DDS profile.

These are set before any test imports rclpy, so running plain `pytest` (not only `make test`) is safe on
machines where traffic may not leave loopback. Subprocesses started by tests inherit them.
"""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = (REPO_ROOT / ".." / "shared" / "data").resolve()

# LOCALHOST unless a test run deliberately chose OFF (single-process only); never the default SUBNET.
if os.environ.get("ROS_AUTOMATIC_DISCOVERY_RANGE") not in ("LOCALHOST", "OFF"):
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("ROS_DOMAIN_ID", str(random.randint(1, 100)))
os.environ.setdefault(
    "FASTDDS_DEFAULT_PROFILES_FILE", str(REPO_ROOT / "config" / "fastdds_large_images.xml")
)
if sys.prefix not in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep):
    os.environ["AMENT_PREFIX_PATH"] = os.pathsep.join(
        p for p in (sys.prefix, os.environ.get("AMENT_PREFIX_PATH")) if p
    )


@pytest.fixture(scope="session", autouse=True)
def _export_cache(tmp_path_factory) -> None:
    """ONNX exports of the tests' random checkpoints go to one folder per run, never the user's
    cache; node processes started by tests inherit it. A test may point T2G_EXPORT_CACHE elsewhere."""
    os.environ["T2G_EXPORT_CACHE"] = str(tmp_path_factory.mktemp("export_cache"))


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """Random weights (outputs are meaningless) on the real backbone at a small input, a memory of 4:
    the node's default ``model.memory_length``. Shared by the bag-tool, demo and node tests."""
    from tiny_models import REAL_BACKBONE, camvid_config, save_tiny_checkpoint

    config = camvid_config(backbone=REAL_BACKBONE, input_size=(96, 128), memory_length=4)
    return save_tiny_checkpoint(
        tmp_path_factory.mktemp("ckpt") / "random_init_t4.pt", config, seed=0
    )


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the repository (CamVid, video). CI always has it."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data folder not found at {SHARED_DATA}")
    return SHARED_DATA
