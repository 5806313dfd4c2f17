"""The imagecorruptions 1.1.2 shim under numpy 2 / scikit-image >= 0.20."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from t2g_core.data.corruptions import WEATHER_CORRUPTIONS, _resource_filename, corrupt


def _image(height=72, width=96):
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([x * 255 // width, y * 255 // height, (x + y) % 256], axis=-1).astype(np.uint8)


@pytest.mark.parametrize("name", WEATHER_CORRUPTIONS)
def test_weather_corruptions_change_the_image(name):
    image = _image()
    out = corrupt(image, name, 3, seed=0)
    assert out.shape == image.shape and out.dtype == np.uint8
    assert np.abs(out.astype(int) - image).mean() > 1.0


def test_gaussian_blur_goes_through_the_multichannel_shim():
    image = _image()
    out = corrupt(image, "gaussian_blur", 3)
    assert out.shape == image.shape and out.dtype == np.uint8
    # Blurring a ramp keeps it close; blurring channels into each other (wrong channel axis) would not.
    assert 0 < np.abs(out.astype(int) - image).mean() < 20


def test_seed_reproduces_and_global_random_state_is_restored():
    image = _image()
    np.random.seed(123)
    expected_next = np.random.rand()
    np.random.seed(123)
    first = corrupt(image, "snow", 3, seed=7)
    assert np.random.rand() == expected_next
    np.testing.assert_array_equal(corrupt(image, "snow", 3, seed=7), first)
    assert not np.array_equal(corrupt(image, "snow", 3, seed=8), first)


def test_bad_arguments_name_the_value():
    image = _image()
    with pytest.raises(ValueError, match="'hail'"):
        corrupt(image, "hail", 3)
    with pytest.raises(ValueError, match="severity"):
        corrupt(image, "fog", 6)
    with pytest.raises(ValueError, match="uint8"):
        corrupt(image.astype(np.float32), "fog", 3)
    with pytest.raises(ValueError, match="32x32"):
        corrupt(image[:16], "fog", 3)


def test_resource_stand_in_finds_the_frost_textures():
    path = Path(_resource_filename("imagecorruptions.corruptions", "./frost/frost1.png"))
    assert path.is_file()
