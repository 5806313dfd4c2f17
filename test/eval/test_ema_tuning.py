"""EMA alpha selection: the best VC_n within the mIoU budget, on constructed scores."""

from __future__ import annotations

import math

import pytest

from t2g_core.evaluation import AlphaScore, select_alpha, tune_ema_alpha

REFERENCE = AlphaScore(alpha=1.0, miou=0.600, vc=0.90)


def test_picks_the_most_stable_alpha_within_the_miou_budget():
    candidates = [
        AlphaScore(0.2, miou=0.590, vc=0.99),  # most stable, but loses a full point: excluded
        AlphaScore(0.4, miou=0.596, vc=0.97),  # within 0.5 point: the answer
        AlphaScore(0.6, miou=0.601, vc=0.95),
        AlphaScore(0.8, miou=0.600, vc=0.92),
    ]
    assert select_alpha(REFERENCE, candidates, max_miou_drop=0.005) == 0.4
    assert select_alpha(REFERENCE, candidates, max_miou_drop=0.02) == 0.2
    assert select_alpha(REFERENCE, candidates, max_miou_drop=0.0) == 0.6


def test_ties_go_to_less_smoothing_and_nan_never_wins():
    candidates = [
        AlphaScore(0.3, 0.6, 0.95),
        AlphaScore(0.7, 0.6, 0.95),
        AlphaScore(0.5, 0.6, math.nan),
    ]
    assert select_alpha(REFERENCE, candidates, max_miou_drop=0.005) == 0.7


def test_falls_back_to_no_smoothing():
    worse = [AlphaScore(0.5, miou=0.50, vc=0.99), AlphaScore(0.9, miou=0.61, vc=0.80)]
    assert select_alpha(REFERENCE, worse, max_miou_drop=0.005) == 1.0
    nan_reference = AlphaScore(1.0, miou=math.nan, vc=math.nan)
    assert select_alpha(nan_reference, worse, max_miou_drop=0.005) == 1.0


def test_tune_scores_the_reference_without_ema_then_every_alpha():
    # A constructed trade-off: smoothing raises VC and costs mIoU quadratically.
    calls = []

    def score(alpha):
        calls.append(alpha)
        a = 1.0 if alpha is None else alpha
        return 0.6 - 0.04 * (1 - a) ** 2, 0.9 + 0.1 * (1 - a)

    tuning = tune_ema_alpha(score, alphas=[0.2, 0.4, 0.6, 0.8], max_miou_drop=0.005, vc_window=8)
    assert calls == [None, 0.2, 0.4, 0.6, 0.8]
    # mIoU drops: 0.0256, 0.0144, 0.0064, 0.0016 -> only 0.8 is within 0.005, and it beats alpha 1.
    assert tuning.alpha == 0.8
    assert tuning.reference == AlphaScore(1.0, pytest.approx(0.6), pytest.approx(0.9))
    assert [c.alpha for c in tuning.candidates] == [0.2, 0.4, 0.6, 0.8]
    assert "VC_8" in tuning.criterion and "0.5 points" in tuning.criterion
