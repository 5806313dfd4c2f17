"""Ego-videos: determinism, shapes and times, new observations per frame, ego-motion, moving
objects, void."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from t2g_core.data.ego_video import EgoVideoConfig, moving_class_ids, render_ego_video
from t2g_core.labels import LabelSet
from t2g_core.resources import shipped_path

LABEL_SET = LabelSet.from_yaml(shipped_path("config", "classes_camvid.yaml"))
VOID = LABEL_SET.void_id
CAR = moving_class_ids(LABEL_SET, ("car",))[0]
ROAD = LABEL_SET.names.index("road")
SKY = LABEL_SET.names.index("sky")

# No camera motion and no jitter: what moves is pasted objects only.
STILL = dict(
    zoom_per_s=(0.0, 0.0),
    road_per_s=(0.0, 0.0),
    yaw_per_s=(0.0, 0.0),
    sway_amplitude=(0.0, 0.0),
    bob_amplitude=(0.0, 0.0),
    roll_amplitude_deg=(0.0, 0.0),
    jitter_px=0.0,
)


def _scene(height=72, width=160, seed=0):
    """Labels: sky above 40 % of the height, road below, one car box on the road. The image is a
    mild texture on flat class colours, the car a saturated red, so a pasted car shows in pixels."""
    rng = np.random.default_rng(seed)
    labels = np.full((height, width), ROAD, dtype=np.uint8)
    labels[: int(0.4 * height)] = SKY
    labels[int(0.6 * height) : int(0.6 * height) + 10, 60:76] = CAR
    colours = np.zeros((256, 3), dtype=np.int16)
    colours[[SKY, ROAD, CAR]] = [(150, 170, 200), (90, 90, 100), (220, 20, 20)]
    texture = rng.integers(-20, 21, size=(height, width, 3))
    image = np.clip(colours[labels] + texture, 0, 255).astype(np.uint8)
    return image, labels


def _render(seed, config, *, scene=None):
    image, labels = _scene() if scene is None else scene
    return render_ego_video(
        image, labels, rng=np.random.default_rng(seed), config=config, void_id=VOID
    )


def test_same_seed_same_video_other_seed_other_video():
    config = EgoVideoConfig()
    first, again, other = _render(3, config), _render(3, config), _render(4, config)
    np.testing.assert_array_equal(first.frames, again.frames)
    np.testing.assert_array_equal(first.labels, again.labels)
    np.testing.assert_array_equal(first.times_s, again.times_s)
    assert not np.array_equal(first.frames, other.frames)


def test_shapes_dtypes_times_and_fps():
    config = EgoVideoConfig(fps_range=(8.0, 12.0), gap_jitter=0.1)
    for seed in range(4):
        video = _render(seed, config)
        assert video.frames.shape == (16, 72, 160, 3) and video.frames.dtype == np.uint8
        assert video.labels.shape == (16, 72, 160) and video.labels.dtype == np.uint8
        assert video.times_s.dtype == np.float64 and video.times_s[0] == 0.0
        assert np.all(np.diff(video.times_s) > 0)
        assert 8.0 <= video.fps <= 12.0
        gaps = np.diff(video.times_s) * video.fps
        assert np.all((gaps >= 0.9 - 1e-9) & (gaps <= 1.1 + 1e-9))
        assert video.homographies.shape == (16, 3, 3)


def test_labelled_frame_is_not_always_the_last():
    indices = {_render(seed, EgoVideoConfig(length=16)).label_index for seed in range(12)}
    assert len(indices) > 3


def test_every_frame_is_a_new_observation_even_without_motion():
    video = _render(0, EgoVideoConfig(objects_range=(0, 0), **STILL))
    for t in range(1, len(video.frames)):
        changed = np.mean(video.frames[t] != video.frames[t - 1])
        assert changed > 0.1, f"frame {t} repeats frame {t - 1} ({changed:.2f} of values changed)"
    # ...while the labels of a still camera never change.
    assert (video.labels == video.labels[0]).all()


def test_consecutive_labels_mostly_agree_but_move():
    config = EgoVideoConfig(fps_range=(10.0, 10.0), zoom_per_s=(0.3, 0.3), road_per_s=(0.2, 0.2))
    video = _render(1, config)
    for t in range(1, len(video.labels)):
        prev, cur = video.labels[t - 1], video.labels[t]
        both = (prev != VOID) & (cur != VOID)
        agree = np.mean(prev[both] == cur[both])
        assert 0.8 < agree < 1.0, f"frames {t - 1}->{t}: {agree:.3f} of labels agree"


def test_road_plane_is_a_homography_expanding_the_bottom_faster_than_the_horizon():
    config = EgoVideoConfig(**{**STILL, "road_per_s": (0.3, 0.3)}, fps_range=(10.0, 10.0))
    video = _render(2, config, scene=_scene(height=360, width=480))
    dt = video.times_s - video.times_s[video.label_index]
    far = int(np.argmax(np.abs(dt)))
    homography = video.homographies[far]
    assert abs(homography[2, 1]) > 1e-6  # a perspective row: not an affine map

    def log_scale(y):
        ends = np.array([[100.0, y, 1.0], [380.0, y, 1.0]]) @ homography.T
        return np.log(abs(ends[1, 0] / ends[1, 2] - ends[0, 0] / ends[0, 2]) / 280.0)

    # Driving forward (dt > 0) the bottom row grows more than a row just below the horizon; in the
    # past (dt < 0) it was smaller.
    assert np.sign(dt[far]) * (log_scale(359.0) - log_scale(0.46 * 359)) > 0.1


def test_pasted_object_moves_on_its_own():
    config = EgoVideoConfig(
        objects_range=(1, 1),
        object_offset=(0.2, 0.2),
        object_speed=(0.15, 0.15),
        fps_range=(15.0, 15.0),
        gap_jitter=0.0,
        **STILL,
    )
    image, labels = _scene()
    video = _render(5, config, scene=(image, labels))
    centres = [np.argwhere(frame == CAR)[:, 1].mean() for frame in video.labels]
    travel = abs(centres[-1] - centres[0])
    copy_travel = 0.15 * 160 * video.times_s[-1]  # the original car stays put, its copy moves
    assert travel > 0.25 * copy_travel, f"car moved {travel:.1f} px, its copy {copy_travel:.1f}"
    # The background did not move: away from both cars, labels stay the source labels.
    untouched = (labels != CAR) & np.all(video.labels != CAR, axis=0)
    assert untouched.mean() > 0.5
    assert (video.labels[:, untouched] == labels[untouched]).all()
    # The moving copy occludes the road in the image too, not only in the labels.
    first_only = (video.labels[0] == CAR) & (labels == ROAD)
    assert first_only.sum() > 20
    red_excess = video.frames[0][..., 0].astype(int) - video.frames[0][..., 2]
    assert red_excess[first_only].mean() > 100


def test_no_source_is_void_in_labels_and_reflected_in_the_image():
    config = EgoVideoConfig(
        length=6,
        fps_range=(2.0, 2.0),
        gap_jitter=0.0,
        objects_range=(0, 0),
        **{**STILL, "zoom_per_s": (0.5, 0.5)},
    )
    seed = next(s for s in range(50) if _render(s, config).label_index >= 2)
    video = _render(seed, config)
    for t in range(len(video.frames)):
        corner_void = video.labels[t, 0, 0] == VOID
        assert corner_void == (t < video.label_index), f"frame {t}, label at {video.label_index}"
        assert (video.labels[t] == VOID).any() == (t < video.label_index)
    earliest = video.frames[0][video.labels[0] == VOID]
    assert earliest.mean() > 20  # reflect-padded, not black


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("length", 1),
        ("fps_range", (10.0, 5.0)),
        ("gap_jitter", 0.6),
        ("jitter_px", 1.0),
        ("road_per_s", (0.0, 0.9)),
        ("jpeg_quality", (60, 101)),
        ("vanishing_y_range", (0.4, 0.7)),
        ("objects_range", (2, 1)),
        ("noise_std", (-1.0, 1.0)),
        ("object_ids", (300,)),
    ],
)
def test_config_validation_names_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        dataclasses.replace(EgoVideoConfig(), **{field: value})


def test_default_object_ids_come_from_the_label_file():
    assert EgoVideoConfig().object_ids == moving_class_ids(LABEL_SET)
    assert set(EgoVideoConfig().object_ids) == {
        LABEL_SET.names.index(n) for n in ("car", "pedestrian", "bicyclist")
    }
