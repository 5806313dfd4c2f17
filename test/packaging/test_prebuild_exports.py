"""scripts/prebuild_exports.sh (run by scripts/setup.sh): builds the onnxruntime exports (fp32 and the
default int8) once, then answers from its stamp without starting Python; a deleted export is rebuilt;
a failure only warns.
A tiny random checkpoint on the real backbone (the script's Python cannot see test backbones)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from tiny_models import REAL_BACKBONE, camvid_config, save_tiny_checkpoint

from t2g_core.export import load_manifest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "prebuild_exports.sh"


@pytest.fixture()
def run(tmp_path):
    env = {
        **os.environ,
        "T2G_EXPORT_CACHE": str(tmp_path / "cache"),
        "T2G_EXPORT_STAMP": str(tmp_path / "stamp"),
        "OMP_NUM_THREADS": "1",
    }

    def run_script(venv: str, *checkpoints: Path, **extra: str) -> subprocess.CompletedProcess:
        result = subprocess.run(
            ["bash", str(SCRIPT), venv, *map(str, checkpoints)],
            env={**env, **extra},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result

    return run_script


def test_builds_once_then_answers_from_its_stamp_without_python(run, tmp_path):
    checkpoint = save_tiny_checkpoint(
        tmp_path / "tiny_pf.pt",
        camvid_config(backbone=REAL_BACKBONE, input_size=(64, 96), temporal=False, memory_length=1),
    )
    first = run(sys.prefix, checkpoint)
    assert "[t2g setup] building the onnxruntime export of tiny_pf.pt" in first.stderr
    # and the int8 one, the node's default precision, calibrated on CamVid train frames
    assert "[t2g setup] building the onnxruntime int8 export of tiny_pf.pt" in first.stderr
    assert "onnxruntime exports ready" in first.stdout
    exports = sorted(p for p in (tmp_path / "cache").iterdir() if p.is_dir())
    assert sorted(load_manifest(e).precision for e in exports) == ["fp32", "int8"]
    assert sorted((tmp_path / "stamp").read_text().splitlines()[1:]) == [str(e) for e in exports]
    again = run(sys.prefix, checkpoint)
    assert again.stdout.strip() == "[t2g setup] onnxruntime exports up to date", again
    assert again.stderr == ""


def test_a_missing_export_a_changed_checkpoint_a_skip_and_a_failure(run, tmp_path):
    """The stamp logic, with a stand-in Python that logs its calls and names an export folder."""
    venv, export, calls = tmp_path / "venv", tmp_path / "export", tmp_path / "calls"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").write_text(
        f'#!/bin/sh\ncat >/dev/null\necho "$*" >>{calls}\n'
        f'[ -n "$FAIL" ] && exit 1\nmkdir -p {export}\ntouch {export}/manifest.json\necho {export}\n'
    )
    (venv / "bin" / "python").chmod(0o755)
    checkpoint = tmp_path / "ckpt.pt"
    checkpoint.write_bytes(b"weights v1")

    assert "exports ready" in run(str(venv), checkpoint).stdout
    assert "up to date" in run(str(venv), checkpoint).stdout
    shutil.rmtree(export)  # the cache was cleaned: built again
    assert "exports ready" in run(str(venv), checkpoint).stdout
    checkpoint.write_bytes(b"weights v2")  # retrained: built again (the cache says why)
    assert "exports ready" in run(str(venv), checkpoint).stdout
    assert calls.read_text().splitlines() == [f"- {checkpoint}"] * 3

    assert "skipped (T2G_SETUP_EXPORT=0)" in run(str(venv), checkpoint, T2G_SETUP_EXPORT="0").stdout
    assert "no checkpoint to export yet" in run(str(venv), tmp_path / "missing.pt").stdout
    checkpoint.write_bytes(b"weights v3")
    failed = run(str(venv), checkpoint, FAIL="1")
    assert "WARNING: building the onnxruntime exports failed" in failed.stdout
    assert not (tmp_path / "stamp").exists(), "no stamp after a failure: the next run tries again"
