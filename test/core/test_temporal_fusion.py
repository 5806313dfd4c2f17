"""Pixel-level temporal fusion: the past reaches each pixel, the gate closes on stale or reset memory,
streaming equals clip mode, and the consecutive-frame loss acts on a toy clip."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from t2g_core import build_model, frames_to_tensor, resize_images, upsample_logits
from t2g_core.config import FusionConfig
from t2g_core.inference.streaming import StreamingSegmenter
from t2g_core.losses import consecutive_consistency_loss


@pytest.fixture
def fusion_model(make_tiny_config):
    """A tiny temporal model with pixel fusion; its query memory is 1 frame unless the test says so."""

    def build(memory_length: int = 1):
        torch.manual_seed(0)
        config = dataclasses.replace(
            make_tiny_config(memory_length=memory_length),
            fusion=FusionConfig(enabled=True, window=3, key_dim=8, init_time_constant_s=0.5),
        )
        return build_model(config)

    return build


def test_current_logits_depend_on_a_past_frame_through_the_fusion(fusion_model):
    """With a 1-frame query memory the past reaches frame t only through the pixel fusion."""
    model = fusion_model(memory_length=1)
    with torch.no_grad():
        levels = model.backbone(torch.rand(2, 3, 32, 48) * 255)
    past_levels = {s: f[:1].clone().requires_grad_(True) for s, f in levels.items()}
    past = model.encode_backbone_features(past_levels)
    current = model.encode_backbone_features({s: f[1:] for s, f in levels.items()})
    state = model.fuse(past.pixel_embedding, None, torch.zeros(1))
    fused = model.fuse(current.pixel_embedding, state, torch.tensor([-0.066]))
    logits = model.decode(current, [current], torch.zeros(1, 1), pixel_embedding=fused)
    logits.square().sum().backward()
    # Stride 4 feeds only the detail path, which this model does not have (its grad stays None).
    grad = sum(float(t.grad.abs().sum()) for t in past_levels.values() if t.grad is not None)
    assert grad > 0, (
        "the current frame's logits do not depend on the past frame: the memory is disconnected"
    )


def test_without_fusion_the_past_does_not_reach_a_one_frame_memory(make_tiny_config):
    """The control for the test above: a per-pixel path exists only because of the fusion."""
    model = build_model(make_tiny_config(memory_length=1))
    assert model.pixel_fusion is None
    embedding = torch.rand(1, 16, 4, 6)
    assert model.fuse(embedding, torch.rand(1, 16, 4, 6), torch.tensor([-0.05])) is embedding


def test_gate_is_open_on_a_short_gap_and_closes_on_a_large_one(fusion_model):
    fusion = fusion_model().pixel_fusion
    embedding, state = torch.rand(1, 16, 4, 6), torch.rand(1, 16, 4, 6)
    with torch.no_grad():
        _, gate_recent = fusion.fuse_with_gate(embedding, state, torch.tensor([-0.05]))
        fused_stale, gate_stale = fusion.fuse_with_gate(embedding, state, torch.tensor([-5.0]))
    assert gate_recent.mean() > 0.2
    assert gate_stale.max() < 1e-3
    torch.testing.assert_close(fused_stale, embedding, atol=1e-3, rtol=0)


def test_reset_drops_the_state(fusion_model):
    model = fusion_model(memory_length=2).eval()
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (32, 48, 3), dtype=np.uint8) for _ in range(3)]
    fresh = StreamingSegmenter(model, max_gap_s=1.0).step(frames[2], 0.2)
    segmenter = StreamingSegmenter(model, max_gap_s=1.0)
    segmenter.step(frames[0], 0.0)
    warm = segmenter.step(frames[1], 0.1)
    segmenter.reset("test")
    after_reset = segmenter.step(frames[2], 0.2)
    assert after_reset.reset_reason == "test"
    np.testing.assert_array_equal(after_reset.confidence, fresh.confidence)
    assert not np.array_equal(
        warm.confidence, StreamingSegmenter(model, max_gap_s=1.0).step(frames[1], 0.1).confidence
    )


def test_streaming_with_fusion_equals_clip_mode(fusion_model):
    model = fusion_model(memory_length=2).eval()
    rng = np.random.default_rng(1)
    frames = [rng.integers(0, 256, (32, 48, 3), dtype=np.uint8) for _ in range(5)]
    stamps = [0.0, 0.04, 0.1, 0.13, 0.2]
    with torch.no_grad():
        clip = resize_images(frames_to_tensor(np.stack(frames)), model.input_size)[None]
        clip_logits = model.forward_clip(
            clip, torch.tensor([stamps], dtype=torch.float64), with_aux=False
        ).sem_logits
    segmenter = StreamingSegmenter(model, max_gap_s=1.0)
    for t, (frame, stamp) in enumerate(zip(frames, stamps)):
        result = segmenter.step(frame, stamp)
        expected = (
            upsample_logits(clip_logits[0, t][None], (32, 48)).softmax(dim=1)[0].max(dim=0).values
        )
        np.testing.assert_allclose(result.confidence, expected.numpy(), atol=1e-5)


def test_consecutive_term_is_nonzero_and_differentiable_on_a_toy_clip(fusion_model):
    model = fusion_model(memory_length=2)
    clip = torch.rand(2, 3, 3, 32, 48) * 255
    times = torch.tensor([[0.0, 0.066, 0.133]] * 2, dtype=torch.float64)
    logits = model.forward_clip(clip, times, with_aux=False).sem_logits  # (2, 3, K, 4, 6)
    labels = torch.randint(0, 5, (2, 32, 48))
    loss = consecutive_consistency_loss(logits[:, 1], logits[:, 2], labels, labels, void_id=5)
    assert loss.item() > 0
    loss.backward()
    grads = [p.grad for p in model.pixel_fusion.parameters()]
    assert any(g is not None and g.abs().sum() > 0 for g in grads)
    void = torch.full_like(labels, 5)
    assert (
        consecutive_consistency_loss(logits[:, 1], logits[:, 2], void, void, void_id=5).item() == 0
    )


def test_onnxruntime_equals_torch_including_the_fusion_state(fusion_model, tmp_path):
    """The export carries the fusion (fuse.onnx) and the ORT segmenter its state, resets included."""
    from t2g_core.export import export_model
    from t2g_core.inference.ort_streaming import OrtStreamingSegmenter

    model = fusion_model(memory_length=2).eval()
    manifest = export_model(model, tmp_path)
    assert manifest.pixel_fusion and "fuse.onnx" in manifest.files
    reference = StreamingSegmenter(model, max_gap_s=0.5)
    segmenter = OrtStreamingSegmenter(tmp_path, max_gap_s=0.5, threads=1)
    rng = np.random.default_rng(2)
    stamps = [0.0, 0.05, 0.1, 0.17, 0.2, 1.5, 1.55, 1.6]  # a gap resets both at 1.5 s
    for t, stamp in enumerate(stamps):
        frame = rng.integers(0, 256, (32, 48, 3), dtype=np.uint8)
        expected, result = reference.step(frame, stamp), segmenter.step(frame, stamp)
        assert result.reset_reason == expected.reset_reason
        np.testing.assert_allclose(
            result.confidence, expected.confidence, atol=1e-4, err_msg=f"frame {t}"
        )
    # Memory 1 (no fusion state, a one-frame query memory) gives another result on the same frame.
    segmenter.configure(memory_length=1, max_gap_s=0.5)
    stateless = segmenter.step(frame, stamps[-1])
    assert np.abs(stateless.confidence - expected.confidence).max() > 1e-3


def test_the_window_ops_equal_the_shifted_window_written_out():
    """The stacked window (one pad + one one-hot grouped convolution, then products and sums over
    axes) is the module doc's window attention: a_j(x) from q(x)·k(x + j), summed over the shifts
    one by one with the border replicated."""
    import math

    import torch.nn.functional as F

    from t2g_core.modeling.temporal_fusion import PixelMemoryFusion, _pointwise

    torch.manual_seed(3)
    fusion = PixelMemoryFusion(
        dim=6,
        key_dim=4,
        value_dim=3,
        window=5,
        init_time_constant_s=0.5,
        num_frequencies=4,
        min_period_s=0.05,
        max_period_s=5.0,
    )
    with torch.no_grad():
        fusion.position_bias.normal_()
        for conv in (fusion.gate, fusion.out):
            conv.weight.normal_()
    embedding, state = torch.randn(2, 6, 7, 9), torch.randn(2, 6, 7, 9)
    offset = torch.tensor([-0.04, -0.3])
    fused, gate = fusion.fuse_with_gate(embedding, state, offset)

    r, h, w = 2, 7, 9
    q = _pointwise(fusion.query, embedding)
    k = F.pad(_pointwise(fusion.key, state), (r,) * 4, mode="replicate")
    v = F.pad(_pointwise(fusion.value, state), (r,) * 4, mode="replicate")
    shifts = [(dy, dx) for dy in range(5) for dx in range(5)]
    logits = torch.stack(
        [(q * k[:, :, dy : dy + h, dx : dx + w]).sum(1) / math.sqrt(4) for dy, dx in shifts], 1
    )
    attention = (logits + fusion.position_bias[:, None, None]).softmax(dim=1)
    read = sum(
        attention[:, j : j + 1] * v[:, :, dy : dy + h, dx : dx + w]
        for j, (dy, dx) in enumerate(shifts)
    )
    aligned = _pointwise(fusion.out, read)
    agreement = F.cosine_similarity(embedding, aligned, dim=1, eps=1e-6)[:, None]
    peak = attention.amax(dim=1, keepdim=True)
    time_features = fusion.time_encoding(offset.reshape(2, 1))[:, 0]
    decay = torch.exp(-offset.abs() / fusion.time_constant_s)
    expected_gate = (
        torch.sigmoid(
            _pointwise(fusion.gate, torch.cat([q, read, agreement, peak], 1))
            + time_features[:, :, None, None]
        )
        * decay[:, None, None, None]
    )
    assert torch.allclose(gate, expected_gate, atol=1e-5)
    assert torch.allclose(fused, embedding + expected_gate * (aligned - embedding), atol=1e-5)
