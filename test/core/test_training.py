"""Training end to end on a generated CamVid-shaped folder: the loss falls, a resumed run continues from
its saved step, and the same job runs under torchrun with 2 CPU processes (DDP over gloo)."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from camvid_folder import write_split

from t2g_core import load_checkpoint
from t2g_core.train import main as train_main
from t2g_core.training.config import load_train_config
from t2g_core.training.trainer import STATE_FILE

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def job(tmp_path_factory) -> Path:
    """A generated dataset (12 train frames of 0006R0 and 6 of 0001TP at 1 Hz, 10 val frames at 15 Hz)
    and a tiny training config that holds 0001TP out of training for validation."""
    base = tmp_path_factory.mktemp("train_job")
    rng = np.random.default_rng(0)
    camvid = base / "data" / "camvid"
    write_split(camvid, "train", "0006R0", range(30, 30 * 13, 30), rng)
    write_split(camvid, "train", "0001TP", range(30, 30 * 7, 30), rng)
    write_split(camvid, "val", "0016E5", range(100, 120, 2), rng)
    (base / "model.yaml").write_text(
        yaml.safe_dump(
            {
                "input_size": [64, 96],
                "dim": 32,
                "num_queries": 8,
                "decoder": {"num_layers": 1, "num_heads": 2, "ffn_dim": 32},
                "temporal": {"enabled": True, "memory_capacity": 3},
                "fusion": {"enabled": True, "window": 3},
                "detail": {"enabled": True, "channels": 8},
            }
        )
    )
    (base / "train.yaml").write_text(
        yaml.safe_dump(
            {
                "base": str(REPO / "config" / "train_camvid.yaml"),
                "model": str(base / "model.yaml"),
                "labels": str(REPO / "config" / "classes_camvid.yaml"),
                "data_root": str(base / "data"),
                "out_dir": str(base / "run"),
                "init_from": "",
                "bank": {
                    "crop_size": [64, 96],
                    "real_views": 2,
                    "pseudo_motions": 1,
                    "pseudo_length": 5,
                    "ego_videos": 1,
                    "ego": {"length": 9},
                },
                "clips": {"real_stride_max": 2, "pseudo_stride_max": 2},
                "optim": {
                    "steps": 24,
                    "batch_pairs": 2,
                    "warmup_steps": 2,
                    "lr": 0.005,
                    "threads": 2,
                },
                "eval": {"every_steps": 12, "holdout_drives": ["0001TP"]},
            }
        )
    )
    return base


def _log(run: Path, name: str) -> list[dict[str, str]]:
    with open(run / name) as f:
        return list(csv.DictReader(f))


def test_training_lowers_the_loss_and_writes_a_loadable_checkpoint(job):
    assert train_main(["--config", str(job / "train.yaml"), "--no-progress"]) == 0
    rows = _log(job / "run", "log.csv")
    assert [int(r["step"]) for r in rows] == list(range(1, 25))
    losses = np.array([float(r["loss"]) for r in rows])
    assert losses[-6:].mean() < 0.8 * losses[:6].mean(), losses
    assert all(np.isfinite(losses))
    assert float(rows[0]["mtc"]) >= 0.0
    val = _log(job / "run", "val.csv")
    assert [int(r["step"]) for r in val] == [12, 24]
    loaded = load_checkpoint(job / "run" / "best.pt")
    assert loaded.provenance.metrics["val_miou"] == max(float(r["val_miou"]) for r in val)
    assert loaded.model.memory_capacity == 3 and loaded.model.pixel_fusion is not None
    assert loaded.model.detail_refiner is not None
    # The selection criterion is the mean of the per-drive mIoUs: the val drive and the held-out one.
    for row in val:
        drives = [float(row["val_miou_0016E5"]), float(row["val_miou_0001TP"])]
        assert float(row["val_miou"]) == pytest.approx(np.mean(drives))
        assert "val_miou_0006R0" not in row  # trained on, so never part of the criterion
    # Every loss term is logged and carries a share of the gradient (grad_share_every 25 -> step 0 only).
    assert float(rows[0]["consecutive"]) > 0 and float(rows[0]["mtc"]) >= 0
    shares = _log(job / "run", "grad_shares.csv")
    assert shares and {"grad_share_seg", "grad_share_consecutive", "grad_share_mtc"} <= set(
        shares[0]
    )
    assert (
        abs(sum(float(v) for k, v in shares[0].items() if k.startswith("grad_share_")) - 1) < 1e-6
    )


def test_warm_start_loads_the_modules_a_checkpoint_has(job, tmp_path):
    """``init_from``: the modules of the v1 checkpoint (no fusion) start from it, the fusion starts random."""
    import dataclasses

    from t2g_core import build_model, save_checkpoint
    from t2g_core.checkpoint import Provenance
    from t2g_core.config import load_model_config
    from t2g_core.labels import LabelSet
    from t2g_core.train import _warm_start

    config = load_model_config(job / "model.yaml")
    old = build_model(
        dataclasses.replace(config, fusion=dataclasses.replace(config.fusion, enabled=False))
    )
    labels = LabelSet.from_yaml(REPO / "config" / "classes_camvid.yaml")
    save_checkpoint(
        tmp_path / "v1.pt", old, labels, Provenance(data="test", git_commit="", hardware="")
    )
    new = build_model(config)
    _warm_start(new, tmp_path / "v1.pt")
    for key, value in old.trainable.state_dict().items():
        assert new.trainable.state_dict()[key].equal(value), key
    wider = build_model(dataclasses.replace(config, dim=64, fusion=config.fusion))
    with pytest.raises(RuntimeError, match="size mismatch"):
        _warm_start(wider, tmp_path / "v1.pt")


def test_resume_continues_from_the_saved_step(job, tmp_path):
    # The finished run saved its state at step 24; raise the step budget and continue it.
    config = yaml.safe_load((job / "train.yaml").read_text())
    config["optim"]["steps"] = 30
    config["eval"]["every_steps"] = 6
    (tmp_path / "more.yaml").write_text(yaml.safe_dump(config))
    assert train_main(["--config", str(tmp_path / "more.yaml"), "--no-progress", "--resume"]) == 0
    steps = [int(r["step"]) for r in _log(job / "run", "log.csv")]
    assert steps == list(range(1, 31)), "resume must continue at step 25, not restart"


def test_starting_into_a_used_out_dir_without_resume_is_refused(job):
    with pytest.raises(SystemExit):
        train_main(["--config", str(job / "train.yaml"), "--no-progress"])


def test_the_test_split_can_never_be_the_validation_split(job, tmp_path):
    config = yaml.safe_load((job / "train.yaml").read_text())
    config["eval"]["val_split"] = "test"
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(ValueError, match="test split"):
        load_train_config(tmp_path / "bad.yaml")


@pytest.mark.slow
def test_torchrun_two_cpu_processes(job, tmp_path):
    config = yaml.safe_load((job / "train.yaml").read_text())
    config["out_dir"] = str(tmp_path / "ddp")
    config["optim"]["steps"] = 4
    config["eval"]["every_steps"] = 4
    (tmp_path / "ddp.yaml").write_text(yaml.safe_dump(config))
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node=2",
            "-m",
            "t2g_core.train",
            "--config",
            str(tmp_path / "ddp.yaml"),
            "--no-progress",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert [int(r["step"]) for r in _log(tmp_path / "ddp", "log.csv")] == [1, 2, 3, 4]
    assert (tmp_path / "ddp" / STATE_FILE).is_file() and (tmp_path / "ddp" / "best.pt").is_file()
