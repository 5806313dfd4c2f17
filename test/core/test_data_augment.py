"""Clip augmentations: one draw per clip, labels aligned and nearest-neighbour, padding void, seeded."""

from __future__ import annotations

import numpy as np
import pytest

from t2g_core.data.augment import AugmentConfig, augment_clip

VOID = 11
WEATHER = ("night", "haze", "rain", "snow", "frost")
NO_WEATHER = {f"{name}_prob": 0.0 for name in WEATHER}
NO_PHOTOMETRY = dict(
    photometric_prob=0.0,
    tone_curve_prob=0.0,
    grayscale_prob=0.0,
    blur_prob=0.0,
    noise_prob=0.0,
    **NO_WEATHER,
)


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
        scale_range=(1.0, 1.0),
        hflip_prob=0.0,
        photometric_prob=1.0,
        tone_curve_prob=1.0,
        grayscale_prob=1.0,
        blur_prob=1.0,
        noise_prob=0.0,
        **NO_WEATHER,
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
        noise_std_max=8.0,
        **{**NO_PHOTOMETRY, "noise_prob": 1.0},
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


def test_doubling_crops_without_padding_and_stays_aligned():
    frames, labels = _block_clip()
    config = AugmentConfig(scale_range=(2.0, 2.0), crop_size=(48, 64), **NO_PHOTOMETRY)
    for seed in range(3):
        out_frames, out_labels = augment_clip(
            frames, labels, rng=np.random.default_rng(seed), config=config, void_id=VOID
        )
        assert out_labels.shape == (3, 48, 64)
        # Blocks become 16x16: a 48x64 window of a 2x frame holds no padding, so no void appears.
        assert not (out_labels == VOID).any()
        agree = np.abs(out_frames[0][..., 0].astype(int) - 20 * out_labels[0].astype(int)) <= 1
        assert agree[_block_interior(out_labels[0])].mean() > 0.99


def _textured_clip(frames):
    """Identical frames of a smooth gradient with squares (so contrast and colour changes are visible)."""
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[0:72, 0:96]
    image = np.stack([xx * 2, yy * 3, (xx + yy) % 200 + 30], axis=-1).astype(np.uint8)
    for _ in range(6):
        y, x = rng.integers(0, 60), rng.integers(0, 84)
        image[y : y + 12, x : x + 12] = rng.integers(0, 256, size=3)
    labels = (yy // 12 + xx // 24).astype(np.uint8) % VOID
    return np.repeat(image[None], frames, axis=0), np.repeat(labels[None], frames, axis=0)


@pytest.mark.parametrize("name", WEATHER)
def test_each_weather_changes_pixels_not_labels_and_static_parts_hold_over_a_long_clip(name):
    # 11 frames: more than one processing chunk, so the per-clip draws must survive the chunking.
    frames, labels = _textured_clip(11)
    config = AugmentConfig(
        scale_range=(1.0, 1.0),
        hflip_prob=0.0,
        **{**NO_PHOTOMETRY, f"{name}_prob": 1.0, f"{name}_severity": (0.8, 0.8)},
    )
    out_frames, out_labels = augment_clip(
        frames, labels, rng=np.random.default_rng(8), config=config, void_id=VOID
    )
    assert out_frames.dtype == np.uint8 and out_frames.shape == frames.shape
    np.testing.assert_array_equal(out_labels, labels)
    assert np.abs(out_frames.astype(int) - frames).mean() > 3
    if name in ("haze", "frost"):  # scene/lens effects: identical input frames stay identical
        for t in range(1, 11):
            np.testing.assert_array_equal(out_frames[t], out_frames[0])
    else:  # moving particles / sensor noise differ per frame, the static part does not
        assert not np.array_equal(out_frames[1], out_frames[0])
        first, last = out_frames[0].astype(float), out_frames[10].astype(float)
        assert abs(first.mean() - last.mean()) < 0.1 * np.abs(first - frames[0]).mean() + 2


def test_all_effects_together_are_seeded():
    frames, labels = _textured_clip(4)
    config = AugmentConfig(
        crop_size=(64, 80),
        photometric_prob=1.0,
        tone_curve_prob=1.0,
        grayscale_prob=1.0,
        blur_prob=1.0,
        noise_prob=1.0,
        **{f"{name}_prob": 1.0 for name in WEATHER},
    )
    first = augment_clip(frames, labels, rng=np.random.default_rng(9), config=config, void_id=VOID)
    again = augment_clip(frames, labels, rng=np.random.default_rng(9), config=config, void_id=VOID)
    other = augment_clip(frames, labels, rng=np.random.default_rng(10), config=config, void_id=VOID)
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.array_equal(first[0], other[0])
    assert first[0].shape == (4, 64, 80, 3) and first[0].dtype == np.uint8


def test_a_coin_flip_leaves_the_other_draws_alone():
    # An identity tone curve (strength 0) switched on or off must leave the haze and noise drawn by the
    # same seed unchanged: every parameter is drawn whatever the coins say.
    frames, labels = _textured_clip(3)
    base = {**NO_PHOTOMETRY, "haze_prob": 1.0, "noise_prob": 1.0, "tone_curve_strength": 0.0}
    on = AugmentConfig(crop_size=(64, 80), **{**base, "tone_curve_prob": 1.0})
    off = AugmentConfig(crop_size=(64, 80), **base)
    out_on, _ = augment_clip(frames, labels, rng=np.random.default_rng(3), config=on, void_id=VOID)
    out_off, _ = augment_clip(
        frames, labels, rng=np.random.default_rng(3), config=off, void_id=VOID
    )
    assert np.abs(out_on.astype(int) - out_off).max() <= 1


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"snow_prob": 1.2}, "snow_prob"),
        ({"haze_severity": (0.5, 1.5)}, "haze_severity"),
        ({"rain_severity": (0.8, 0.2)}, "rain_severity"),
        ({"white_balance": 1.0}, "white_balance"),
        ({"tone_curve_strength": 0.5}, "tone_curve_strength"),
        ({"grayscale_prob": -0.1}, "grayscale_prob"),
    ],
)
def test_new_ranges_are_validated(kwargs, match):
    with pytest.raises(ValueError, match=match):
        AugmentConfig(**kwargs)
