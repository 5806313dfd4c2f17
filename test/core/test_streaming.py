"""StreamingSegmenter: equals clip mode, resets, input validation, one backbone pass per frame, EMA."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import torch

from t2g_core import (
    StreamingSegmenter,
    build_model,
    frames_to_tensor,
    resize_images,
    upsample_logits,
)


def _frames(n: int, size=(32, 48), seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (*size, 3), dtype=np.uint8) for _ in range(n)]


@pytest.fixture
def model(make_tiny_config):
    torch.manual_seed(0)
    return build_model(make_tiny_config(memory_length=3)).eval()


def _expected_from_logits(
    logits: torch.Tensor, size, input_size
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """labels, confidence and top-2 margin computed the way the contract states, from (K, h, w) logits:
    at the frame size, or for a frame larger than the model input at the input size, then resized
    (labels nearest, confidence bilinear)."""
    larger = size[0] > input_size[0] or size[1] > input_size[1]
    at = tuple(input_size) if larger else tuple(size)
    probs = upsample_logits(logits[None], at).softmax(dim=1)[0]  # (K, h', w')
    top2 = probs.topk(2, dim=0).values
    confidence, labels = probs.max(dim=0)
    labels, confidence, margin = (
        labels.numpy().astype(np.uint8),
        confidence.numpy(),
        (top2[0] - top2[1]).numpy(),
    )
    if larger:
        dsize = (size[1], size[0])
        labels = cv2.resize(labels, dsize, interpolation=cv2.INTER_NEAREST)
        confidence = cv2.resize(confidence, dsize, interpolation=cv2.INTER_LINEAR)
        margin = cv2.resize(margin, dsize, interpolation=cv2.INTER_NEAREST)
    return labels, confidence, margin


@pytest.mark.parametrize("frame_size", [(32, 48), (40, 52)])
def test_streaming_equals_clip_mode_for_every_frame(model, frame_size):
    frames = _frames(6, size=frame_size)
    stamps = [0.0, 0.04, 0.1, 0.13, 0.2, 0.31]  # irregular: offsets are seconds, not indices
    with torch.no_grad():
        clip = resize_images(frames_to_tensor(np.stack(frames)), model.input_size)[
            None
        ]  # (1, 6, 3, 32, 48)
        clip_logits = model.forward_clip(
            clip, torch.tensor([stamps], dtype=torch.float64), with_aux=False
        ).sem_logits
    segmenter = StreamingSegmenter(model, max_gap_s=1.0)
    for t, (frame, stamp) in enumerate(zip(frames, stamps)):
        result = segmenter.step(frame, stamp)
        labels, confidence, margin = _expected_from_logits(
            clip_logits[0, t], frame_size, model.input_size
        )
        assert result.frames_in_memory == min(t + 1, 3)
        assert result.labels.shape == frame_size and result.labels.dtype == np.uint8
        assert result.confidence.shape == frame_size and result.confidence.dtype == np.float32
        np.testing.assert_allclose(result.confidence, confidence, atol=1e-5)
        decided = margin > 1e-4  # where the top two classes tie within float noise either may win
        assert decided.mean() > 0.9
        np.testing.assert_array_equal(result.labels[decided], labels[decided])


def test_first_frame_reports_start_and_memory_is_bounded(model):
    segmenter = StreamingSegmenter(model, max_gap_s=1.0)
    results = [segmenter.step(f, 0.1 * i) for i, f in enumerate(_frames(5))]
    assert [r.reset_reason for r in results] == ["start", None, None, None, None]
    assert [r.frames_in_memory for r in results] == [1, 2, 3, 3, 3]
    assert segmenter.frames_in_memory == 3
    assert all(0 <= r.labels.max() < 5 for r in results)
    assert all(0 < r.confidence.min() and r.confidence.max() <= 1 for r in results)


@pytest.mark.parametrize(
    "second_stamp, second_size, reason",
    [
        (0.1 + 1.01, (32, 48), "gap"),
        (0.05, (32, 48), "time_backwards"),
        (0.2, (36, 48), "resolution_change"),
    ],
)
def test_automatic_resets(model, second_stamp, second_size, reason):
    segmenter = StreamingSegmenter(model, max_gap_s=1.0)
    segmenter.step(_frames(1)[0], 0.0)
    segmenter.step(_frames(1, seed=1)[0], 0.1)
    result = segmenter.step(_frames(1, size=second_size, seed=2)[0], second_stamp)
    assert result.reset_reason == reason
    assert result.frames_in_memory == 1
    # After the reset the output is that of a fresh stream starting at this frame.
    fresh = StreamingSegmenter(model, max_gap_s=1.0).step(
        _frames(1, size=second_size, seed=2)[0], second_stamp
    )
    np.testing.assert_array_equal(result.labels, fresh.labels)
    np.testing.assert_allclose(result.confidence, fresh.confidence, atol=1e-6)


def test_gap_equal_to_limit_and_repeated_stamp_do_not_reset(model):
    segmenter = StreamingSegmenter(model, max_gap_s=0.5)
    frames = _frames(3)
    segmenter.step(frames[0], 10.0)
    assert segmenter.step(frames[1], 10.5).reset_reason is None
    assert segmenter.step(frames[2], 10.5).reset_reason is None
    assert segmenter.frames_in_memory == 3


def test_manual_reset_reason_is_reported_once(model):
    segmenter = StreamingSegmenter(model, max_gap_s=1.0)
    frames = _frames(3)
    segmenter.step(frames[0], 0.0)
    segmenter.reset("bag looped")
    assert segmenter.frames_in_memory == 0
    assert segmenter.step(frames[1], 0.0).reset_reason == "bag looped"
    assert segmenter.step(frames[2], 0.1).reset_reason is None


@pytest.mark.parametrize(
    "frame, message",
    [
        (np.zeros((32, 48, 3), dtype=np.float32), "uint8, got dtype float32"),
        (np.zeros((32, 48), dtype=np.uint8), r"\(H, W, 3\) RGB, got shape \(32, 48\)"),
        (np.zeros((32, 48, 4), dtype=np.uint8), r"got shape \(32, 48, 4\)"),
        (np.zeros((0, 48, 3), dtype=np.uint8), "must not be empty"),
        ([[0, 0, 0]], "numpy array, got list"),
    ],
)
def test_bad_frames_raise_and_leave_state_unchanged(model, frame, message):
    segmenter = StreamingSegmenter(model, max_gap_s=1.0)
    segmenter.step(_frames(1)[0], 0.0)
    with pytest.raises(ValueError, match=message):
        segmenter.step(frame, 0.1)
    result = segmenter.step(_frames(1)[0], 0.1)
    assert result.reset_reason is None and result.frames_in_memory == 2


@pytest.mark.parametrize("stamp", [math.nan, math.inf, None, "0.1", True])
def test_bad_stamps_raise(model, stamp):
    segmenter = StreamingSegmenter(model, max_gap_s=1.0)
    with pytest.raises(ValueError, match="stamp_s must be a finite number"):
        segmenter.step(_frames(1)[0], stamp)
    assert segmenter.step(_frames(1)[0], np.float32(0.5)).reset_reason == "start"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"max_gap_s": 0.0}, "max_gap_s must be"),
        ({"max_gap_s": math.nan}, "max_gap_s must be"),
        ({"max_gap_s": 1.0, "ema_alpha": 0.0}, "ema_alpha must be"),
        ({"max_gap_s": 1.0, "ema_alpha": 1.5}, "ema_alpha must be"),
        ({"max_gap_s": 1.0, "memory_length": 4}, r"memory_length must be an int in 1..3"),
        ({"max_gap_s": 1.0, "memory_length": 0}, r"memory_length must be an int in 1..3"),
    ],
)
def test_bad_constructor_arguments(model, kwargs, message):
    with pytest.raises(ValueError, match=message):
        StreamingSegmenter(model, **kwargs)


def test_memory_length_limits_the_ring_buffer(model):
    segmenter = StreamingSegmenter(model, max_gap_s=1.0, memory_length=2)
    assert (segmenter.memory_capacity, segmenter.memory_length, segmenter.frames_in_memory) == (
        3,
        2,
        0,
    )
    results = [segmenter.step(f, 0.1 * i) for i, f in enumerate(_frames(4))]
    assert [r.frames_in_memory for r in results] == [1, 2, 2, 2]


def test_exactly_one_backbone_pass_per_frame(model):
    calls = []
    model.backbone.register_forward_hook(lambda module, args, out: calls.append(args[0].shape[0]))
    segmenter = StreamingSegmenter(model, max_gap_s=1.0)
    for i, frame in enumerate(_frames(5)):
        segmenter.step(frame, 0.1 * i)
    assert calls == [1, 1, 1, 1, 1]


def test_ema_baseline_smooths_probabilities_and_restarts_with_memory(make_tiny_config):
    torch.manual_seed(0)
    perframe = build_model(make_tiny_config(temporal=False)).eval()
    frames = _frames(3)
    with torch.no_grad():
        feats = [perframe.encode_frames(frames_to_tensor(f)) for f in frames]
        probs = [
            perframe.decode(f, [f], torch.zeros(1, 1))[0].softmax(dim=0) for f in feats
        ]  # (K, h, w)
    alpha = 0.3
    smoother = StreamingSegmenter(perframe, max_gap_s=1.0, ema_alpha=alpha)
    first = smoother.step(frames[0], 0.0)
    second = smoother.step(frames[1], 0.1)
    expected = alpha * probs[1] + (1 - alpha) * probs[0]
    labels, confidence, margin = _expected_from_logits(expected.log(), (32, 48), (32, 48))
    np.testing.assert_allclose(second.confidence, confidence, atol=1e-5)
    np.testing.assert_array_equal(second.labels[margin > 1e-4], labels[margin > 1e-4])
    np.testing.assert_allclose(
        first.confidence, _expected_from_logits(probs[0].log(), (32, 48), (32, 48))[1], atol=1e-5
    )
    # A gap resets the average: the output is the unsmoothed prediction of the new frame.
    third = smoother.step(frames[2], 5.0)
    assert third.reset_reason == "gap"
    np.testing.assert_allclose(
        third.confidence, _expected_from_logits(probs[2].log(), (32, 48), (32, 48))[1], atol=1e-5
    )
    # alpha = 1 is the plain per-frame output.
    plain = StreamingSegmenter(perframe, max_gap_s=1.0)
    ema1 = StreamingSegmenter(perframe, max_gap_s=1.0, ema_alpha=1.0)
    for i, frame in enumerate(frames):
        a, b = plain.step(frame, 0.1 * i), ema1.step(frame, 0.1 * i)
        np.testing.assert_allclose(a.confidence, b.confidence, atol=1e-5)
