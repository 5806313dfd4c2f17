"""Evaluation-test fixtures: a synthetic shared-data folder (CamVid-like runs, a short mp4), tiny randomly
initialised checkpoints (``tiny_models.camvid_config`` on the tiny registered backbone without
BatchNorm), a quick config over them, and one evaluation run shared by the test modules.

Nothing here reads the real CamVid test split: the data is drawn here, so the tests are hermetic and fast
(the real backbones are tested in test/core).
"""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from tiny_models import camvid_config, save_tiny_checkpoint

from t2g_core.evaluation import load_eval_config, run_evaluation
from t2g_core.evaluation.config import EvalConfig

REPO = Path(__file__).resolve().parents[2]
IMAGE_SIZE = (72, 96)  # (H, W) of the synthetic CamVid frames
VAL_FRAMES = range(7959, 7959 + 2 * 8, 2)  # 8 frames of 0016E5 at 15 Hz
TEST_RUNS = {"0001TP": range(8550, 8550 + 30 * 4, 30), "Seq05VD": range(1290, 1290 + 30 * 3, 30)}
VIDEO_FRAMES = 9


def _scene(rng: np.random.Generator, shift: int) -> tuple[np.ndarray, np.ndarray]:
    """An image and labels of horizontal bands that drift by ``shift`` rows, so some labels stay stable."""
    h, w = IMAGE_SIZE
    rows = (np.arange(h) + shift) // 12 % 12  # band ids 0..11, 11 = void
    labels = np.repeat(rows[:, None], w, axis=1).astype(np.uint8)
    image = (labels[..., None] * np.array([19, 37, 53]) % 256).astype(np.uint8)
    image = np.clip(image.astype(np.int16) + rng.integers(-8, 9, image.shape), 0, 255).astype(
        np.uint8
    )
    return image, labels


def _write_split(
    root: Path, split: str, frames: dict[str, range], rng: np.random.Generator
) -> None:
    lines = []
    for sequence, numbers in frames.items():
        for k, number in enumerate(numbers):
            name = f"{sequence}_{number:05d}"
            image, labels = _scene(rng, k)
            for sub in ("images", "labels"):
                (root / split / sub).mkdir(parents=True, exist_ok=True)
            cv2.imwrite(
                str(root / split / "images" / f"{name}.jpg"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
            )
            cv2.imwrite(str(root / split / "labels" / f"{name}.png"), labels)
            lines.append(f"{split}/images/{name}.jpg {split}/labels/{name}.png")
    (root / f"{split}.txt").write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="session")
def synthetic_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A shared-data folder: camvid/{test,val} (CamVid names and layout) and video/clip/clip.mp4."""
    root = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    _write_split(root / "camvid", "test", TEST_RUNS, rng)
    _write_split(root / "camvid", "val", {"0016E5": VAL_FRAMES}, rng)
    (root / "video" / "clip").mkdir(parents=True)
    writer = cv2.VideoWriter(
        str(root / "video" / "clip" / "clip.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 25, (192, 108)
    )
    for k in range(VIDEO_FRAMES):
        writer.write(
            np.roll(
                np.tile(np.arange(192, dtype=np.uint8), (108, 1))[..., None].repeat(3, 2),
                4 * k,
                axis=1,
            )
        )
    writer.release()
    return root


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(per-frame, T2G) random checkpoints."""
    folder = tmp_path_factory.mktemp("ckpt")
    return (
        save_tiny_checkpoint(folder / "perframe.pt", camvid_config(temporal=False), seed=0),
        save_tiny_checkpoint(folder / "t2g.pt", camvid_config(temporal=True), seed=1),
    )


@pytest.fixture(scope="session")
def has_transformers() -> bool:
    return importlib.util.find_spec("transformers") is not None


@pytest.fixture(scope="session")
def quick_config(
    synthetic_data: Path,
    checkpoints: tuple[Path, Path],
    has_transformers: bool,
    tmp_path_factory: pytest.TempPathFactory,
) -> EvalConfig:
    """The repository's config/eval.yaml pointed at the synthetic data and random checkpoints, made small."""
    cfg = load_eval_config(REPO / "config" / "eval.yaml")
    targets = cfg.targets
    cfg = dataclasses.replace(
        cfg,
        output_dir=str(tmp_path_factory.mktemp("results")),
        data_root=str(synthetic_data),
        threads=1,  # other jobs share the CPU; one thread does not spin-wait against them
        models=dataclasses.replace(
            cfg.models, perframe=str(checkpoints[0]), t2g=str(checkpoints[1]), espnetv2_peer=None
        ),
        ema=dataclasses.replace(cfg.ema, vc_window=3),
        targets=dataclasses.replace(
            targets,
            camvid_corrupted=dataclasses.replace(
                targets.camvid_corrupted, corruptions=("fog", "spatter")
            ),
            video=dataclasses.replace(targets.video, width=96, strides=(1, 2, 4)),
            val_15hz=dataclasses.replace(
                targets.val_15hz, last_frame=VAL_FRAMES[-1], strides=(1, 2, 3), vc_windows=(3, 4)
            ),
        ),
        speed=dataclasses.replace(
            cfg.speed, sizes=((48, 64), (96, 128)), segformer_peer=has_transformers
        ),
        quick=dataclasses.replace(cfg.quick, frames=8, ema_alphas=(0.3, 0.7)),
    )
    return cfg.quick_variant()


@pytest.fixture(scope="session")
def quick_results(quick_config: EvalConfig) -> dict:
    """One quick evaluation run over the synthetic data, shared by the test modules (returned dict)."""
    threads = torch.get_num_threads()
    try:
        return run_evaluation(quick_config, config_path="test", progress=False)
    finally:
        torch.set_num_threads(
            threads
        )  # the run sets the process-wide count; later tests get theirs back
