"""The scorecard on tiny random checkpoints and synthetic data, its region scoring and its bootstrap."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from t2g_core.evaluation import bootstrap
from t2g_core.evaluation.real_road import (
    RegionTally,
    camera_frames,
    load_region_labels,
    region_masks,
)
from t2g_core.evaluation.release_gate import GATE_AXES
from t2g_core.evaluation.scorecard import merge_scorecards, run_scorecard
from t2g_core.evaluation.scorecard_config import load_scorecard_config, parse_pair
from t2g_core.evaluation.scorecard_report import write_scorecard

REPO = Path(__file__).resolve().parents[2]
CLASSES = {"sky": 0, "road": 3, "tree": 5, "car": 8}
REGIONS = {
    "format": "t2g coarse region labels v1",
    "classes": CLASSES,
    "clips": {
        "clip/clip.mp4": {
            "size": [192, 108],
            "frames": {
                "0": [
                    {"class": "sky", "polygon": [[0, 0], [191, 0], [191, 30], [0, 30]]},
                    {"class": "road", "polygon": [[0, 80], [191, 80], [191, 107], [0, 107]]},
                ],
                "5": [{"class": "tree", "polygon": [[10, 40], [40, 40], [40, 60], [10, 60]]}],
            },
        }
    },
}


@pytest.fixture(scope="module")
def data_with_regions(synthetic_data: Path) -> Path:
    regions = synthetic_data / "video" / "regions"
    regions.mkdir(exist_ok=True)
    (regions / "regions.json").write_text(json.dumps(REGIONS))
    return synthetic_data


@pytest.fixture(scope="module")
def small_config(data_with_regions: Path, tmp_path_factory):
    cfg = load_scorecard_config(REPO / "config" / "scorecard.yaml")
    return dataclasses.replace(
        cfg,
        data_root=str(data_with_regions),
        output_dir=str(tmp_path_factory.mktemp("scorecard")),
        threads=1,
        peer=None,
        bootstrap_samples=20,
        real_road=dataclasses.replace(cfg.real_road, strides=(1, 2), flicker_width=96),
        # The synthetic val run: 8 frames of 0016E5 at 15 Hz (conftest.VAL_FRAMES).
        camvid_val=dataclasses.replace(cfg.camvid_val, last_frame=7959 + 14, vc_window=3),
        weather=dataclasses.replace(cfg.weather, corruptions=("fog", "spatter")),
        ema=dataclasses.replace(cfg.ema, alphas=(0.5,), vc_window=3),
        speed=dataclasses.replace(cfg.speed, size=(48, 64), warmup_steps=1, steps=2, rounds=2),
    )


@pytest.fixture(scope="module")
def pairs(checkpoints, tmp_path_factory):
    perframe, t2g = checkpoints
    return [
        parse_pair(f"a={t2g},{perframe}"),
        parse_pair(f"b={t2g},{perframe}"),
    ]


@pytest.fixture(scope="module")
def card(small_config, pairs) -> dict:
    threads = torch.get_num_threads()
    try:
        return run_scorecard(small_config, pairs, say=lambda line: None)
    finally:
        torch.set_num_threads(threads)


def test_every_row_has_every_gate_axis_with_a_spread(card):
    assert set(card["rows"]) == {
        f"{p}/{r}" for p in ("a", "b") for r in ("t2g", "perframe", "perframe_ema")
    }
    wanted = {a.axis for a in GATE_AXES} | {"video_flicker.s1", "video_flicker.s2", "test.miou"}
    for key, row in card["rows"].items():
        missing = (wanted - {"video_flicker.s4", "video_flicker.s8"}) - set(row["axes"])
        assert not missing, (key, missing)
        for axis, entry in row["axes"].items():
            assert math.isfinite(entry["value"]), (key, axis)
            assert entry["std"] >= 0 or math.isnan(entry["std"]), (key, axis)
        for axis in ("road.mean", "road.sky_as_road", "val.miou", "test.miou", "val.flicker"):
            assert 0 <= row["axes"][axis]["value"] <= 1, (key, axis)
        assert row["axes"]["speed.step_ms"]["value"] > 0


def test_the_same_checkpoints_score_the_same_under_two_names(card):
    for role in ("t2g", "perframe"):
        a, b = card["rows"][f"a/{role}"]["axes"], card["rows"][f"b/{role}"]["axes"]
        for axis in a:
            if not axis.startswith("speed."):
                assert a[axis]["value"] == pytest.approx(b[axis]["value"]), (role, axis)


def test_ratios_are_t2g_over_perframe_and_over_ema(card):
    rows = card["rows"]
    t2g = rows["a/t2g"]["axes"]["video_flicker.s1"]["value"]
    perframe = rows["a/perframe"]["axes"]["video_flicker.s1"]["value"]
    expected = t2g / perframe if perframe else math.nan  # random tiny models may never flicker
    assert card["ratios"]["a"]["t2g_per_perframe.s1"] == pytest.approx(expected, nan_ok=True)


def test_files_are_written_and_the_picture_shows_each_row(card, small_config):
    card = dict(card)
    out = Path(small_config.output_dir)
    paths = write_scorecard(card, out)
    on_disk = json.loads(paths["json"].read_text())
    assert set(on_disk["rows"]) == set(card["rows"])
    markdown = paths["markdown"].read_text()
    for heading in ("## Real road", "## Real-video flicker", "## CamVid", "## Speed"):
        assert heading in markdown
    picture = cv2.imread(str(paths["picture"]))
    # Two labelled frames, each an input tile and one tile per row (6 rows), 256 px wide.
    assert picture.shape[1] == 256 * (1 + len(card["rows"]))
    assert picture.shape[0] > 2 * 100


def test_a_speed_part_merges_into_an_accuracy_part(small_config, pairs):
    quick = dataclasses.replace(small_config, camvid_val=small_config.camvid_val)
    speed = run_scorecard(quick, pairs[:1], parts=("speed",), say=lambda line: None)
    accuracy = run_scorecard(
        quick.quick_variant(), pairs[:1], parts=("accuracy",), say=lambda line: None
    )
    assert "speed.step_ms" not in accuracy["rows"]["a/t2g"]["axes"]
    assert set(speed["rows"]["a/t2g"]["axes"]) == {"speed.step_ms", "speed.ratio_to_backbone"}
    merged = merge_scorecards([accuracy, speed])
    axes = merged["rows"]["a/t2g"]["axes"]
    assert {"speed.step_ms", "road.mean", "video_flicker.s1"} <= set(axes)
    with pytest.raises(ValueError, match="same pairs"):
        merge_scorecards([accuracy, {**speed, "pairs": [{"name": "other"}]}])


def test_cards_of_different_pairs_join(card):
    """A candidate scored alone joins the scorecard that holds the baseline: pairs and rows are the
    union, a row scored twice takes the later card's axes."""

    def only(name):
        rows = {k: v for k, v in card["rows"].items() if k.startswith(f"{name}/")}
        pairs = [p for p in card["pairs"] if p["name"] == name]
        return {**card, "pairs": pairs, "rows": rows}

    a, b = only("a"), only("b")
    with pytest.raises(ValueError, match="same pairs"):
        merge_scorecards([a, b])
    joined = merge_scorecards([a, b], join=True)
    assert joined["pairs"] == card["pairs"] and set(joined["rows"]) == set(card["rows"])
    assert set(joined["ratios"]) == {"a", "b"}
    newer = {
        **b,
        "rows": {
            k: {**v, "axes": {"road.mean": {"value": 0.5, "std": 0.0}}}
            for k, v in b["rows"].items()
        },
    }
    untuned = {pair: {**t, "alpha": None} for pair, t in b["ema_tuning"].items()}
    rejoined = merge_scorecards([joined, {**newer, "ema_tuning": untuned}], join=True)
    assert rejoined["rows"]["b/t2g"]["axes"]["road.mean"]["value"] == 0.5
    # The joined card's two parts and the newer one are listed; no part's tuned alpha is hidden.
    assert len(rejoined["meta"]["parts_meta"]) == 3
    assert rejoined["ema_tuning"]["b"] == card["ema_tuning"]["b"]
    assert (
        rejoined["rows"]["b/t2g"]["axes"]["val.miou"] == card["rows"]["b/t2g"]["axes"]["val.miou"]
    )


