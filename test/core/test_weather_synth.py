"""Synthetic weather: seeded, shape-preserving, stronger with severity, never built on imagecorruptions."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from t2g_core.data.weather_synth import EFFECTS, smooth_noise


def _scene(frames=2, height=96, width=128):
    """Identical frames of a street-like scene: bright sky, textured middle, dark road, some edges."""
    rng = np.random.default_rng(0)
    image = np.zeros((height, width, 3), np.float32)
    image[: height // 3] = (170, 190, 220)
    image[height // 3 : 2 * height // 3] = rng.uniform(40, 220, size=(1, width, 3))
    image[2 * height // 3 :] = (70, 70, 75)
    image[height // 2 :, width // 4 : width // 4 + 6] = 240  # a pole / lane marking
    return np.repeat(image[None], frames, axis=0)


def _run(name, clip, severity, seed=1):
    return EFFECTS[name](
        clip.copy(),
        severity=severity,
        clip_rng=np.random.default_rng([seed, 0]),
        frame_rng=np.random.default_rng([seed, 1]),
    )


def _rms_contrast(clip):
    gray = np.clip(clip, 0, 255).mean(axis=-1)
    return float(gray.std())


@pytest.mark.parametrize("name", list(EFFECTS))
def test_seeded_shape_and_dtype(name):
    clip = _scene()
    first, again = _run(name, clip, 0.6), _run(name, clip, 0.6)
    assert first.shape == clip.shape and first.dtype == np.float32
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, _run(name, clip, 0.6, seed=2))
    assert np.isfinite(first).all()
    assert np.abs(first - clip).mean() > 2  # the effect does something


def test_haze_lowers_contrast_more_at_higher_severity():
    clip = _scene()
    contrasts = [_rms_contrast(_run("haze", clip, s)) for s in (0.0, 0.3, 0.6, 1.0)]
    assert contrasts[0] < _rms_contrast(clip)
    assert all(a > b for a, b in zip(contrasts, contrasts[1:])), contrasts


def test_night_darkens_more_at_higher_severity():
    clip = _scene()
    means = [float(np.clip(_run("night", clip, s), 0, 255).mean()) for s in (0.1, 0.5, 0.9)]
    assert means[0] < clip.mean() and means[0] > means[1] > means[2], means


@pytest.mark.parametrize("name", ["rain", "snow", "frost"])
def test_coverage_grows_with_severity(name):
    clip = _scene()
    changed = [
        float((np.abs(_run(name, clip, s) - clip).max(axis=-1) > 25).mean())
        for s in (0.2, 0.6, 1.0)
    ]
    assert changed[0] < changed[1] < changed[2], changed


def test_static_effects_equal_per_frame_moving_ones_differ():
    clip = _scene(frames=3)
    for name in ("haze", "frost"):
        out = _run(name, clip, 0.7)
        np.testing.assert_array_equal(out[2], out[0])
    for name in ("rain", "snow", "night"):
        out = _run(name, clip, 0.7)
        assert not np.array_equal(out[1], out[0])
        # The per-clip part (veil, darkening, tint) is shared: the typical pixel changes by ~0, only the
        # particles / zero-mean noise move.
        assert abs(float(np.median(out[1] - out[0]))) < 1


def test_clip_draws_do_not_depend_on_the_number_of_frames():
    # The caller processes long clips in chunks, restarting clip_rng: the scene must come out the same.
    clip = _scene(frames=3)
    for name in EFFECTS:
        whole = _run(name, clip, 0.5)
        alone = _run(name, clip[:1], 0.5)
        if name in ("haze", "frost"):
            np.testing.assert_array_equal(alone[0], whole[0])
        else:  # frame 0 uses the same frame draws too, as frame_rng starts at the same state
            np.testing.assert_allclose(alone[0], whole[0], atol=1e-3)


def test_smooth_noise_range_and_smoothness():
    field = smooth_noise(np.random.default_rng(0), height=60, width=80, cells=3, octaves=2)
    assert field.shape == (60, 80) and field.dtype == np.float32
    assert field.min() == 0.0 and field.max() == pytest.approx(1.0)
    # Low frequency: neighbouring pixels differ far less than the full range.
    assert np.abs(np.diff(field, axis=1)).max() < 0.2


def test_training_path_never_imports_imagecorruptions():
    # A None entry in sys.modules makes any `import imagecorruptions` raise ImportError.
    code = (
        "import sys; sys.modules['imagecorruptions'] = None\n"
        "import numpy as np\n"
        "import t2g_core.data.weather_synth, t2g_core.data.augment as a\n"
        "import t2g_core.training.feature_bank\n"
        "cfg = a.AugmentConfig(crop_size=(40, 48), night_prob=1, haze_prob=1, rain_prob=1,\n"
        "                      snow_prob=1, frost_prob=1, tone_curve_prob=1, grayscale_prob=1)\n"
        "f = np.zeros((2, 30, 40, 3), np.uint8)\n"
        "a.augment_clip(f, None, rng=np.random.default_rng(0), config=cfg, void_id=11)\n"
        "bad = [m for m in sys.modules if 'imagecorruptions' in m and sys.modules[m] is not None]\n"
        "assert not bad, bad\n"
        "print('clean')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "clean"
