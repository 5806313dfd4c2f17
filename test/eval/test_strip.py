"""The flicker strip's window choice and per-pair counts."""

from __future__ import annotations

import math

import numpy as np

from t2g_core.evaluation.strip import flickeriest_window, pair_flicker


def test_flickeriest_window_pools_the_pairs_of_each_window():
    num = np.array([0, 0, 5, 9, 9, 0, 0], dtype=np.int64)
    den = np.array([10, 10, 10, 10, 10, 10, 10], dtype=np.int64)
    assert flickeriest_window(num, den, length=3) == (3, 0.9)  # pairs 3, 4
    start, rate = flickeriest_window(num, den, length=4)  # pairs 2..4: 23/30
    assert start == 2 and math.isclose(rate, 23 / 30)
    assert flickeriest_window(num, den, length=9)[0] == 0 and math.isnan(
        flickeriest_window(num, den, length=9)[1]
    )
    assert math.isnan(flickeriest_window(num, np.zeros_like(den), length=3)[1])


def test_pair_flicker_counts_gray_stable_changes():
    frames = [np.full((4, 4, 3), 100, np.uint8)] * 3
    preds = [np.zeros((4, 4), np.uint8), np.zeros((4, 4), np.uint8), np.ones((4, 4), np.uint8)]
    preds[1][0, 0] = 1
    num, den = pair_flicker(preds, frames)
    assert num.tolist() == [1, 15] and den.tolist() == [16, 16]
