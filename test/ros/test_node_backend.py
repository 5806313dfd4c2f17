"""model.backend onnxruntime (the default): the node in its own process builds the ONNX export into its
cache on first start, saying so once, and publishes what the torch backend computes; its second start
reuses the export without a word (the cache's corrupt/stale/concurrent cases:
test/core/test_export_cache.py, test/core/test_open_segmenter.py). Tiny randomly initialised
checkpoint (test/ros/conftest.py)."""

from __future__ import annotations

import numpy as np
import pytest
from node_harness import NodeProcess, Probe, header_tuple, rgb_image

from t2g_core.export import load_manifest
from t2g_core.inference import open_segmenter

BUILDING = "building the onnxruntime export of random_init_temporal.pt (once, ~"


def _one_frame(params: dict, frame: np.ndarray) -> str:
    """Start the node with ``params``, segment ``frame`` once, stop it; its log."""
    proc = NodeProcess({**params, "input.max_age_s": 0.0})
    probe = Probe(proc)
    try:
        probe.wait_ready()
        probe.send(rgb_image(frame), 1.0)
        probe.wait_outputs(1.0, ("labels",))
    finally:
        probe.close()
        log = proc.stop()
    return log


@pytest.mark.slow
def test_node_runs_on_onnxruntime_and_matches_torch(
    ros, tiny_checkpoints, frames, tmp_path, monkeypatch
):
    monkeypatch.setenv("T2G_EXPORT_CACHE", str(tmp_path / "cache"))  # the node process inherits it
    proc = NodeProcess(
        {
            "model.checkpoint": tiny_checkpoints["temporal"],
            "model.backend": "onnxruntime",
            "model.precision": "fp32",  # compared with torch, which runs fp32
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
            assert out["occupancy"].frames_in_memory == min(i + 1, 4)
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
    assert log.count(BUILDING) == 1 and "built the onnxruntime export" in log, log
    exports = [p for p in (tmp_path / "cache").iterdir() if p.suffix != ".lock"]
    assert len(exports) == 1 and exports[0].name.startswith("random_init_temporal-"), exports
    assert load_manifest(exports[0]).memory_capacity == 4

    # The second start, on the default backend, reuses the export.
    log = _one_frame(
        {"model.checkpoint": tiny_checkpoints["temporal"], "model.precision": "fp32"}, frames[0]
    )
    assert "backend onnxruntime on cpu" in log and "building" not in log, log
    assert [p for p in (tmp_path / "cache").iterdir() if p.suffix != ".lock"] == exports


@pytest.mark.slow
def test_int8_without_calibration_frames_runs_fp32_and_says_how(
    ros, tiny_checkpoints, frames, tmp_path, monkeypatch
):
    """The int8 export's first build needs CamVid train frames; a deployment without them still
    starts, at fp32, with a WARN naming what is missing and how to build the int8 export."""
    monkeypatch.setenv("T2G_EXPORT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("T2G_DATA_ROOT", str(tmp_path / "no_data"))  # no camvid/ there
    log = _one_frame(
        {"model.checkpoint": tiny_checkpoints["temporal"], "model.precision": "int8"}, frames[0]
    )
    assert "model.precision int8: int8 calibration needs the CamVid train frames" in log, log
    assert "t2g-export --checkpoint" in log and "running fp32" in log, log
    assert "backend onnxruntime on cpu, fp32, temporal" in log, log
    exports = [p for p in (tmp_path / "cache").iterdir() if p.suffix != ".lock"]
    assert [load_manifest(e).precision for e in exports] == ["fp32"]


@pytest.mark.slow
def test_the_default_precision_is_int8_calibrated_on_camvid_train(
    ros, tiny_checkpoints, frames, tmp_path, monkeypatch
):
    """The default (int8, accepted by the release gate) builds the quantised export on the first
    start, from CamVid train frames, and runs it."""
    monkeypatch.setenv("T2G_EXPORT_CACHE", str(tmp_path / "cache"))
    log = _one_frame({"model.checkpoint": tiny_checkpoints["temporal"]}, frames[0])
    assert "backend onnxruntime on cpu, int8, temporal" in log and "WARN" not in log, log
    exports = [p for p in (tmp_path / "cache").iterdir() if p.suffix != ".lock"]
    assert sorted(load_manifest(e).precision for e in exports) == ["fp32", "int8"]
