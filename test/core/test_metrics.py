"""Metrics on hand-made arrays: confusion/IoU, VC_n, flicker, per-stride reports."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from t2g_core.metrics import (
    ConfusionAccumulator,
    VCResult,
    confusion_matrix,
    flicker_rate,
    mean_iou,
    per_class_iou,
    scores_per_stride,
    stride_phases,
    video_consistency,
)

VOID = 11


# ----------------------------------------------------------------------------------------------- mIoU


def test_confusion_and_iou_by_hand():
    gt = np.array([[0, 0, 1, 1, VOID]])
    pred = np.array([[0, 1, 1, 1, 2]])  # the prediction under void is ignored
    cm = confusion_matrix(pred, gt, num_classes=3, void_id=VOID)
    np.testing.assert_array_equal(cm, [[1, 1, 0], [0, 2, 0], [0, 0, 0]])
    assert cm.dtype == np.int64
    # Class 0: TP 1, FN 1 -> 1/2. Class 1: TP 2, FP 1 -> 2/3. Class 2: absent from both -> NaN, excluded.
    iou = per_class_iou(cm)
    np.testing.assert_allclose(iou[:2], [1 / 2, 2 / 3])
    assert np.isnan(iou[2])
    assert mean_iou(cm) == pytest.approx(7 / 12)


def test_class_predicted_but_absent_from_ground_truth_scores_zero():
    cm = confusion_matrix(np.array([0, 2]), np.array([0, 0]), num_classes=3, void_id=VOID)
    np.testing.assert_allclose(per_class_iou(cm), [1 / 2, np.nan, 0.0])
    assert mean_iou(cm) == pytest.approx(1 / 4)
    assert np.isnan(mean_iou(np.zeros((3, 3), dtype=np.int64)))


def test_accumulator_sums_frames():
    acc = ConfusionAccumulator(2, void_id=VOID)
    acc.update(np.array([[0, 1]]), np.array([[0, 0]]))
    acc.update(np.array([[1, 1]]), np.array([[1, VOID]]))
    np.testing.assert_array_equal(acc.matrix, [[1, 1], [0, 1]])
    assert acc.mean_iou() == pytest.approx((1 / 2 + 1 / 2) / 2)


def test_confusion_rejects_bad_ids():
    with pytest.raises(ValueError, match="predicted id 3"):
        confusion_matrix(np.array([3]), np.array([0]), num_classes=3, void_id=VOID)
    with pytest.raises(ValueError, match="label id 7"):
        confusion_matrix(np.array([0]), np.array([7]), num_classes=3, void_id=VOID)
    with pytest.raises(ValueError, match="shape"):
        confusion_matrix(np.zeros(2, int), np.zeros(3, int), num_classes=3, void_id=VOID)


# ----------------------------------------------------------------------------------------------- VC_n


def _column(*values):
    """(L, 1, P) frames from per-pixel time series."""
    return np.array(values).T[:, None, :]


def test_vc_by_hand_uses_every_window():
    # Pixel 0: GT always 1, prediction 1 1 0 0. Pixel 1: GT 2 2 3 3, prediction always 2.
    gt = _column([1, 1, 1, 1], [2, 2, 3, 3])
    pred = _column([1, 1, 0, 0], [2, 2, 2, 2])
    vc = video_consistency(pred, gt, n=2, void_id=VOID)
    # Windows (0,1): 2 GT-stable, both predicted stable. (1,2): only pixel 0 stable, prediction changes.
    # (2,3): 2 stable, both predicted stable. The official range(len - n) would stop after two windows.
    np.testing.assert_allclose(vc.window_ratios, [1.0, 0.0, 1.0])
    assert vc.mean_of_windows == pytest.approx(2 / 3)
    assert (vc.numerator, vc.denominator) == (4, 5)
    assert vc.pooled == pytest.approx(4 / 5)
    vc3 = video_consistency(pred, gt, n=3, void_id=VOID)
    np.testing.assert_allclose(vc3.window_ratios, [0.0, 0.0])


def test_vc_excludes_void_and_skips_windows_without_stable_pixels():
    gt = _column([VOID, VOID, VOID], [4, 5, 4])
    pred = _column([0, 1, 2], [4, 4, 4])
    vc = video_consistency(pred, gt, n=2, void_id=VOID)
    assert len(vc.window_ratios) == 0 and vc.denominator == 0
    assert np.isnan(vc.mean_of_windows) and np.isnan(vc.pooled)
    short = video_consistency(pred[:1], gt[:1], n=2, void_id=VOID)
    assert np.isnan(short.mean_of_windows)


def _vc_brute_force(pred, gt, n):
    ratios, num, den = [], 0, 0
    for start in range(len(gt) - n + 1):
        g, p = gt[start : start + n], pred[start : start + n]
        stable = np.all(g == g[0], axis=0) & (g[0] != VOID)
        same = np.all(p == p[0], axis=0)
        num += int((stable & same).sum())
        den += int(stable.sum())
        if stable.sum():
            ratios.append((stable & same).sum() / stable.sum())
    return ratios, num, den


@pytest.mark.parametrize("n", [2, 3, 5])
def test_vc_matches_the_definition_window_by_window(n):
    rng = np.random.default_rng(n)
    gt = rng.choice([0, 1, VOID], p=[0.7, 0.2, 0.1], size=(9, 5, 6))
    pred = np.where(rng.random((9, 5, 6)) < 0.9, np.minimum(gt, 1), 2)
    vc = video_consistency(list(pred), list(gt), n=n, void_id=VOID)
    ratios, num, den = _vc_brute_force(pred, gt, n)
    np.testing.assert_allclose(vc.window_ratios, ratios)
    assert (vc.numerator, vc.denominator) == (num, den)


def test_vc_merge_pools_sequences():
    a = VCResult(n=2, numerator=3, denominator=4, window_ratios=np.array([0.75]))
    b = VCResult(n=2, numerator=1, denominator=4, window_ratios=np.array([0.5, 0.0]))
    merged = a.merge(b)
    assert merged.pooled == pytest.approx(4 / 8)
    assert merged.mean_of_windows == pytest.approx(1.25 / 3)
    with pytest.raises(ValueError, match="VC_3"):
        a.merge(VCResult(n=3))
    with pytest.raises(ValueError, match="n must be >= 2"):
        video_consistency([], [], n=1, void_id=VOID)


# -------------------------------------------------------------------------------------------- flicker


def test_flicker_on_gray_stable_pixels_by_hand():
    # Gray differences 0, 20, 21 between the two frames: the first two pixels are stable (<= 20).
    gray0 = np.array([[100, 100, 100]])
    gray1 = np.array([[100, 120, 121]])
    frames = [np.repeat(g[..., None], 3, axis=-1).astype(np.uint8) for g in (gray0, gray1)]
    preds = [np.array([[1, 2, 3]]), np.array([[0, 2, 0]])]  # changes on pixels 0 and 2
    result = flicker_rate(preds, frames=frames)
    assert (result.numerator, result.denominator) == (1, 2)
    assert result.rate == pytest.approx(0.5)
    # Restricting to GT-stable, non-void pixels too: pixel 1 is void, so only pixel 0 is left.
    labels = [np.array([[4, VOID, 4]]), np.array([[4, VOID, 4]])]
    both = flicker_rate(preds, frames=frames, labels=labels, void_id=VOID)
    assert (both.numerator, both.denominator) == (1, 1)
    labels_only = flicker_rate(preds, labels=labels, void_id=VOID)
    assert (labels_only.numerator, labels_only.denominator) == (2, 2)


def test_flicker_pools_pairs_and_validates():
    frames = [np.zeros((2, 2, 3), np.uint8)] * 3
    preds = [np.zeros((2, 2), int), np.ones((2, 2), int), np.ones((2, 2), int)]
    result = flicker_rate(preds, frames=frames)
    assert (result.numerator, result.denominator) == (4, 8)
    assert result.merge(result).rate == pytest.approx(0.5)
    with pytest.raises(ValueError, match="needs frames"):
        flicker_rate(preds)
    with pytest.raises(ValueError, match="void_id"):
        flicker_rate(preds, labels=preds)
    with pytest.raises(ValueError, match="3 predictions but 2 frames"):
        flicker_rate(preds, frames=frames[:2])


# ----------------------------------------------------------------------------------------- per stride


def test_stride_phases_cover_every_frame_once():
    assert [p.tolist() for p in stride_phases(5, stride=2)] == [[0, 2, 4], [1, 3]]
    assert [p.tolist() for p in stride_phases(3, stride=7)] == [[0], [1], [2]]
    assert [p.tolist() for p in stride_phases(4, stride=1)] == [[0, 1, 2, 3]]
    with pytest.raises(ValueError, match="stride"):
        stride_phases(4, stride=0)


def test_scores_per_stride_runs_the_model_per_phase():
    rng = np.random.default_rng(0)
    labels = [rng.integers(0, 3, size=(4, 4)) for _ in range(10)]
    frames = [np.full((4, 4, 3), 50, np.uint8) for _ in range(10)]
    calls = []

    def oracle(indices):
        calls.append(indices.tolist())
        return [labels[i] for i in indices]

    scores = scores_per_stride(
        oracle,
        strides=[1, 3],
        labels=labels,
        frames=frames,
        num_classes=3,
        void_id=VOID,
        vc_windows=(2, 3),
    )
    assert calls == [list(range(10)), [0, 3, 6, 9], [1, 4, 7], [2, 5, 8]]
    for stride in (1, 3):
        s = scores[stride]
        assert s.mean_iou == pytest.approx(1.0)
        assert s.confusion.sum() == 10 * 16  # every labelled frame counted once per stride
        assert s.flicker.numerator == 0
        for n in (2, 3):
            assert s.vc[n].numerator == s.vc[n].denominator
    # A model that predicts class 0 everywhere: never flickers, but is wrong where GT is not 0.
    constant = scores_per_stride(
        lambda idx: [np.zeros((4, 4), int)] * len(idx),
        strides=[2],
        labels=labels,
        frames=None,
        num_classes=3,
        void_id=VOID,
        vc_windows=(2,),
    )[2]
    share_of_zero = np.mean([np.mean(lab == 0) for lab in labels])
    assert constant.mean_iou == pytest.approx(share_of_zero / 3)
    assert constant.flicker.numerator == 0 and constant.vc[2].pooled == 1.0


def test_all_windows_count_for_every_window_length():
    # Brute force over tiny sequences: len - n + 1 windows whenever each has a stable pixel.
    for length, n in itertools.product(range(2, 6), range(2, 5)):
        gt = np.zeros((length, 1, 1), int)
        vc = video_consistency(gt, gt, n=n, void_id=VOID)
        assert len(vc.window_ratios) == max(length - n + 1, 0)
