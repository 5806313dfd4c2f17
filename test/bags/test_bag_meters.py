"""The meters and counters t2g-bag-eval reads (t2g_core.meters): one ratio(), flicker per stride,
label agreement and label shares, on inputs built to flicker by a known amount."""

from __future__ import annotations

import math

import numpy as np
import pytest

from t2g_core.labels import LabelSet
from t2g_core.meters import (
    FlickerMeter,
    LabelAgreement,
    LabelCounts,
    StrideFlicker,
    ratio,
)

H, W = 4, 5  # 20 pixels


def still_frames(count: int) -> list[np.ndarray]:
    """Identical gray frames: every pixel is gray-stable, so every label change is flicker."""
    return [np.full((H, W, 3), 128, np.uint8) for _ in range(count)]


def labels_changing(pattern: list[int]) -> list[np.ndarray]:
    """Frame t's labels: ``pattern[t]`` pixels (in raster order) are class 1, the rest class 0."""
    out = []
    for ones in pattern:
        labels = np.zeros(H * W, np.uint8)
        labels[:ones] = 1
        out.append(labels.reshape(H, W))
    return out


@pytest.mark.parametrize(
    ("ours", "reference", "expected"),
    [
        (0.02, 0.04, 0.5),
        (0.0, 0.04, 0.0),
        (0.02, 0.0, None),
        (None, 0.04, None),
        (0.02, None, None),
        (math.nan, 0.04, None),
        (0.02, math.nan, None),
    ],
)
def test_ratio_is_none_where_undefined(ours, reference, expected):
    assert ratio(ours, reference) == (expected if expected is None else pytest.approx(expected))


def test_stride_flicker_compares_frame_t_with_t_plus_s():
    # Labels flip 4 pixels at every step: stride 1 sees 4 changed pixels per pair, stride 2 sees
    # 8 (0 -> 8 -> 16: two steps of growth), and a pair longer than the stream gives no rate.
    labels = labels_changing([0, 4, 8, 12, 16])
    frames = still_frames(5)
    meter = StrideFlicker((1, 2, 8))
    for lab, frame in zip(labels, frames):
        meter.update(lab, frame)
    rates = meter.rates()
    assert rates[1] == pytest.approx(4 / 20)
    assert rates[2] == pytest.approx(8 / 20)
    assert rates[8] is None
    report = meter.report()
    assert [e["pixels"] for e in report] == [4 * 20, 3 * 20, 0]


def test_restart_forgets_earlier_frames_and_keeps_the_totals():
    labels, frames = labels_changing([0, 20, 0]), still_frames(3)
    flicker, strides = FlickerMeter(), StrideFlicker((1,))
    flicker.update(labels[0], frames[0])
    strides.update(labels[0], frames[0])
    flicker.update(labels[1], frames[1])
    strides.update(labels[1], frames[1])
    flicker.restart()
    strides.restart()
    flicker.update(labels[2], frames[2])  # not compared with frame 1 (it would all flicker)
    strides.update(labels[2], frames[2])
    assert flicker.rate == pytest.approx(1.0) and flicker.result.denominator == 20
    assert strides.rates()[1] == pytest.approx(1.0)


def test_label_agreement_counts_equal_and_changed_pixels():
    agreement = LabelAgreement()
    assert agreement.agree_share() is None and agreement.changed_share() is None
    a, b = labels_changing([5, 0])
    agreement.update(a, b)  # 5 of 20 differ
    agreement.update(a, a)
    assert (agreement.agree, agreement.changed, agreement.pixels) == (35, 5, 40)
    assert agreement.changed_share() == pytest.approx(5 / 40)
    assert agreement.agree_share() == pytest.approx(35 / 40)


def test_label_counts_give_shares_by_name_largest_first():
    label_set = LabelSet(names=("road", "sky"), colors=((0, 0, 0), (1, 1, 1)), void_id=2)
    counts = LabelCounts()
    assert counts.shares(label_set) == {}
    labels = np.array([[0, 0, 0, 1], [2, 255, 0, 0]], np.uint8)
    counts.update(labels)
    assert counts.shares(label_set) == {
        "road": 0.625,
        "sky": 0.125,
        "void": 0.125,
        "unlabelled": 0.125,
    }
    assert list(counts.shares(label_set))[0] == "road"
