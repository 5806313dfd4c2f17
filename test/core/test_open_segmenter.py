"""open_segmenter (no ROS): the onnxruntime export cache is rebuilt when corrupt, and bad requests get
clear errors. Tiny random checkpoints on the real backbone (the export path traces it)."""

from __future__ import annotations

import numpy as np
import pytest

from t2g_core.inference import open_segmenter


@pytest.fixture(scope="module")
def tiny_checkpoints(tmp_path_factory):
    """``temporal`` (a memory of 4 frames) and ``per_frame`` random checkpoints."""
    from tiny_models import REAL_BACKBONE, camvid_config, save_tiny_checkpoint

    folder = tmp_path_factory.mktemp("checkpoints")
    return {
        name: save_tiny_checkpoint(
            folder / f"random_init_{name}.pt",
            camvid_config(
                backbone=REAL_BACKBONE, input_size=(96, 128), temporal=temporal, memory_length=4
            ),
        )
        for name, temporal in (("temporal", True), ("per_frame", False))
    }


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (360, 480, 3), dtype=np.uint8) for _ in range(2)]


def test_open_segmenter_rebuilds_a_corrupt_cached_export(tiny_checkpoints, frames, tmp_path):
    lines: list[str] = []
    first = open_segmenter(
        tiny_checkpoints["per_frame"],
        backend="onnxruntime",
        threads=1,
        cache_dir=tmp_path,
        log=lines.append,
    )
    assert len(lines) == 2 and lines[0].startswith("building the onnxruntime export of")
    (folder,) = [p for p in tmp_path.iterdir() if p.is_dir()]  # beside it: the lock file
    expected = first.step(frames[0], 1.0).labels
    open_segmenter(
        tiny_checkpoints["per_frame"],
        backend="onnxruntime",
        threads=1,
        cache_dir=tmp_path,
        log=lines.append,
    )
    assert len(lines) == 2, "a valid cached export is reused silently"
    (folder / "decode_m1.onnx").write_bytes(b"garbage")
    rebuilt = open_segmenter(
        tiny_checkpoints["per_frame"],
        backend="onnxruntime",
        threads=1,
        cache_dir=tmp_path,
        log=lines.append,
    )
    assert "unusable" in lines[-2] and "decode_m1.onnx" in lines[-2]
    np.testing.assert_array_equal(rebuilt.step(frames[0], 1.0).labels, expected)
    assert rebuilt.memory_length == 1


def test_open_segmenter_errors_are_clear(tiny_checkpoints, tmp_path):
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("")
    with pytest.raises(ValueError, match="cannot write the ONNX export cache"):
        open_segmenter(
            tiny_checkpoints["temporal"], backend="onnxruntime", cache_dir=blocker / "cache"
        )
    with pytest.raises(ValueError, match="runs on the CPU"):
        open_segmenter(tiny_checkpoints["temporal"], backend="onnxruntime", device="cuda")
    with pytest.raises(ValueError, match="no such checkpoint file"):
        open_segmenter(tmp_path / "missing.pt", backend="onnxruntime", cache_dir=tmp_path)
    with pytest.raises(ValueError, match="'tensorrt' is not available"):
        open_segmenter(tiny_checkpoints["temporal"], backend="tensorrt")


def test_every_backend_default_reads_default_backend():
    """open_segmenter, the evaluation's contenders and config default to ``DEFAULT_BACKEND``, a
    name in ``BACKENDS`` (the node's ``model.backend`` default is checked in test/ros_free)."""
    import dataclasses
    import inspect

    from t2g_core.evaluation.config import EvalConfig
    from t2g_core.evaluation.contenders import Contender, make_contenders
    from t2g_core.inference import BACKENDS, DEFAULT_BACKEND

    assert DEFAULT_BACKEND in BACKENDS
    defaults = {
        "open_segmenter": inspect.signature(open_segmenter).parameters["backend"].default,
        "make_contenders": inspect.signature(make_contenders).parameters["backend"].default,
    }
    for cls in (Contender, EvalConfig):
        (field,) = [f for f in dataclasses.fields(cls) if f.name == "backend"]
        defaults[cls.__name__] = field.default
    assert defaults == dict.fromkeys(defaults, DEFAULT_BACKEND)
