"""The stride-4 detail path: identity at the start, trainable, wired into decode."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from tiny_models import tiny_config

from t2g_core.modeling.detail_refiner import DetailRefiner
from t2g_core.modeling.model import build_model


def _inputs(n: int = 2) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(n, 5, 6, 8, generator=g)
    embedding = torch.randn(n, 16, 6, 8, generator=g)
    detail = torch.randn(n, 8, 12, 16, generator=g)
    return logits, embedding, detail


def test_a_new_refiner_returns_the_upsampled_logits():
    """W_out starts at zero: a warm-started model predicts what it did before, at stride 4."""
    refiner = DetailRefiner(in_channels=4, dim=16, num_classes=5, channels=8)
    logits, embedding, detail = _inputs()
    out = refiner(logits, embedding, detail)
    expected = F.interpolate(logits, size=(12, 16), mode="bilinear", align_corners=False)
    assert out.shape == (2, 5, 12, 16)
    assert torch.equal(out, expected)


def test_the_detail_features_steer_the_output_once_trained():
    refiner = DetailRefiner(in_channels=4, dim=16, num_classes=5, channels=8)
    torch.nn.init.normal_(refiner.out.weight)
    logits, embedding, _ = _inputs()
    features4 = torch.randn(2, 4, 12, 16, requires_grad=True)
    out = refiner(logits, embedding, refiner.encode(features4))
    out.square().sum().backward()
    assert features4.grad.abs().sum() > 0
    assert refiner.project_detail[0].weight.grad.abs().sum() > 0


def test_decode_is_at_stride_4_and_needs_the_frames_detail():
    model = build_model(tiny_config(detail=True)).eval()  # input 32x48
    assert model.output_stride == 4
    with torch.no_grad():
        frame = model.encode_frames(torch.rand(1, 3, 32, 48) * 255)
        assert frame.detail.shape == (1, 8, 8, 12)
        logits = model.decode(frame, [frame], torch.zeros(1, 1))
        assert logits.shape == (1, 5, 8, 12)
        bare = type(frame)(frame.pixel_embedding, frame.memory_keys, frame.memory_values)
        with pytest.raises(ValueError, match="detail"):
            model.decode(bare, [bare], torch.zeros(1, 1))


def test_a_model_without_the_detail_path_keeps_stride_8_and_no_detail():
    model = build_model(tiny_config()).eval()
    assert model.output_stride == 8 and model.detail_refiner is None
    with torch.no_grad():
        frame = model.encode_frames(torch.rand(1, 3, 32, 48) * 255)
        assert frame.detail is None
        assert model.decode(frame, [frame], torch.zeros(1, 1)).shape == (1, 5, 4, 6)
