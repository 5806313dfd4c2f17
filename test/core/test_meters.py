"""The streaming meters equal t2g_core.metrics run on the whole sequence (changing labels, void, windows)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from t2g_core.labels import LabelSet
from t2g_core.meters import FlickerMeter, GroundTruthMeter, OccupancyMeter
from t2g_core.metrics import ConfusionAccumulator, flicker_rate, video_consistency
from t2g_core.postprocess import summarize_occupancy

LABELS = LabelSet(names=("a", "b", "c"), colors=((0, 0, 0), (1, 1, 1), (2, 2, 2)), void_id=3)


def sequence(length: int, seed: int = 0):
    """Blocky labels that change a little each frame, and frames whose brightness drifts in places."""
    rng = np.random.default_rng(seed)
    labels = [rng.integers(0, 3, (4, 5), dtype=np.uint8).repeat(4, 0).repeat(4, 1)]
    frames = [rng.integers(0, 256, (16, 20, 3), dtype=np.uint8)]
    for _ in range(length - 1):
        changed = labels[-1].copy()
        changed[rng.random(changed.shape) < 0.1] = rng.integers(0, 3)
        labels.append(changed)
        frame = frames[-1].astype(np.int16)
        frame[rng.random(frame.shape[:2]) < 0.3] += 60
        frames.append(np.clip(frame, 0, 255).astype(np.uint8))
    return labels, frames


def test_flicker_meter_pools_pairs_like_the_whole_sequence():
    labels, frames = sequence(10)
    meter = FlickerMeter()
    for pred, frame in zip(labels, frames):
        meter.update(pred, frame)
    whole = flicker_rate(labels, frames=frames)
    assert 0 < whole.numerator < whole.denominator  # labels change, some pixels are gray-unstable
    assert (meter.result.numerator, meter.result.denominator) == (
        whole.numerator,
        whole.denominator,
    )


def test_ground_truth_meter_matches_confusion_and_vc_and_ignores_255():
    preds, _ = sequence(11, seed=1)
    gts, _ = sequence(11, seed=2)
    gts = [g.copy() for g in gts]
    for g in gts[::3]:
        g[:2] = 255  # void as mono8 ground truth often marks it
        g[-1] = LABELS.void_id
    meter = GroundTruthMeter(LABELS, vc_n=4)
    for pred, gt in zip(preds, gts):
        meter.update(pred, gt)
    expected_gt = [np.where(g == 255, np.uint8(LABELS.void_id), g) for g in gts]
    confusion = ConfusionAccumulator(3, void_id=LABELS.void_id)
    for pred, gt in zip(preds, expected_gt):
        confusion.update(pred, gt)
    vc = video_consistency(preds, expected_gt, n=4, void_id=LABELS.void_id)
    report = meter.report(LABELS.names)
    assert report["frames"] == 11
    assert report["miou"] == pytest.approx(confusion.mean_iou(), abs=0)
    assert 0 < report["vc4"] < 1 and report["vc4"] == pytest.approx(vc.mean_of_windows, abs=1e-12)
    assert len(meter.vc.window_ratios) == len(vc.window_ratios) == 8


def test_ground_truth_meter_rejects_a_bad_frame_unchanged():
    meter = GroundTruthMeter(LABELS)
    with pytest.raises(ValueError, match="ground truth is 5x4, the image 20x16"):
        meter.update(np.zeros((16, 20), np.uint8), np.zeros((4, 5), np.uint8))
    with pytest.raises(ValueError, match="label id 7"):
        meter.update(np.zeros((16, 20), np.uint8), np.full((16, 20), 7, np.uint8))
    assert meter.frames == 0 and meter.confusion.matrix.sum() == 0


def test_occupancy_meter_averages_shares_and_stability():
    labels, _ = sequence(4, seed=3)
    meter = OccupancyMeter(LABELS)
    previous = None
    for x in labels:
        meter.update(
            summarize_occupancy(
                x,
                np.ones(x.shape, np.float32),
                num_classes=3,
                grid_rows=1,
                grid_cols=1,
                previous_labels=previous,
            )
        )
        previous = x
    report = meter.report()
    shares = np.mean([np.bincount(x.ravel(), minlength=3) / x.size for x in labels], axis=0)
    assert list(report["mean_class_share"].values()) == pytest.approx(shares.tolist(), abs=1e-6)
    stability = np.mean([(a == b).mean() for a, b in zip(labels, labels[1:])])
    assert report["mean_stability"] == pytest.approx(stability, abs=1e-6)
    assert math.isclose(report["mean_unlabelled_share"], 0.0)
