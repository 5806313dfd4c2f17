"""Tests for t2g_core.postprocess; expected values come from plain loops or hand-computed numbers."""

from __future__ import annotations

import ast
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from t2g_core.postprocess import (
    UNLABELLED,
    colorize,
    confidence_to_mono8,
    grid_bounds,
    overlay,
    palette_lut,
    summarize_occupancy,
)

PALETTE = [(128, 128, 128), (128, 0, 0), (192, 192, 128), (128, 64, 128)]


def random_labels(rng, shape, num_classes, unlabelled_share=0.2):
    labels = rng.integers(0, num_classes, shape).astype(np.uint8)
    labels[rng.random(shape) < unlabelled_share] = UNLABELLED
    return labels


# --- palette and colours ----------------------------------------------------------------------


def test_palette_lut_places_colours_and_leaves_the_rest_black():
    lut = palette_lut(PALETTE)
    assert lut.shape == (256, 3) and lut.dtype == np.uint8
    for class_id, color in enumerate(PALETTE):
        assert tuple(lut[class_id]) == color
    assert not lut[len(PALETTE) :].any()
    assert tuple(lut[UNLABELLED]) == (0, 0, 0)


@pytest.mark.parametrize(
    ("colors", "message"),
    [([(0, 0, 0)] * 256, "at most 255"), ([(0, 256, 0)], "0..255"), ([(-1, 0, 0)], "0..255")],
)
def test_palette_lut_rejects_bad_palettes(colors, message):
    with pytest.raises(ValueError, match=message):
        palette_lut(colors)


def test_colorize_matches_per_pixel_lookup():
    rng = np.random.default_rng(1)
    labels = random_labels(rng, (5, 7), len(PALETTE))
    out = colorize(labels, palette_lut(PALETTE))
    assert out.shape == (5, 7, 3) and out.dtype == np.uint8
    for (row, col), class_id in np.ndenumerate(labels):
        expected = (0, 0, 0) if class_id == UNLABELLED else PALETTE[class_id]
        assert tuple(out[row, col]) == expected


def test_colorize_rejects_wrong_shapes_and_dtypes():
    lut = palette_lut(PALETTE)
    with pytest.raises(ValueError, match="labels"):
        colorize(np.zeros((2, 2), np.int64), lut)
    with pytest.raises(ValueError, match="labels"):
        colorize(np.zeros((2, 2, 1), np.uint8), lut)
    with pytest.raises(ValueError, match="lut"):
        colorize(np.zeros((2, 2), np.uint8), lut[:255])


# --- overlay ------------------------------------------------------------------------------------


def test_overlay_blends_within_rounding_of_the_float_formula():
    rng = np.random.default_rng(2)
    image = rng.integers(0, 256, (6, 9, 3)).astype(np.uint8)
    color = rng.integers(0, 256, (6, 9, 3)).astype(np.uint8)
    for alpha in (0.25, 0.5, 0.6):
        expected = (1 - alpha) * image.astype(np.float64) + alpha * color
        out = overlay(image, color, alpha)
        assert out.dtype == np.uint8 and out.shape == image.shape
        assert np.abs(out - expected).max() <= 0.5 + 1e-3


def test_overlay_alpha_extremes_are_exact():
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (4, 5, 3)).astype(np.uint8)
    color = rng.integers(0, 256, (4, 5, 3)).astype(np.uint8)
    np.testing.assert_array_equal(overlay(image, color, 0.0), image)
    np.testing.assert_array_equal(overlay(image, color, 1.0), color)


def test_overlay_keeps_the_image_where_unlabelled():
    image = np.full((3, 4, 3), 200, np.uint8)
    color = np.full((3, 4, 3), 0, np.uint8)
    labels = np.zeros((3, 4), np.uint8)
    labels[1, 2] = UNLABELLED
    out = overlay(image, color, 0.5, labels)
    assert tuple(out[1, 2]) == (200, 200, 200)
    blended = np.ones((3, 4), bool)
    blended[1, 2] = False
    assert (out[blended] == 100).all()
    assert (image == 200).all()  # the input is untouched


