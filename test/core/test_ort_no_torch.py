"""An onnxruntime deployment needs no torch: the ORT segmenter imports, opens an existing export and
segments frames in a fresh interpreter where importing torch fails."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from t2g_core import build_model
from t2g_core.export import export_model

REPO = Path(__file__).resolve().parents[2]

# Runs in a subprocess: a meta-path finder makes any torch import fail (as on a machine without
# torch, though this venv has it), then the onnxruntime path opens the export in argv[1], steps it.
_PROBE = """
import json, sys
import numpy as np

class BlockTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ModuleNotFoundError(f"torch module {name} imported", name=name)
        return None

sys.meta_path.insert(0, BlockTorch())
from t2g_core.inference.ort_streaming import OrtStreamingSegmenter

segmenter = OrtStreamingSegmenter(sys.argv[1], max_gap_s=0.5, threads=1)
rng = np.random.default_rng(0)
frames = [rng.integers(0, 256, (40, 52, 3), dtype=np.uint8) for _ in range(4)]
results = [segmenter.step(frame, 0.1 * i) for i, frame in enumerate(frames)]
print(json.dumps({
    "shapes": [list(r.labels.shape) for r in results],
    "memory": [r.frames_in_memory for r in results],
    "max_label": max(int(r.labels.max()) for r in results),
    "torch_loaded": sorted(m for m in sys.modules if m == "torch" or m.startswith("torch.")),
}))
"""


@pytest.fixture
def export_dir(make_tiny_config, tmp_path) -> Path:
    torch.manual_seed(0)
    export_model(build_model(make_tiny_config()).eval(), tmp_path)
    return tmp_path


def _run(code: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code, *args], cwd=REPO, capture_output=True, text=True, timeout=120
    )


def test_onnxruntime_segmenter_runs_without_torch(export_dir):
    proc = _run(_PROBE, str(export_dir))
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["torch_loaded"] == []
    assert report["shapes"] == [[40, 52]] * 4
    assert report["memory"] == [1, 2, 3, 3]
    assert 0 <= report["max_label"] < 5


def test_probe_detects_a_torch_import(export_dir):
    """The blocker really fires: the torch segmenter cannot import under it."""
    code = _PROBE.replace(
        "from t2g_core.inference.ort_streaming import OrtStreamingSegmenter",
        "from t2g_core.inference.streaming import StreamingSegmenter",
        1,
    )
    proc = _run(code, str(export_dir))
    assert proc.returncode != 0
    assert "torch module torch imported" in proc.stderr


# ``open_segmenter`` itself under the same blocker: a valid cached export opens from its manifest.
_OPEN_PROBE = _PROBE.replace(
    """from t2g_core.inference.ort_streaming import OrtStreamingSegmenter

segmenter = OrtStreamingSegmenter(sys.argv[1], max_gap_s=0.5, threads=1)""",
    """from t2g_core.inference import open_segmenter

segmenter = open_segmenter(
    sys.argv[1], backend="onnxruntime", cache_dir=sys.argv[2], threads=1, max_gap_s=0.5
)
print(json.dumps({"label_names": list(segmenter.label_set.names)}))""",
    1,
)


@pytest.fixture
def cached_checkpoint(tmp_path):
    """A tiny random checkpoint and a cache holding its valid export (built here, with torch)."""
    from tiny_models import camvid_config, save_tiny_checkpoint

    from t2g_core import load_checkpoint
    from t2g_core.export import cached_export

    checkpoint = save_tiny_checkpoint(tmp_path / "tiny.pt", camvid_config(), seed=0)
    cache = tmp_path / "cache"
    cached_export(checkpoint, cache_dir=cache)
    return checkpoint, cache, load_checkpoint(checkpoint).label_set


def test_open_segmenter_on_a_valid_export_imports_no_torch(cached_checkpoint):
    checkpoint, cache, label_set = cached_checkpoint
    assert _OPEN_PROBE != _PROBE
    proc = _run(_OPEN_PROBE, str(checkpoint), str(cache))
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.strip().splitlines()]
    assert lines[0]["label_names"] == list(label_set.names)  # from the export's manifest
    report = lines[-1]
    assert report["torch_loaded"] == []
    assert report["memory"] == [1, 2, 3, 3] and report["shapes"] == [[40, 52]] * 4
    assert 0 <= report["max_label"] < label_set.num_classes


def test_open_segmenter_without_a_valid_export_needs_torch(cached_checkpoint, tmp_path):
    """The control: with an empty cache (the export must be built) the blocker fires."""
    checkpoint, _, _ = cached_checkpoint
    proc = _run(_OPEN_PROBE, str(checkpoint), str(tmp_path / "empty"))
    assert proc.returncode != 0
    assert "torch module torch imported" in proc.stderr
