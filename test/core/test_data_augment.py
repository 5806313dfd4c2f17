"""Clip augmentations: one draw per clip, labels aligned and nearest-neighbour, padding void, seeded."""

from __future__ import annotations

import numpy as np
import pytest

from t2g_core.data.augment import AugmentConfig, augment_clip

VOID = 11
NO_PHOTOMETRY = dict(photometric_prob=0.0, blur_prob=0.0, noise_prob=0.0)


def _block_clip(frames=3, height=48, width=64):
    """Labels in 8x8 blocks; the red channel encodes the label (20 * id), so alignment can be checked."""
    rng = np.random.default_rng(0)
    blocks = rng.integers(0, VOID, size=(height // 8, width // 8))
    labels = np.kron(blocks, np.ones((8, 8), dtype=np.int64)).astype(np.uint8)
    image = np.zeros((height, width, 3), dtype=np.uint8)
    image[..., 0] = 20 * labels
    image[..., 1] = rng.integers(0, 256, size=(height, width))
    return np.repeat(image[None], frames, axis=0), np.repeat(labels[None], frames, axis=0)


def _block_interior(labels):
    """True where a pixel's 3x3 neighbourhood has a single label (never on the border: its outside is unknown)."""
    padded = np.pad(labels.astype(np.int64), 1, constant_values=-1)
    height, width = labels.shape
    return np.all(
        [padded[dy : dy + height, dx : dx + width] == labels for dy in range(3) for dx in range(3)],
        axis=0,
    )


def test_flip_only_mirrors_frames_and_labels():
    frames, labels = _block_clip()
    config = AugmentConfig(scale_range=(1.0, 1.0), hflip_prob=1.0, **NO_PHOTOMETRY)
    out_frames, out_labels = augment_clip(
        frames, labels, rng=np.random.default_rng(1), config=config, void_id=VOID
    )
    np.testing.assert_array_equal(out_frames, frames[:, :, ::-1])
    np.testing.assert_array_equal(out_labels, labels[:, :, ::-1])


def test_geometry_is_shared_by_all_frames_and_labels_stay_aligned():
    frames, labels = _block_clip()
    config = AugmentConfig(scale_range=(1.3, 2.0), crop_size=(32, 40), **NO_PHOTOMETRY)
    for seed in range(5):
        out_frames, out_labels = augment_clip(
            frames, labels, rng=np.random.default_rng(seed), config=config, void_id=VOID
        )
        assert out_frames.shape == (3, 32, 40, 3) and out_labels.shape == (3, 32, 40)
        assert out_labels.dtype == np.uint8
        for t in (1, 2):  # identical input frames stay identical: one draw for the clip
            np.testing.assert_array_equal(out_frames[t], out_frames[0])
            np.testing.assert_array_equal(out_labels[t], out_labels[0])
        # Nearest-neighbour labels: no new ids. Alignment: inside label blocks (away from the edges that
        # bilinear resampling blurs) the red channel still says 20 * label; a 1 px shift breaks 5-10 % of them.
        assert set(np.unique(out_labels)) <= set(np.unique(labels))
        agree = np.abs(out_frames[0][..., 0].astype(int) - 20 * out_labels[0].astype(int)) <= 1
        assert agree[_block_interior(out_labels[0])].mean() > 0.99


def test_shrinking_pads_with_black_and_void():
    frames, labels = _block_clip(frames=2)
    config = AugmentConfig(scale_range=(0.5, 0.5), **NO_PHOTOMETRY)
    out_frames, out_labels = augment_clip(
        frames, labels, rng=np.random.default_rng(2), config=config, void_id=VOID
    )
    assert out_frames.shape == frames.shape
    # The 24x32 scaled frame sits somewhere inside 48x64; the rest is padding.
    assert (out_labels == VOID).sum() == 2 * (48 * 64 - 24 * 32)
    assert (out_frames[out_labels == VOID] == 0).all()


def test_photometry_is_per_clip_and_noise_per_frame():
    frames, labels = _block_clip()
    config = AugmentConfig(
        scale_range=(1.0, 1.0), hflip_prob=0.0, photometric_prob=1.0, blur_prob=1.0, noise_prob=0.0
    )
    out_frames, out_labels = augment_clip(
        frames, labels, rng=np.random.default_rng(3), config=config, void_id=VOID
    )
    np.testing.assert_array_equal(out_labels, labels)
    assert not np.array_equal(out_frames[0], frames[0])
    np.testing.assert_array_equal(out_frames[1], out_frames[0])
    noisy = AugmentConfig(
        scale_range=(1.0, 1.0),
        hflip_prob=0.0,
        photometric_prob=0.0,
        blur_prob=0.0,
        noise_prob=1.0,
        noise_std_max=8.0,
    )
    out_frames, _ = augment_clip(
        frames, labels, rng=np.random.default_rng(4), config=noisy, void_id=VOID
    )
    assert not np.array_equal(out_frames[1], out_frames[0])


def test_seeded_and_validated():
    frames, labels = _block_clip()
    config = AugmentConfig(crop_size=(40, 40))
    first = augment_clip(frames, labels, rng=np.random.default_rng(5), config=config, void_id=VOID)
    second = augment_clip(frames, labels, rng=np.random.default_rng(5), config=config, void_id=VOID)
    other = augment_clip(frames, labels, rng=np.random.default_rng(6), config=config, void_id=VOID)
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])
    assert not np.array_equal(first[0], other[0])
    frames_only, none_labels = augment_clip(
        frames, None, rng=np.random.default_rng(5), config=config, void_id=VOID
    )
    assert none_labels is None
    np.testing.assert_array_equal(frames_only, first[0])
    with pytest.raises(ValueError, match="scale_range"):
        AugmentConfig(scale_range=(2.0, 1.0))
    with pytest.raises(ValueError, match="hflip_prob"):
        AugmentConfig(hflip_prob=1.5)
    with pytest.raises(ValueError, match="uint8"):
        augment_clip(
            frames.astype(np.float32),
            labels,
            rng=np.random.default_rng(0),
            config=config,
            void_id=VOID,
        )
