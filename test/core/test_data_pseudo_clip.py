"""Pseudo-clips: warps that can be checked by hand, void where no source, times, pairs ending at one frame."""

from __future__ import annotations

import numpy as np
import pytest

from t2g_core.data.pseudo_clip import (
    CameraMotion,
    MotionRange,
    render_pseudo_clip,
    sample_motion,
    sample_times,
)

VOID = 11


def _scene(height=40, width=60, seed=0):
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    labels = rng.integers(0, VOID, size=(height, width)).astype(np.uint8)
    return image, labels


def _random_clip(image, labels, *, seed: int, clip_len: int):
    """A clip as the feature bank draws one: random video-like times and motion, ending on the input."""
    rng = np.random.default_rng(seed)
    times = sample_times(rng, clip_len=clip_len, gap_s=1 / 15, gap_jitter=0.2)
    motion = sample_motion(rng, MotionRange())
    return render_pseudo_clip(
        image, labels, motion=motion, times_s=times, target_index=-1, void_id=VOID
    )


def test_translation_moves_pixels_by_hand_computed_amount():
    image, labels = _scene(height=20, width=100)
    # 0.1 widths per second for 1 s before the target: the earlier frame sees the scene 10 px to the left.
    motion = CameraMotion(
        zoom_per_s=0.0, shift_x_per_s=0.1, shift_y_per_s=0.0, rotation_deg_per_s=0.0
    )
    clip = render_pseudo_clip(
        image, labels, motion=motion, times_s=np.array([0.0, 1.0]), void_id=VOID
    )
    np.testing.assert_array_equal(clip.frames[0][:, :90], image[:, 10:])
    np.testing.assert_array_equal(clip.labels[0][:, :90], labels[:, 10:])
    assert clip.valid[0][:, :90].all() and not clip.valid[0][:, 90:].any()
    assert (clip.labels[0][:, 90:] == VOID).all() and (clip.frames[0][:, 90:] == 0).all()
    np.testing.assert_allclose(clip.affines[0], [[1, 0, -10], [0, 1, 0]], atol=1e-9)


def test_zoom_out_leaves_a_void_border():
    image, labels = _scene(height=40, width=40)
    # Scale exp(ln 2 * -1) = 1/2 one second before the target: the scene fills the central 20x20.
    motion = CameraMotion(
        zoom_per_s=np.log(2.0), shift_x_per_s=0.0, shift_y_per_s=0.0, rotation_deg_per_s=0.0
    )
    clip = render_pseudo_clip(
        image, labels, motion=motion, times_s=np.array([0.0, 1.0]), void_id=VOID
    )
    assert 18 * 18 <= clip.valid[0].sum() <= 22 * 22
    assert clip.valid[0][10:30, 10:30].mean() > 0.9
    assert not clip.valid[0][:8].any() and not clip.valid[0][:, 32:].any()
    np.testing.assert_array_equal(
        clip.labels[0] == VOID, ~clip.valid[0]
    )  # the base frame has no void


def test_target_frame_is_the_input_and_labels_keep_their_ids():
    image, labels = _scene()
    labels = labels.astype(np.int64)
    clip = _random_clip(image, labels, seed=1, clip_len=5)
    assert clip.frames.shape == (5, 40, 60, 3) and clip.frames.dtype == np.uint8
    assert clip.labels.shape == (5, 40, 60) and clip.labels.dtype == np.int64
    assert clip.valid.shape == (5, 40, 60) and clip.affines.shape == (5, 2, 3)
    assert clip.target_index == 4
    np.testing.assert_array_equal(clip.frames[-1], image)
    np.testing.assert_array_equal(clip.labels[-1], labels)
    np.testing.assert_allclose(clip.affines[-1], [[1, 0, 0], [0, 1, 0]], atol=1e-12)
    # Nearest-neighbour labels: no new ids appear, only void.
    assert set(np.unique(clip.labels)) <= set(np.unique(labels)) | {VOID}


def test_unlabelled_frame_gives_validity_only():
    image, _ = _scene()
    clip = _random_clip(image, None, seed=2, clip_len=3)
    assert clip.labels is None and clip.valid.dtype == bool and clip.valid[-1].all()


def test_times_are_video_like_with_bounded_jitter():
    rng = np.random.default_rng(3)
    times = sample_times(rng, clip_len=50, gap_s=1 / 15, gap_jitter=0.2, stride=2)
    assert times[0] == 0.0
    gaps = np.diff(times)
    assert np.all(gaps >= 2 / 15 * 0.8) and np.all(gaps <= 2 / 15 * 1.2)
    assert gaps.std() > 0  # jitter actually applied
    with pytest.raises(ValueError, match="gap_jitter"):
        sample_times(rng, clip_len=3, gap_s=0.1, gap_jitter=1.0)


def test_two_strides_of_one_motion_sample_one_camera_path():
    """The bank's pseudo-clips: two frame rates of the same motion see the same frame at the same time."""
    image, labels = _scene()
    motion = sample_motion(
        np.random.default_rng(5),
        MotionRange(zoom_per_s=1.0, shift_per_s=0.5, rotation_deg_per_s=10.0),
    )
    dense = render_pseudo_clip(
        image, labels, motion=motion, times_s=np.arange(4) / 15, void_id=VOID
    )
    sparse = render_pseudo_clip(
        image, labels, motion=motion, times_s=np.arange(4) * 2 / 15, void_id=VOID
    )
    # Both end on the target; 2/15 s before it are frame 1 of the stride-1 clip and frame 2 of the stride-2 one.
    np.testing.assert_allclose(dense.affines[1], sparse.affines[2], atol=1e-9)
    assert np.abs(dense.frames[1].astype(int) - sparse.frames[2]).max() <= 1
    assert (dense.labels[1] != sparse.labels[2]).mean() < 0.01
    assert not np.allclose(dense.affines[1], np.eye(2, 3))  # it did move


def test_reproducible_and_validated():
    image, labels = _scene()
    np.testing.assert_array_equal(
        _random_clip(image, labels, seed=6, clip_len=3).frames,
        _random_clip(image, labels, seed=6, clip_len=3).frames,
    )
    with pytest.raises(ValueError, match="uint8"):
        _random_clip(image.astype(np.float32), labels, seed=0, clip_len=3)
    with pytest.raises(ValueError, match="labels"):
        _random_clip(image, labels[:-1], seed=0, clip_len=3)
    with pytest.raises(ValueError, match="zoom_per_s"):
        MotionRange(zoom_per_s=-0.1)