@pytest.mark.parametrize(
    ("image_shape", "color_shape", "labels_shape", "alpha", "message"),
    [
        ((3, 4, 3), (3, 4, 3), None, 1.5, "alpha"),
        ((3, 4, 3), (3, 4, 3), None, -0.1, "alpha"),
        ((3, 4), (3, 4), None, 0.5, "image_rgb"),
        ((3, 4, 3), (4, 3, 3), None, 0.5, "color"),
        ((3, 4, 3), (3, 4, 3), (4, 3), 0.5, "labels shape"),
    ],
)
def test_overlay_rejects_bad_inputs(image_shape, color_shape, labels_shape, alpha, message):
    labels = None if labels_shape is None else np.zeros(labels_shape, np.uint8)
    with pytest.raises(ValueError, match=message):
        overlay(np.zeros(image_shape, np.uint8), np.zeros(color_shape, np.uint8), alpha, labels)


# --- confidence ---------------------------------------------------------------------------------


def test_confidence_to_mono8_rounds_and_clips():
    conf = np.array([[0.0, 1.0, 0.5, 0.2, 1 / 255 * 0.49, -0.3, 1.7, np.nan]], np.float32)
    # 0.5 * 255 = 127.5 rounds half-to-even to 128; 0.2 * 255 = 51.
    np.testing.assert_array_equal(confidence_to_mono8(conf), [[0, 255, 128, 51, 0, 0, 255, 0]])
    assert confidence_to_mono8(conf).dtype == np.uint8
    np.testing.assert_array_equal(
        confidence_to_mono8(conf.astype(np.float64))[:, :4], [[0, 255, 128, 51]]
    )


def test_confidence_to_mono8_rejects_integers():
    with pytest.raises(ValueError, match="float"):
        confidence_to_mono8(np.zeros((2, 2), np.uint8))


# --- occupancy ----------------------------------------------------------------------------------


def test_grid_bounds_split_as_rounded_linspace():
    # linspace(0, 7, 4) = 0, 2.33, 4.67, 7; linspace(0, 10, 5) = 0, 2.5, 5, 7.5, 10 (half to even).
    assert grid_bounds(7, 3).tolist() == [0, 2, 5, 7]
    assert grid_bounds(10, 4).tolist() == [0, 2, 5, 8, 10]
    assert grid_bounds(5, 5).tolist() == [0, 1, 2, 3, 4, 5]
    for size, cells in ((0, 1), (4, 5), (4, 0)):
        with pytest.raises(ValueError, match="grid"):
            grid_bounds(size, cells)


def naive_dominant(cell: np.ndarray) -> tuple[int, float]:
    counts = Counter(cell.ravel().tolist())
    best = max(counts.values())
    # lowest class id wins a tie, and any class beats UNLABELLED (255 sorts last).
    winner = min(label for label, count in counts.items() if count == best)
    return winner, best / cell.size


def naive_summary(labels, confidence, num_classes, row_bounds, col_bounds):
    pixels = labels.size
    fraction = [np.count_nonzero(labels == k) / pixels for k in range(num_classes)]
    mean_conf = [
        float(confidence[labels == k].mean()) if (labels == k).any() else 0.0
        for k in range(num_classes)
    ]
    cells = [
        naive_dominant(labels[r0:r1, c0:c1])
        for r0, r1 in zip(row_bounds[:-1], row_bounds[1:])
        for c0, c1 in zip(col_bounds[:-1], col_bounds[1:])
    ]
    return fraction, mean_conf, np.count_nonzero(labels == UNLABELLED) / pixels, cells


@pytest.mark.parametrize(
    ("shape", "grid", "row_bounds", "col_bounds"),
    [
        ((7, 10), (3, 4), [0, 2, 5, 7], [0, 2, 5, 8, 10]),
        ((37, 53), (5, 7), None, None),
        ((6, 6), (1, 1), [0, 6], [0, 6]),
    ],
)
def test_summarize_occupancy_matches_naive_loops(shape, grid, row_bounds, col_bounds):
    rng = np.random.default_rng(4)
    num_classes = 5
    labels = random_labels(
        rng, shape, num_classes - 1, unlabelled_share=0.3
    )  # class 4 stays absent
    confidence = rng.random(shape, dtype=np.float32)
    row_bounds = row_bounds or [round(i * shape[0] / grid[0]) for i in range(grid[0] + 1)]
    col_bounds = col_bounds or [round(i * shape[1] / grid[1]) for i in range(grid[1] + 1)]

    summary = summarize_occupancy(
        labels, confidence, num_classes=num_classes, grid_rows=grid[0], grid_cols=grid[1]
    )
    fraction, mean_conf, unlabelled, cells = naive_summary(
        labels, confidence, num_classes, row_bounds, col_bounds
    )

    assert (summary.height, summary.width, summary.grid_rows, summary.grid_cols) == (*shape, *grid)
    assert summary.pixel_fraction.dtype == np.float32 and summary.pixel_fraction.shape == (
        num_classes,
    )
    np.testing.assert_allclose(summary.pixel_fraction, fraction, rtol=1e-6)
    np.testing.assert_allclose(summary.mean_confidence, mean_conf, rtol=1e-5)
    assert summary.mean_confidence[4] == 0.0
    assert summary.unlabelled_fraction == pytest.approx(unlabelled)
    assert summary.pixel_fraction.sum() + summary.unlabelled_fraction == pytest.approx(
        1.0, abs=1e-6
    )
    assert summary.grid_class.dtype == np.uint8 and summary.grid_share.dtype == np.float32
    assert summary.grid_class.tolist() == [label for label, _ in cells]
    np.testing.assert_allclose(summary.grid_share, [share for _, share in cells], rtol=1e-6)
    assert math.isnan(summary.stability)


