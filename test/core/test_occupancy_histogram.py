"""summarize_occupancy counts cells with OpenCV histograms: against plain numpy counting on random
maps, including the edges of its range (255 classes, 255 columns, one-pixel cells)."""

from __future__ import annotations

import numpy as np
import pytest

from t2g_core.postprocess import MAX_GRID_COLS, UNLABELLED, grid_bounds, summarize_occupancy


def _numpy_summary(labels, confidence, num_classes, rows, cols):
    rb, cb = grid_bounds(labels.shape[0], rows), grid_bounds(labels.shape[1], cols)
    classes = [*range(num_classes), UNLABELLED]
    grid_class, grid_share = [], []
    for r0, r1 in zip(rb[:-1], rb[1:]):
        for c0, c1 in zip(cb[:-1], cb[1:]):
            cell = labels[r0:r1, c0:c1]
            counts = [np.count_nonzero(cell == k) for k in classes]
            best = int(np.argmax(counts))  # first maximum: lowest id, UNLABELLED last
            grid_class.append(classes[best])
            grid_share.append(counts[best] / cell.size)
    sums = [float(confidence[labels == k].astype(np.float64).sum()) for k in range(num_classes)]
    counts = [np.count_nonzero(labels == k) for k in range(num_classes)]
    mean = [s / n if n else 0.0 for s, n in zip(sums, counts)]
    return np.array(counts) / labels.size, mean, grid_class, grid_share


@pytest.mark.parametrize(
    ("shape", "num_classes", "grid"),
    [((48, 300), 255, (4, MAX_GRID_COLS)), ((5, 9), 3, (5, 9)), ((90, 120), 11, (6, 8))],
)
def test_histogram_counts_equal_numpy_counts(shape, num_classes, grid):
    rng = np.random.default_rng(7)
    labels = rng.integers(0, num_classes, shape).astype(np.uint8)
    labels[rng.random(shape) < 0.25] = UNLABELLED
    confidence = rng.random(shape, dtype=np.float32)
    summary = summarize_occupancy(
        labels, confidence, num_classes=num_classes, grid_rows=grid[0], grid_cols=grid[1]
    )
    fraction, mean, grid_class, grid_share = _numpy_summary(labels, confidence, num_classes, *grid)
    np.testing.assert_allclose(summary.pixel_fraction, fraction, rtol=1e-6)
    np.testing.assert_allclose(summary.mean_confidence, mean, rtol=1e-6)
    assert summary.grid_class.tolist() == grid_class
    np.testing.assert_allclose(summary.grid_share, grid_share, rtol=1e-6)
    assert summary.unlabelled_fraction == pytest.approx(np.mean(labels == UNLABELLED))


def test_a_non_contiguous_label_view_is_summarised_like_its_copy():
    rng = np.random.default_rng(3)
    big = rng.integers(0, 4, (20, 30)).astype(np.uint8)
    view = big[2:18:2, 3:27]
    confidence = rng.random(view.shape, dtype=np.float32)
    a = summarize_occupancy(view, confidence, num_classes=4, grid_rows=3, grid_cols=5)
    b = summarize_occupancy(view.copy(), confidence, num_classes=4, grid_rows=3, grid_cols=5)
    assert a.grid_class.tolist() == b.grid_class.tolist()
    np.testing.assert_array_equal(a.pixel_fraction, b.pixel_fraction)


def test_more_columns_than_a_byte_holds_are_refused():
    labels = np.zeros((2, 300), np.uint8)
    with pytest.raises(ValueError, match="grid_cols must be at most 255"):
        summarize_occupancy(
            labels, np.ones(labels.shape, np.float32), num_classes=2, grid_rows=1, grid_cols=256
        )
