"""LabelReadout's fast paths: bands on several threads give the same bytes as one band, and scores
far below the best (whose exp() would be a slow float32 denormal) read out as the float64 softmax."""

from __future__ import annotations

import numpy as np
import pytest

from t2g_core.inference.readout import LabelReadout


def _reference(scores: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Upsample (torch bilinear, half-pixel centres), softmax in float64, max."""
    import torch
    import torch.nn.functional as F

    up = F.interpolate(
        torch.from_numpy(scores)[None], size=size, mode="bilinear", align_corners=False
    )[0].double()
    confidence, labels = up.softmax(dim=0).max(dim=0)
    return labels.numpy().astype(np.uint8), confidence.numpy()


@pytest.mark.parametrize("size", [(360, 480), (37, 53), (1, 9), (3, 3)])
def test_bands_on_threads_give_the_same_bytes(size):
    scores = np.random.default_rng(1).normal(size=(11, 6, 8)).astype(np.float32) * 4
    one = LabelReadout(threads=1)(scores, size)
    for threads in (2, 3, 5):
        labels, confidence = LabelReadout(threads=threads)(scores, size)
        assert labels.tobytes() == one[0].tobytes()
        assert confidence.tobytes() == one[1].tobytes()


@pytest.mark.parametrize("scale", [1.0, 40.0])
def test_far_below_the_best_reads_out_as_the_float64_softmax(scale):
    """At scale 40 the gaps reach hundreds (exp underflows): the clamped path must still match."""
    rng = np.random.default_rng(2)
    scores = (rng.normal(size=(6, 5, 7)) * scale).astype(np.float32)
    assert (float((scores - scores.max(axis=0)).min()) < -87.0) == (scale > 1)
    size = (20, 28)
    want_labels, want_confidence = _reference(scores, size)
    labels, confidence = LabelReadout(threads=2)(scores, size)
    np.testing.assert_array_equal(labels, want_labels)
    # float32 interpolation of scores of magnitude ~100 rounds at ~1e-5 relative
    np.testing.assert_allclose(confidence, want_confidence, rtol=2e-5)
    assert confidence.max() <= 1.0 and confidence.min() > 0


def test_threads_must_be_a_positive_int():
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="threads"):
            LabelReadout(threads=bad)


def test_max_size_reads_large_frames_at_it_and_small_ones_exactly():
    rng = np.random.default_rng(5)
    scores = (rng.normal(size=(5, 6, 8)) * 3).astype(np.float32)
    exact, capped = LabelReadout(threads=2), LabelReadout(threads=2, max_size=(48, 64))
    for size in ((48, 64), (30, 40), (48, 50)):  # not larger on either axis: the exact read-out
        a, b = exact(scores, size), capped(scores, size)
        assert a[0].tobytes() == b[0].tobytes() and a[1].tobytes() == b[1].tobytes()
    small_labels, small_confidence = exact(scores, (48, 64))
    labels, confidence = capped(scores, (144, 256))  # 3x / 4x the cap
    # Nearest neighbour with pixel centres: each cap pixel becomes a 3x4 block.
    np.testing.assert_array_equal(labels, np.repeat(np.repeat(small_labels, 3, 0), 4, 1))
    assert confidence.shape == (144, 256) and confidence.dtype == np.float32
    np.testing.assert_allclose(confidence[1::3, 1::4], small_confidence, atol=0.05)
    # Against the exact read-out at the frame size only class borders move.
    full_labels, _ = exact(scores, (144, 256))
    assert (full_labels == labels).mean() > 0.95


def test_max_size_must_be_a_size():
    for bad in ((0, 5), (5,), (1, 2, 3)):
        with pytest.raises(ValueError, match="max_size"):
            LabelReadout(max_size=bad)