def test_region_tally_counts_each_class_and_sky_called_road():
    masks = region_masks(load_region_labels_from(REGIONS).clips[0].frames[0], (192, 108))
    labels = np.full((108, 192), CLASSES["road"], np.uint8)
    labels[:10] = CLASSES["sky"]  # 10 of the 31 sky rows right, the other 21 called road
    tally = RegionTally(CLASSES)
    tally.add(labels, masks)
    scores = tally.scores()
    assert scores["sky"] == pytest.approx(10 / 31)
    assert scores["sky_as_road"] == pytest.approx(21 / 31)
    assert scores["road"] == 1.0
    assert scores["mean"] == pytest.approx((10 / 31 + 1.0) / 2)
    assert "tree" not in scores  # no tree region on that frame


def test_region_labels_reject_unknown_classes(tmp_path):
    bad = json.loads(json.dumps(REGIONS))
    bad["clips"]["clip/clip.mp4"]["frames"]["0"][0]["class"] = "lake"
    path = tmp_path / "regions.json"
    path.write_text(json.dumps(bad))
    with pytest.raises(ValueError, match="lake"):
        load_region_labels(path)


def test_camera_frames_are_jpeg_at_the_native_size(data_with_regions):
    path = data_with_regions / "video" / "clip" / "clip.mp4"
    high, low = (list(camera_frames(path, quality=q)) for q in (100, 10))
    assert high[0].shape == (108, 192, 3) and len(high) == len(low) > 1
    # Quality 10 loses detail that quality 100 keeps: the frames differ.
    assert np.abs(high[0].astype(int) - low[0].astype(int)).mean() > 1


