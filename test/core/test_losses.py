"""Segmentation loss and Masked Temporal Consistency loss, checked against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from t2g_core.losses import (
    inverse_sqrt_frequency_weights,
    masked_temporal_consistency_loss,
    segmentation_loss,
    stable_label_mask,
)

VOID = 11


def _pixel_logits(*pixels):
    """(1, K, 1, P) logits from P per-pixel logit lists."""
    return torch.tensor(pixels, dtype=torch.float64).T[None, :, None, :].contiguous()


# ------------------------------------------------------------------------------------------ seg loss


def test_seg_loss_one_pixel_by_hand():
    # p = softmax([0, ln 3]) = [1/4, 3/4], label 1: CE = -ln(3/4); Dice over the present class 1:
    # 2 * 3/4 / (3/4 + 1) = 6/7, so the Dice loss is 1/7.
    logits = _pixel_logits([0.0, math.log(3.0)])
    terms = segmentation_loss(logits, torch.tensor([[[1]]]), void_id=VOID)
    assert terms.ce.item() == pytest.approx(-math.log(0.75))
    assert terms.dice.item() == pytest.approx(1 / 7)
    assert terms.total.item() == pytest.approx(-math.log(0.75) + 1 / 7)
    half = segmentation_loss(logits, torch.tensor([[[1]]]), void_id=VOID, dice_weight=0.5)
    assert half.total.item() == pytest.approx(-math.log(0.75) + 0.5 / 7)


def test_class_weights_weight_the_mean():
    # Pixels of class 0 and 1 with CE l0 = -ln(1/2) and l1 = -ln(3/4); weights (1, 3): (l0 + 3 l1) / 4.
    logits = _pixel_logits([0.0, 0.0], [0.0, math.log(3.0)])
    terms = segmentation_loss(
        logits,
        torch.tensor([[[0, 1]]]),
        void_id=VOID,
        class_weights=torch.tensor([1.0, 3.0]),
        dice_weight=0.0,
    )
    assert terms.ce.item() == pytest.approx((math.log(2.0) + 3 * -math.log(0.75)) / 4)


def test_void_pixels_do_not_count():
    labels = torch.tensor([[[1, VOID]]])
    a = segmentation_loss(_pixel_logits([0.0, 1.0], [5.0, -5.0]), labels, void_id=VOID)
    b = segmentation_loss(_pixel_logits([0.0, 1.0], [-9.0, 9.0]), labels, void_id=VOID)
    assert a.total.item() == pytest.approx(b.total.item())


def test_all_void_gives_a_zero_that_backpropagates():
    logits = torch.randn(2, 3, 4, 4, requires_grad=True)
    terms = segmentation_loss(logits, torch.full((2, 4, 4), VOID), void_id=VOID)
    assert terms.total.item() == 0.0
    terms.total.backward()
    assert torch.isfinite(logits.grad).all()


def test_low_resolution_logits_are_upsampled_to_the_labels():
    torch.manual_seed(0)
    logits = torch.randn(1, 3, 2, 3, requires_grad=True)
    labels = torch.randint(0, 3, (1, 8, 12))
    labels[0, 0, 0] = VOID
    up = F.interpolate(logits, size=(8, 12), mode="bilinear", align_corners=False)
    expected_ce = F.cross_entropy(up, labels, ignore_index=VOID)
    terms = segmentation_loss(logits, labels, void_id=VOID, dice_weight=0.0)
    assert terms.ce.item() == pytest.approx(expected_ce.item())
    terms.total.backward()
    assert logits.grad.abs().sum() > 0


def test_clip_shaped_input_equals_flattened_frames():
    torch.manual_seed(1)
    logits = torch.randn(2, 3, 4, 5, 5)  # (B, T, K, h, w)
    labels = torch.randint(0, 4, (2, 3, 5, 5))
    a = segmentation_loss(logits, labels, void_id=VOID)
    b = segmentation_loss(logits.reshape(6, 4, 5, 5), labels.reshape(6, 5, 5), void_id=VOID)
    assert a.total.item() == pytest.approx(b.total.item())


def test_seg_loss_rejects_bad_labels():
    logits = torch.zeros(1, 3, 2, 2)
    with pytest.raises(ValueError, match="label id 5"):
        segmentation_loss(logits, torch.tensor([[[0, 5], [1, 2]]]), void_id=VOID)
    with pytest.raises(ValueError, match="int64"):
        segmentation_loss(logits, torch.zeros(1, 2, 2, dtype=torch.int32), void_id=VOID)
    with pytest.raises(ValueError, match="collides"):
        segmentation_loss(logits, torch.zeros(1, 2, 2, dtype=torch.int64), void_id=2)


def test_inverse_sqrt_frequency_weights():
    # 1/sqrt of frequencies (1/5, 4/5) is proportional to (1, 1/2); normalised to mean 1: (4/3, 2/3).
    np.testing.assert_allclose(
        inverse_sqrt_frequency_weights(np.array([1, 4])).numpy(), [4 / 3, 2 / 3], rtol=1e-6
    )
    # An absent class takes the largest weight of the others: (1, 1/2, 1) / (5/6).
    np.testing.assert_allclose(
        inverse_sqrt_frequency_weights(np.array([1, 4, 0])).numpy(), [1.2, 0.6, 1.2], rtol=1e-6
    )
    with pytest.raises(ValueError, match="pixel_counts"):
        inverse_sqrt_frequency_weights(np.array([0, 0]))


# ------------------------------------------------------------------------------------------- MTC


def test_mtc_zero_for_identical_and_hand_value_otherwise():
    a = _pixel_logits([0.0, 0.0])
    b = _pixel_logits([math.log(3.0), 0.0])
    mask = torch.ones(1, 1, 1, dtype=torch.bool)
    assert masked_temporal_consistency_loss(a, a.clone(), mask).item() == pytest.approx(
        0.0, abs=1e-12
    )
    # p = (1/2, 1/2), q = (3/4, 1/4), m = (5/8, 3/8).
    p, q, m = (0.5, 0.5), (0.75, 0.25), (0.625, 0.375)
    js = 0.5 * sum(pi * math.log(pi / mi) for pi, mi in zip(p, m)) + 0.5 * sum(
        qi * math.log(qi / mi) for qi, mi in zip(q, m)
    )
    assert masked_temporal_consistency_loss(a, b, mask).item() == pytest.approx(js / math.log(2.0))
    assert masked_temporal_consistency_loss(b, a, mask).item() == pytest.approx(js / math.log(2.0))


def test_mtc_is_at_most_one_and_averages_over_masked_pixels():
    # Two masked pixels: one identical (JS 0), one maximally different (JS -> ln 2): mean -> 1/2.
    a = _pixel_logits([0.0, 0.0], [60.0, -60.0])
    b = _pixel_logits([0.0, 0.0], [-60.0, 60.0])
    loss = masked_temporal_consistency_loss(a, b, torch.ones(1, 1, 2, dtype=torch.bool))
    assert loss.item() == pytest.approx(0.5, abs=1e-6)
    assert loss.item() <= 0.5


def test_mtc_ignores_masked_out_pixels():
    torch.manual_seed(2)
    a = torch.randn(2, 4, 6, 6)
    b = torch.randn(2, 4, 6, 6)
    mask = torch.rand(2, 6, 6) > 0.5
    base = masked_temporal_consistency_loss(a, b, mask)
    a2, b2 = a.clone(), b.clone()
    a2.permute(0, 2, 3, 1)[~mask] = 100.0 * torch.randn(int((~mask).sum()), 4)
    b2.permute(0, 2, 3, 1)[~mask] = -3.0
    assert masked_temporal_consistency_loss(a2, b2, mask).item() == pytest.approx(base.item())
    assert base.item() > 0


def test_mtc_empty_mask_is_zero_not_nan():
    a = torch.randn(1, 3, 4, 4, requires_grad=True)
    b = torch.randn(1, 3, 4, 4, requires_grad=True)
    loss = masked_temporal_consistency_loss(a, b, torch.zeros(1, 4, 4, dtype=torch.bool))
    assert loss.item() == 0.0
    loss.backward()
    assert torch.isfinite(a.grad).all() and torch.isfinite(b.grad).all()


def test_mtc_gradients_are_finite_and_stop_gradient_detaches():
    a = (
        torch.tensor([[80.0, -80.0, 0.0], [0.0, 0.0, 0.0]])
        .T[None, :, None, :]
        .clone()
        .requires_grad_(True)
    )
    b = (
        torch.tensor([[-80.0, 80.0, 0.0], [1.0, 0.0, -1.0]])
        .T[None, :, None, :]
        .clone()
        .requires_grad_(True)
    )
    mask = torch.ones(1, 1, 2, dtype=torch.bool)
    masked_temporal_consistency_loss(a, b, mask).backward()
    assert torch.isfinite(a.grad).all() and torch.isfinite(b.grad).all()
    assert a.grad.abs().sum() > 0 and b.grad.abs().sum() > 0
    a.grad = b.grad = None
    masked_temporal_consistency_loss(a, b, mask, stop_gradient="b").backward()
    assert b.grad is None and a.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="stop_gradient"):
        masked_temporal_consistency_loss(a, b, mask, stop_gradient="both")


def test_mtc_upsamples_low_resolution_logits_to_the_mask():
    a = torch.zeros(1, 2, 2, 2)
    b = torch.zeros(1, 2, 2, 2)
    b[0, 0] = math.log(3.0)  # constant field: upsampled it stays (3/4, 1/4) everywhere
    full = masked_temporal_consistency_loss(a, b, torch.ones(1, 8, 8, dtype=torch.bool))
    one = masked_temporal_consistency_loss(
        a[..., :1, :1], b[..., :1, :1], torch.ones(1, 1, 1, dtype=torch.bool)
    )
    assert full.item() == pytest.approx(one.item())


# ----------------------------------------------------------------------------------- stability mask


def test_stable_label_mask_by_hand():
    labels = torch.tensor(
        [
            [[1, 2], [VOID, 4]],
            [[1, 3], [VOID, 4]],
            [[1, 2], [VOID, 4]],
        ]
    )  # (T=3, 2, 2): pixel (0,1) changes, (1,0) is void
    expected = torch.tensor([[True, False], [False, True]])
    assert torch.equal(stable_label_mask(labels, void_id=VOID), expected)
    valid = torch.ones(3, 2, 2, dtype=torch.bool)
    valid[1, 1, 1] = False  # left the view in one frame
    assert torch.equal(
        stable_label_mask(labels, void_id=VOID, valid=valid),
        torch.tensor([[True, False], [False, False]]),
    )
    assert torch.equal(stable_label_mask(None, valid=valid), valid.all(0))
    batched = stable_label_mask(torch.stack([labels, labels]), void_id=VOID)
    assert batched.shape == (2, 2, 2) and torch.equal(batched[1], expected)


def test_stable_label_mask_needs_something():
    with pytest.raises(ValueError, match="needs labels"):
        stable_label_mask(None)
    with pytest.raises(ValueError, match="void_id"):
        stable_label_mask(torch.zeros(2, 2, 2, dtype=torch.int64))
