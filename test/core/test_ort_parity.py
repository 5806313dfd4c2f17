"""onnxruntime vs torch on real CamVid val frames with the full-size model: labels agree on >= 99.5 % of pixels.

The model is the shipped checkpoint ``checkpoints/t2g_lite0_camvid.pt`` when it exists, else a full-size
T2G model (config/model_t2g.yaml: EfficientNet-Lite0 with its real ImageNet weights, T = 4) whose
trainable modules are RANDOMLY INITIALISED with a fixed seed. The stream runs 7 frames at 15 Hz (the
val run's rate) at 480x360, which fills and wraps the memory ring buffer, then 3 frames upscaled to
960x720 (a resolution change, and the in-graph resize).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from t2g_core import StreamingSegmenter, build_model, load_checkpoint, load_model_config
from t2g_core.export import export_model
from t2g_core.inference.ort_streaming import OrtStreamingSegmenter

REPO = Path(__file__).resolve().parents[2]
CHECKPOINT = REPO / "checkpoints" / "t2g_lite0_camvid.pt"
CAMVID_VAL = (REPO / ".." / "shared" / "data" / "camvid" / "val" / "images").resolve()
MIN_AGREEMENT = 0.995


def _model():
    if CHECKPOINT.is_file():
        return load_checkpoint(CHECKPOINT).model, f"shipped checkpoint {CHECKPOINT.name}"
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = build_model(load_model_config(REPO / "config" / "model_t2g.yaml"))
    return model.eval(), "full-size model, trainable modules randomly initialised (seed 0)"


def test_onnxruntime_labels_agree_with_torch_on_camvid_val(tmp_path):
    paths = sorted(CAMVID_VAL.glob("*.jpg")) + sorted(CAMVID_VAL.glob("*.png"))
    if len(paths) < 7:
        pytest.skip(f"CamVid val frames not found in {CAMVID_VAL}")
    frames = [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in paths[:7]]
    frames += [cv2.resize(f, (960, 720), interpolation=cv2.INTER_LINEAR) for f in frames[:3]]
    model, what = _model()
    export_model(model, tmp_path)
    import onnx

    # EfficientNet's "SAME" padding is static in the export and folded into the convolutions.
    assert "Pad" not in {
        node.op_type for node in onnx.load(str(tmp_path / "encode.onnx")).graph.node
    }
    reference = StreamingSegmenter(model, max_gap_s=0.5)
    segmenter = OrtStreamingSegmenter(tmp_path, max_gap_s=0.5, threads=1)
    agree = total = 0
    worst_confidence = 0.0
    for i, frame in enumerate(frames):
        a, b = reference.step(frame, i / 15), segmenter.step(frame, i / 15)
        assert (b.reset_reason, b.frames_in_memory) == (a.reset_reason, a.frames_in_memory)
        agree += int((a.labels == b.labels).sum())
        total += a.labels.size
        worst_confidence = max(worst_confidence, float(np.abs(a.confidence - b.confidence).max()))
    share = agree / total
    print(
        f"\nonnxruntime vs torch ({what}): labels agree on {100 * share:.3f} % of {total} pixels, "
        f"confidence differs by at most {worst_confidence:.2e}"
    )
    assert share >= MIN_AGREEMENT, (
        f"{what}: labels agree on {100 * share:.3f} % < {100 * MIN_AGREEMENT} %"
    )
    assert worst_confidence < 0.05