def test_grid_ties_and_mostly_unlabelled_cells():
    # One row, three cells of four pixels each (bounds 0, 4, 8, 12).
    labels = np.array([[2, 2, 1, 1, 3, 3, 255, 255, 255, 255, 255, 0]], np.uint8)
    summary = summarize_occupancy(
        labels, np.ones(labels.shape, np.float32), num_classes=4, grid_rows=1, grid_cols=3
    )
    assert summary.grid_class.tolist() == [
        1,
        3,
        UNLABELLED,
    ]  # lower id wins; class beats 255 on a tie
    np.testing.assert_allclose(summary.grid_share, [0.5, 0.5, 0.75])


def test_stability_compares_with_previous_labels():
    labels = np.zeros((4, 5), np.uint8)
    previous = labels.copy()
    previous[0, :3] = 1
    previous[3, 4] = UNLABELLED
    conf = np.ones((4, 5), np.float32)
    kwargs = dict(num_classes=2, grid_rows=2, grid_cols=2)
    assert summarize_occupancy(
        labels, conf, previous_labels=previous, **kwargs
    ).stability == pytest.approx(16 / 20)
    assert summarize_occupancy(labels, conf, previous_labels=labels, **kwargs).stability == 1.0
    assert math.isnan(
        summarize_occupancy(
            labels, conf, previous_labels=np.zeros((5, 4), np.uint8), **kwargs
        ).stability
    )


def test_summary_is_immutable():
    summary = summarize_occupancy(
        np.zeros((4, 4), np.uint8),
        np.ones((4, 4), np.float32),
        num_classes=2,
        grid_rows=2,
        grid_cols=2,
    )
    with pytest.raises(ValueError):
        summary.pixel_fraction[0] = 0.5
    with pytest.raises(AttributeError):
        summary.stability = 1.0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("labels", "conf_shape", "kwargs", "message"),
    [
        (np.array([[0, 7], [1, 254]], np.uint8), (2, 2), dict(num_classes=2), r"ids \[7, 254\]"),
        (np.zeros((2, 2), np.uint8), (2, 3), dict(num_classes=2), "confidence shape"),
        (np.zeros((2, 2), np.uint8), (2, 2), dict(num_classes=0), "num_classes"),
        (np.zeros((2, 2), np.uint8), (2, 2), dict(num_classes=256), "num_classes"),
        (np.zeros((2, 2), np.uint8), (2, 2), dict(num_classes=2, grid_rows=3), "grid of 3 cells"),
        (np.zeros((2, 2), np.int32), (2, 2), dict(num_classes=2), "labels must be"),
    ],
)
def test_summarize_occupancy_rejects_bad_inputs(labels, conf_shape, kwargs, message):
    kwargs = {"grid_rows": 1, "grid_cols": 1, **kwargs}
    with pytest.raises(ValueError, match=message):
        summarize_occupancy(labels, np.ones(conf_shape, np.float32), **kwargs)


def test_postprocess_imports_only_numpy_and_opencv():
    """t2g_core never imports ROS; this module needs nothing beyond numpy, cv2 and the stdlib."""
    source = Path(__file__).resolve().parents[2] / "t2g_core" / "postprocess.py"
    imported = set()
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or "").split(".")[0])
    assert imported <= {"__future__", "collections", "dataclasses", "functools", "cv2", "numpy"}, (
        imported
    )
