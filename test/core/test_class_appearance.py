"""Class-wise appearance randomisation: seeded, texture-keeping, looks that do what they say, void kept."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest

from t2g_core.data.class_appearance import (
    CLASS_NAMES,
    LOOKS,
    ClassAppearanceConfig,
    recolour_by_class,
)
from t2g_core.labels import LabelSet

REPO = Path(__file__).resolve().parents[2]

SKY, BUILDING, POLE, ROAD, PAVEMENT, TREE = 0, 1, 2, 3, 4, 5
VOID = 11
ALL_ON = ClassAppearanceConfig(
    prob=1.0,
    sky_prob=1.0,
    road_prob=1.0,
    vegetation_prob=1.0,
    structure_prob=1.0,
    car_prob=1.0,
    pavement_prob=1.0,
    minor_prob=1.0,
    glare_prob=0.0,
)


def _scene(height=96, width=128, seed=0):
    """A street-like view with per-pixel texture: white-grey sky on top, then building | tree | void,
    then road | pavement, each a flat colour plus Gaussian noise (std 12); void is random colours (some
    do not survive an RGB -> Lab -> RGB round trip, so untouched pixels must be copied, not converted)."""
    labels = np.full((height, width), VOID, np.uint8)
    third = height // 3
    labels[:third] = SKY
    labels[third : 2 * third, : width // 3] = BUILDING
    labels[third : 2 * third, width // 3 : 2 * width // 3] = TREE
    labels[2 * third :, : 3 * width // 4] = ROAD
    labels[2 * third :, 3 * width // 4 :] = PAVEMENT
    colours = {SKY: (215, 218, 222), BUILDING: (150, 110, 90), TREE: (60, 90, 50)}
    colours |= {ROAD: (95, 95, 100), PAVEMENT: (140, 138, 135)}
    rng = np.random.default_rng(seed)
    image = rng.uniform(0, 255, size=(height, width, 3)).astype(np.float32)
    for class_id, colour in colours.items():
        image[labels == class_id] = colour
    image += rng.normal(0.0, 12.0, size=(height, width, 1))
    return np.clip(image, 0, 255).round().astype(np.uint8), labels


def _lightness(image):
    return cv2.cvtColor(image.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)[..., 0]


def _interior(labels, class_id, margin=8):
    """Pixels of ``class_id`` at least ``margin`` px from any other label (beyond the feathering)."""
    mask = (labels == class_id).astype(np.uint8)
    return cv2.erode(mask, np.ones((2 * margin + 1, 2 * margin + 1), np.uint8)).astype(bool)


def _recolour(image, labels, seed=0, cfg=ALL_ON, **looks):
    return recolour_by_class(image, labels, np.random.default_rng(seed), cfg, looks=looks)


def test_seed_reproduces_the_draw_and_seeds_differ():
    image, labels = _scene()
    cfg = ClassAppearanceConfig(prob=1.0, glare_prob=0.5)
    first = recolour_by_class(image, labels, np.random.default_rng(3), cfg)
    again = recolour_by_class(image, labels, np.random.default_rng(3), cfg)
    np.testing.assert_array_equal(first, again)
    others = [recolour_by_class(image, labels, np.random.default_rng(s), cfg) for s in range(4, 8)]
    assert any(not np.array_equal(first, other) for other in others)


def test_shape_dtype_and_inputs_untouched():
    image, labels = _scene()
    image_before, labels_before = image.copy(), labels.copy()
    out = _recolour(image, labels, sky="sunset")
    assert out.shape == image.shape and out.dtype == np.uint8
    assert not np.shares_memory(out, image)
    np.testing.assert_array_equal(image, image_before)
    np.testing.assert_array_equal(labels, labels_before)


def test_prob_zero_returns_the_image_unchanged():
    image, labels = _scene()
    cfg = dataclasses.replace(ALL_ON, prob=0.0, glare_prob=1.0)
    for seed in range(5):
        out = _recolour(image, labels, seed=seed, cfg=cfg)
        np.testing.assert_array_equal(out, image)
        assert out is not image


def test_void_and_classes_kept_are_bit_identical_away_from_changed_neighbours():
    image, labels = _scene()
    cfg = dataclasses.replace(ALL_ON, pavement_prob=0.0)
    for seed in range(3):
        out = _recolour(image, labels, seed=seed, cfg=cfg)
        for kept in (VOID, PAVEMENT):
            inside = _interior(labels, kept)
            assert inside.sum() > 50
            np.testing.assert_array_equal(out[inside], image[inside])
        for changed in (SKY, ROAD):
            inside = _interior(labels, changed)
            assert np.abs(out[inside].astype(int) - image[inside]).mean() > 3.0


@pytest.mark.parametrize(
    ("name", "look"), [(name, look) for name in CLASS_NAMES for look in LOOKS[name]]
)
def test_every_look_keeps_high_frequency_luminance_texture(name, look):
    """A class-filled textured image: the Laplacian of the lightness before and after correlates > 0.9."""
    rng = np.random.default_rng(1)
    base = (200, 204, 210) if name == "sky" else (120, 118, 115)
    image = np.clip(np.add(base, rng.normal(0.0, 12.0, size=(64, 80, 1))), 0, 255).astype(np.uint8)
    labels = np.full(image.shape[:2], CLASS_NAMES.index(name), np.uint8)
    out = _recolour(image, labels, **{name: look})
    assert np.abs(out.astype(int) - image).mean() > 1.0, "the look changed nothing"
    before, after = (cv2.Laplacian(_lightness(im), cv2.CV_32F)[2:-2, 2:-2] for im in (image, out))
    assert np.corrcoef(before.ravel(), after.ravel())[0, 1] > 0.9


def test_clear_blue_sky_is_blue():
    image, labels = _scene()
    sky = labels == SKY
    for seed in range(5):
        out = _recolour(image, labels, seed=seed, sky="clear_blue").astype(int)
        blue_minus_red = out[sky][:, 2] - out[sky][:, 0]
        assert (blue_minus_red > 0).mean() > 0.98
        assert blue_minus_red.mean() > 30


def test_concrete_road_is_brighter_than_fresh_asphalt():
    image, labels = _scene()
    road = _interior(labels, ROAD)
    for seed in range(5):
        concrete = _lightness(_recolour(image, labels, seed=seed, road="concrete"))[road].mean()
        asphalt = _lightness(_recolour(image, labels, seed=seed, road="fresh_asphalt"))[road].mean()
        assert concrete > asphalt + 30


def test_looks_follow_the_exposure_of_the_view():
    image, labels = _scene()
    dark = (
        (image * 0.2).round().astype(np.uint8)
    )  # a dusk-like, underexposed view of the same scene
    road = _interior(labels, ROAD)
    for seed in range(3):
        normal = _lightness(_recolour(image, labels, seed=seed, road="concrete"))[road].mean()
        dim = _lightness(_recolour(dark, labels, seed=seed, road="concrete"))[road].mean()
        assert dim < normal - 25  # a dark concrete road in a dark view, not a glowing one


@pytest.mark.parametrize("look", ["sunset", "dusk"])
def test_sunset_and_dusk_skies_are_warm_at_the_horizon_and_cool_above(look):
    image, labels = _scene()
    sky_rows = slice(0, int(np.nonzero(labels[:, 0] == SKY)[0].max()) + 1)
    out = _recolour(image, labels, sky=look).astype(float)[sky_rows]
    red_minus_blue = (out[..., 0] - out[..., 2]).mean(axis=1)  # per row, top to bottom
    assert red_minus_blue[-4:].mean() > 40  # warm (orange / pink) near the horizon
    assert red_minus_blue[:4].mean() < -20  # blue / purple at the top
    assert np.corrcoef(np.arange(len(red_minus_blue)), red_minus_blue)[0, 1] > 0.9


def test_wet_road_reflects_more_sky_towards_its_far_end():
    image, labels = _scene()
    road = _interior(labels, ROAD)
    rows = np.nonzero(road.any(axis=1))[0]
    out = _recolour(image, labels, sky="clear_blue", road="wet")
    lab = cv2.cvtColor(out.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    far, near = (lab[r][road[r]].mean(axis=0) for r in (rows[:4], rows[-4:]))
    assert far[0] > near[0] + 2  # lighter far away, where it mirrors the bright sky
    assert far[2] < near[2] - 1  # and bluer (Lab b lower)
    assert near[0] < _lightness(image)[road].mean() - 10  # darker than the dry road


def test_sky_seen_through_a_tree_crown_takes_the_new_sky():
    image, labels = _scene()
    gap = (
        slice(42, 50),
        slice(58, 66),
    )  # a sky-coloured hole in the tree crown, still labelled tree
    image[gap] = 215
    cfg = dataclasses.replace(ALL_ON, vegetation_prob=0.0)
    out = _recolour(image, labels, cfg=cfg, sky="deep_blue").astype(int)
    hole = out[gap].reshape(-1, 3)
    assert (hole[:, 2] - hole[:, 0]).mean() > 40  # blue like the new sky
    leaves = _interior(labels, TREE)
    leaves[gap] = False
    assert leaves.sum() > 200
    np.testing.assert_array_equal(out[leaves], image[leaves])  # the foliage kept its look


def test_class_edges_are_feathered():
    image = np.full((16, 40, 3), 128, np.uint8)
    labels = np.full((16, 40), ROAD, np.uint8)
    labels[:, 20:] = VOID
    row = {}
    for sigma in (0.0, 2.0):
        cfg = dataclasses.replace(ALL_ON, feather_sigma_px=sigma)
        row[sigma] = _recolour(image, labels, cfg=cfg, road="concrete")[8, :, 1].astype(int)
    assert np.count_nonzero(np.diff(row[0.0])) == 1  # a hard step at the label edge
    assert np.count_nonzero(np.diff(row[2.0])) >= 6  # a ramp over several pixels


def test_glare_brightens_the_sky_and_reaches_only_slightly_beyond_it():
    # A 16-row sky: the blob (radius >= 10 px) always comes near its lower edge.
    image, labels = _scene(height=48)
    cfg = ClassAppearanceConfig(
        prob=1.0,
        sky_prob=0.0,
        road_prob=0.0,
        vegetation_prob=0.0,
        structure_prob=0.0,
        car_prob=0.0,
        pavement_prob=0.0,
        minor_prob=0.0,
        glare_prob=1.0,
    )
    sky_bottom = int(np.nonzero(labels[:, 0] == SKY)[0].max())
    for seed in range(5):
        lightening = _lightness(_recolour(image, labels, seed=seed, cfg=cfg)) - _lightness(image)
        assert lightening[labels == SKY].max() > 5
        assert lightening[sky_bottom + 1].max() > 0.5  # just below the sky
        np.testing.assert_array_equal(lightening[sky_bottom + 12 :], 0.0)  # not further


@pytest.mark.parametrize(
    ("image", "labels", "looks"),
    [
        (np.zeros((8, 8, 3), np.float32), np.zeros((8, 8), np.uint8), None),  # float image
        (np.zeros((8, 8), np.uint8), np.zeros((8, 8), np.uint8), None),  # no channels
        (np.zeros((8, 8, 4), np.uint8), np.zeros((8, 8), np.uint8), None),  # RGBA
        (np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8), np.float32), None),  # float labels
        (np.zeros((8, 8, 3), np.uint8), np.zeros((8, 9), np.uint8), None),  # size mismatch
        (np.zeros((8, 8, 3), np.uint8), np.full((8, 8), 12, np.uint8), None),  # id above void
        (np.zeros((8, 8, 3), np.uint8), np.full((8, 8), -1, np.int32), None),  # negative id
        (np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8), np.uint8), {"void": "x"}),
        (np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8), np.uint8), {"sky": "purple_rain"}),
    ],
)
def test_invalid_input_raises_value_error(image, labels, looks):
    with pytest.raises(ValueError):
        recolour_by_class(image, labels, np.random.default_rng(0), ALL_ON, looks=looks)


@pytest.mark.parametrize(
    "change",
    [
        {"prob": 1.5},
        {"glare_prob": -0.1},
        {"feather_sigma_px": -1.0},
        {"luminance_gain_range": (1.2, 0.8)},
    ],
)
def test_invalid_config_raises_value_error(change):
    with pytest.raises(ValueError):
        ClassAppearanceConfig(**change)


def test_looks_name_every_class():
    camvid = LabelSet.from_yaml(REPO / "config" / "classes_camvid.yaml")
    assert CLASS_NAMES == tuple(camvid.names) and VOID == camvid.void_id
    assert tuple(LOOKS) == CLASS_NAMES
    assert set(LOOKS["sky"]) == {"clear_blue", "deep_blue", "overcast", "dusk", "sunset"}
    assert set(LOOKS["road"]) == {"fresh_asphalt", "worn_grey", "concrete", "wet"}
    assert set(LOOKS["tree"]) == {"green", "dry_yellow", "bare", "autumn_orange"}