def test_bootstrap_std_is_zero_for_identical_units_and_positive_otherwise():
    same = np.tile([[3, 10]], (50, 1))
    value, std = bootstrap.ratio_with_std(same, samples=50, seed=0)
    assert value == pytest.approx(0.3) and std == pytest.approx(0, abs=1e-12)
    varied = np.stack([np.arange(50), np.full(50, 100)], axis=1)
    value, std = bootstrap.ratio_with_std(varied, samples=50, seed=0)
    assert value == pytest.approx(np.arange(50).sum() / 5000) and std > 0
    assert math.isnan(bootstrap.mean_with_std(np.array([1.0]), samples=50, seed=0)[1])


def test_pair_specs_are_checked(tmp_path):
    with pytest.raises(ValueError, match="NAME=DIR"):
        parse_pair("no-equals-sign")
    with pytest.raises(ValueError, match="not found"):
        parse_pair(f"x={tmp_path}")


def load_region_labels_from(doc: dict):
    """``load_region_labels`` on an in-memory document."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "regions.json"
        path.write_text(json.dumps(doc))
        return load_region_labels(path)


def test_the_readme_block_is_regenerated_from_a_full_scorecard_only(card, tmp_path):
    from t2g_core.evaluation.scorecard_report import README_MARKERS, update_readme_scorecard

    paths = write_scorecard(dict(card), tmp_path / "sc")
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{README_MARKERS[0]}\nold\n{README_MARKERS[1]}\nrest\n")
    assert update_readme_scorecard(readme, paths["json"])
    text = readme.read_text()
    assert "old" not in text and text.startswith("intro\n") and text.endswith("rest\n")
    assert "#### Real road" in text and "| a t2g |" in text
    assert not update_readme_scorecard(readme, paths["json"])  # the same scorecard: unchanged
    quick = json.loads(paths["json"].read_text())
    quick["meta"]["quick"] = True
    paths["json"].write_text(json.dumps(quick))
    with pytest.raises(ValueError, match="--quick"):
        update_readme_scorecard(readme, paths["json"])


def test_the_precision_reaches_every_t2g_row_and_is_checked(small_config, pairs):
    from t2g_core.evaluation.scorecard import _Scorecard

    int8 = dataclasses.replace(small_config, precision="int8")
    scorecard = _Scorecard(int8, pairs[:1], say=lambda line: None)
    rows, _ = scorecard._rows(None, tune=False)
    assert {row.contender.precision for row in rows} == {"int8"}
    assert {
        row.contender.precision
        for row in _Scorecard(small_config, pairs[:1], say=lambda line: None)._rows(
            None, tune=False
        )[0]
    } == {"fp32"}
    with pytest.raises(ValueError, match="precision 'int4' is not available"):
        dataclasses.replace(small_config, precision="int4")
    with pytest.raises(ValueError, match="needs backend onnxruntime"):
        dataclasses.replace(small_config, backend="torch", precision="int8")
