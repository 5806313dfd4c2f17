"""OrtStreamingSegmenter behaves as StreamingSegmenter (outputs, resets and their reasons, memory bounds,
configure, bad input), refuses a corrupt export; LabelReadout equals upsample + softmax + max; the torch
autocast path (CUDA's, run here in bfloat16 on the CPU). Tiny randomly initialised models."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from tiny_models import tiny_config

from t2g_core import StreamingSegmenter, build_model, upsample_logits
from t2g_core.export import ExportError, export_model
from t2g_core.inference.ort_streaming import OrtStreamingSegmenter
from t2g_core.inference.readout import LabelReadout


def _frames(n: int, size=(32, 48), seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (*size, 3), dtype=np.uint8) for _ in range(n)]


@pytest.fixture(scope="module", params=["stride8", "detail", "gate"])
def model(request):
    """The tiny model plain, with the stride-4 detail path, and with the output gate, the vertical
    prior and the past-frame encoding (their zero-initialised weights made non-zero, so each changes
    the logits and a wrong wiring shows)."""
    torch.manual_seed(0)
    gated = request.param == "gate"
    config = tiny_config(
        detail=request.param == "detail",
        output_gate=gated,
        vertical_prior=gated,
        past_encoding=gated,
    )
    model = build_model(config).eval()
    if model.detail_refiner is not None:
        torch.nn.init.normal_(model.detail_refiner.out.weight, std=0.5)
    if gated:
        torch.nn.init.normal_(model.output_gate.weight.weight, std=0.5)
        torch.nn.init.normal_(model.trainable["vertical_prior"].proj.weight, std=0.5)
        torch.nn.init.normal_(model.trainable["memory_decoder"].past_encoding.proj.weight, std=0.5)
    return model


@pytest.fixture(scope="module")
def export_dir(model, tmp_path_factory):
    folder = tmp_path_factory.mktemp("export")
    export_model(model, folder)
    return folder


def _assert_same(torch_result, ort_result, context):
    assert ort_result.reset_reason == torch_result.reset_reason, context
    assert ort_result.frames_in_memory == torch_result.frames_in_memory, context
    assert (
        ort_result.labels.shape == torch_result.labels.shape and ort_result.labels.dtype == np.uint8
    )
    assert ort_result.confidence.dtype == np.float32
    np.testing.assert_allclose(
        ort_result.confidence, torch_result.confidence, atol=1e-4, err_msg=context
    )
    decided = torch_result.confidence > 0  # all pixels; ties within 1e-4 are rare on random weights
    agree = (ort_result.labels == torch_result.labels)[decided].mean()
    assert agree > 0.99, f"{context}: labels agree on {agree:.4f}"


def test_same_outputs_resets_and_memory_as_torch_streaming(model, export_dir):
    reference = StreamingSegmenter(model, max_gap_s=0.5)
    segmenter = OrtStreamingSegmenter(export_dir, max_gap_s=0.5, threads=1)
    assert (segmenter.memory_capacity, segmenter.memory_length, segmenter.frames_in_memory) == (
        3,
        3,
        0,
    )
    frames = _frames(6) + _frames(2, size=(40, 52), seed=1)
    # (frame, stamp): fill and wrap the ring buffer, gap, time backwards, resolution change.
    script = [
        (0, 0.0),
        (1, 0.1),
        (2, 0.2),
        (3, 0.3),
        (4, 0.4),
        (5, 1.5),
        (0, 1.6),
        (1, 1.0),
        (2, 1.1),
        (6, 1.2),
        (7, 1.3),
    ]
    reasons = []
    for index, stamp in script:
        a, b = reference.step(frames[index], stamp), segmenter.step(frames[index], stamp)
        _assert_same(a, b, f"frame {index} at {stamp}")
        reasons.append((b.reset_reason, b.frames_in_memory))
    assert reasons == [
        ("start", 1),
        (None, 2),
        (None, 3),
        (None, 3),
        (None, 3),
        ("gap", 1),
        (None, 2),
        ("time_backwards", 1),
        (None, 2),
        ("resolution_change", 1),
        (None, 2),
    ]
    for seg in (reference, segmenter):
        seg.reset("bag looped")
        seg.configure(memory_length=2, max_gap_s=0.5)
    for i in range(4):
        a, b = reference.step(frames[i], 5.0 + 0.1 * i), segmenter.step(frames[i], 5.0 + 0.1 * i)
        _assert_same(a, b, f"memory 2, step {i}")
        assert b.frames_in_memory == min(i + 1, 2) and b.reset_reason == (
            "reconfigured" if i == 0 else None
        )
    assert segmenter.memory_length == 2


def test_memory_stays_bounded_over_a_long_stream(export_dir):
    segmenter = OrtStreamingSegmenter(export_dir, max_gap_s=0.5, threads=1, memory_length=2)
    buffers = (segmenter._keys, segmenter._values)
    frame = _frames(1)[0]
    counts = [
        segmenter.step(frame, 0.04 * i + (1.0 if i == 150 else 0.0)).frames_in_memory
        for i in range(300)
    ]
    assert max(counts) == 2 and counts[:3] == [1, 2, 2] and counts[150] == 1
    assert segmenter._keys is buffers[0] and segmenter._values is buffers[1], (
        "the ring buffers are reused"
    )
    assert len(segmenter._stamps) == 2


def test_bad_arguments_and_frames(export_dir):
    with pytest.raises(ValueError, match="memory_length must be an int in 1..3"):
        OrtStreamingSegmenter(export_dir, max_gap_s=0.5, memory_length=4)
    with pytest.raises(ValueError, match="threads must be an int >= 1"):
        OrtStreamingSegmenter(export_dir, max_gap_s=0.5, threads=0)
    segmenter = OrtStreamingSegmenter(export_dir, max_gap_s=0.5, threads=1)
    segmenter.step(_frames(1)[0], 0.0)
    with pytest.raises(ValueError, match="uint8"):
        segmenter.step(np.zeros((32, 48, 3), np.float32), 0.1)
    with pytest.raises(ValueError, match="stamp_s must be a finite number"):
        segmenter.step(_frames(1)[0], float("nan"))
    result = segmenter.step(_frames(1)[0][:, ::-1], 0.1)  # a non-contiguous view is fine
    assert result.reset_reason is None and result.frames_in_memory == 2


def test_corrupt_or_incomplete_export_is_refused(export_dir, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(export_dir, broken)
    (broken / "encode.onnx").write_bytes(b"\x00" * 100)
    with pytest.raises(ExportError, match="encode.onnx: contents differ"):
        OrtStreamingSegmenter(broken, max_gap_s=0.5)
    with pytest.raises(ExportError, match="no manifest.json"):
        OrtStreamingSegmenter(tmp_path, max_gap_s=0.5)


@pytest.mark.parametrize(
    "shape, size",
    [
        ((11, 45, 60), (360, 480)),
        ((5, 4, 6), (40, 52)),
        ((5, 9, 7), (4, 3)),
        ((3, 5, 5), (5, 5)),
        ((1, 3, 3), (7, 7)),
    ],
)
def test_label_readout_equals_upsample_softmax_max(shape, size):
    scores = torch.from_numpy(np.random.default_rng(0).normal(size=shape).astype(np.float32) * 3)
    probs = upsample_logits(scores[None], size).softmax(dim=1)[0]
    confidence, labels = probs.max(dim=0)
    top2 = probs.topk(min(2, shape[0]), dim=0).values
    decided = (top2[0] - top2[-1]).numpy() > 1e-4 if shape[0] > 1 else np.ones(size, bool)
    readout = LabelReadout()
    for _ in range(2):  # the workspace is reused
        got_labels, got_confidence = readout(scores.numpy(), size)
        assert (
            got_labels.shape == size
            and got_labels.dtype == np.uint8
            and got_confidence.dtype == np.float32
        )
        np.testing.assert_array_equal(got_labels[decided], labels.numpy()[decided])
        np.testing.assert_allclose(got_confidence, confidence.numpy(), atol=1e-6)
    tie_labels, tie_confidence = readout(np.zeros((4, 2, 2), np.float32), (3, 3))
    assert (tie_labels == 0).all() and np.allclose(tie_confidence, 0.25), (
        "ties go to the lowest class id"
    )


def test_ema_smoothing_equals_the_torch_segmenters(model, export_dir):
    """``ema_alpha`` on onnxruntime smooths the probabilities as the torch segmenter does, and restarts on reset."""
    reference = StreamingSegmenter(model, max_gap_s=0.5, ema_alpha=0.4)
    segmenter = OrtStreamingSegmenter(export_dir, max_gap_s=0.5, threads=1, ema_alpha=0.4)
    plain = OrtStreamingSegmenter(export_dir, max_gap_s=0.5, threads=1)
    stamps = [0.0, 0.1, 0.2, 5.0, 5.1]  # a gap before the fourth frame restarts the average
    for i, (frame, stamp) in enumerate(zip(_frames(5), stamps)):
        smoothed, unsmoothed = segmenter.step(frame, stamp), plain.step(frame, stamp)
        _assert_same(reference.step(frame, stamp), smoothed, f"frame {i}")
        if i in (0, 3):  # first frame after a (re)start: nothing to average with yet
            np.testing.assert_allclose(smoothed.confidence, unsmoothed.confidence, atol=1e-5)
        else:
            assert np.abs(smoothed.confidence - unsmoothed.confidence).max() > 1e-3, (
                f"frame {i} not smoothed"
            )
    with pytest.raises(ValueError, match="ema_alpha"):
        OrtStreamingSegmenter(export_dir, max_gap_s=0.5, ema_alpha=0.0)


def test_autocast_path_runs_and_stays_close_to_float32(model):
    """The CUDA path runs the model under float16 autocast; bfloat16 exercises the same code on the CPU."""
    frames = _frames(4)
    full = StreamingSegmenter(model, max_gap_s=0.5)
    half = StreamingSegmenter(model, max_gap_s=0.5, autocast="bfloat16")
    for i, frame in enumerate(frames):
        a, b = full.step(frame, 0.1 * i), half.step(frame, 0.1 * i)
        assert b.frames_in_memory == a.frames_in_memory and b.confidence.dtype == np.float32
        assert np.isfinite(b.confidence).all()
        assert np.abs(b.confidence - a.confidence).mean() < 0.05
        assert (b.labels == a.labels).mean() > 0.8
    assert half._memory[-1][0].memory_keys[0].dtype == torch.bfloat16, (
        "the memory is cached in the autocast dtype"
    )
    with pytest.raises(ValueError, match="autocast must be one of"):
        StreamingSegmenter(model, max_gap_s=0.5, autocast="float8")
