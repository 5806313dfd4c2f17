"""model.backend onnxruntime: the node in its own process builds the ONNX export into its cache on first
start and publishes what the torch backend computes; open_segmenter rebuilds a corrupt cached export and
fails clearly where it cannot build one. Tiny randomly initialised checkpoint (test/ros/conftest.py)."""

from __future__ import annotations

import numpy as np
import pytest
from node_harness import NodeProcess, Probe, header_tuple, rgb_image

from t2g_core.export import load_manifest
from t2g_core.inference import open_segmenter


@pytest.mark.slow
def test_node_runs_on_onnxruntime_and_matches_torch(
    ros, tiny_checkpoints, frames, tmp_path, monkeypatch
):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))  # the node process inherits it
    proc = NodeProcess(
        {
            "model.checkpoint": tiny_checkpoints["temporal"],
            "model.backend": "onnxruntime",
            "diagnostics_period_s": 0.2,
            "input.max_age_s": 0.0,
        }
    )
    probe = Probe(proc)
    torch_segmenter = open_segmenter(tiny_checkpoints["temporal"], backend="torch", threads=1)
    try:
        probe.wait_ready()
        for i, frame in enumerate(frames[:4]):
            stamp = 10.0 + 0.1 * i
            msg = rgb_image(frame, "bgr8")
            probe.send(msg, stamp, frame_id="cam")
            out = probe.wait_outputs(stamp, ("labels", "occupancy"))
            assert header_tuple(out["labels"]) == header_tuple(msg)
            assert (out["labels"].height, out["labels"].width) == frame.shape[:2]
            assert out["occupancy"].memory_frames == min(i + 1, 4)
            labels = np.frombuffer(bytes(out["labels"].data), np.uint8).reshape(frame.shape[:2])
            expected = torch_segmenter.step(frame, stamp).labels
            agree = (labels == expected).mean()
            assert agree > 0.99, (
                f"frame {i}: onnxruntime node and torch agree on {agree:.4f} of the pixels"
            )
        probe.spin_until(
            lambda: probe.diagnostic_value("output_rate_hz") is not None, 10, "diagnostics"
        )
    finally:
        probe.close()
        log = proc.stop()
    assert "backend onnxruntime on cpu" in log, log
    exports = list((tmp_path / "xdg" / "t2g" / "onnx").iterdir())
    assert len(exports) == 1 and exports[0].name.startswith("random_init_temporal-"), exports
    assert load_manifest(exports[0]).memory_frames == 4


def test_open_segmenter_rebuilds_a_corrupt_cached_export(tiny_checkpoints, frames, tmp_path):
    lines: list[str] = []
    first = open_segmenter(
        tiny_checkpoints["per_frame"],
        backend="onnxruntime",
        threads=1,
        cache_dir=tmp_path,
        log=lines.append,
    )
    assert len(lines) == 1 and "exporting" in lines[0]
    (folder,) = tmp_path.iterdir()
    expected = first.step(frames[0], 1.0).labels
    open_segmenter(
        tiny_checkpoints["per_frame"],
        backend="onnxruntime",
        threads=1,
        cache_dir=tmp_path,
        log=lines.append,
    )
    assert len(lines) == 1, "a valid cached export is reused silently"
    (folder / "decode_m1.onnx").write_bytes(b"garbage")
    rebuilt = open_segmenter(
        tiny_checkpoints["per_frame"],
        backend="onnxruntime",
        threads=1,
        cache_dir=tmp_path,
        log=lines.append,
    )
    assert "unusable" in lines[-1] and "decode_m1.onnx" in lines[-1]
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
