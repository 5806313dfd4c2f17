"""scripts/jpeg_flicker.py (make jpeg-flicker): bags at two JPEG qualities, t2g-bag-eval on each,
a report whose ratios are its own flicker values divided; on a tiny random model and a short video."""

from __future__ import annotations

import hashlib
import json

import cv2
import jpeg_flicker  # scripts/ is on the test path (pytest.ini pythonpath)
import pytest
from tiny_models import REAL_BACKBONE, camvid_config, save_tiny_checkpoint

from t2g_ros.bags.io import open_reader

ROW_KEYS = {
    "clip",
    "quality",
    "frames",
    "size",
    "jpeg_bytes_per_frame",
    "flicker_t2g",
    "flicker_per_frame",
    "ratio_t2g_per_frame",
    "flicker_memory_1",
    "ratio_full_memory_1",
    "labels_changed_by_memory",
    "bag",
    "metrics",
}


def _random_checkpoint(folder, *, memory_length: int, seed: int):
    """Random weights; seeds 1 and 5 predict two classes that change on the road frames at memory 4
    and 1 (seed 0, the conftest's, predicts one class there), so every flicker below is above 0."""
    config = camvid_config(
        backbone=REAL_BACKBONE, input_size=(96, 128), memory_length=memory_length
    )
    return save_tiny_checkpoint(folder / f"random_t{memory_length}.pt", config, seed=seed)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """(T2G with a memory of 4, the per-frame baseline: other weights, a memory of 1)."""
    folder = tmp_path_factory.mktemp("ckpt")
    return (
        _random_checkpoint(folder, memory_length=4, seed=1),
        _random_checkpoint(folder, memory_length=1, seed=5),
    )


@pytest.fixture(scope="module")
def road_video(tmp_path_factory, sample_frames):
    """Nine real road frames (128x72) as an MJPG AVI at 25 fps: a video as cv2 reads it."""
    path = tmp_path_factory.mktemp("video") / "road.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (128, 72))
    assert writer.isOpened()
    for rgb in sample_frames:
        writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def test_report_rows_are_the_bag_evaluations_and_ratios_their_quotients(
    tmp_path, checkpoints, road_video
):
    t2g, per_frame = checkpoints
    report = jpeg_flicker.measure(
        {"road": road_video},
        out_dir=tmp_path / "runs",
        checkpoint=t2g,
        baseline_checkpoint=per_frame,
        qualities=(85, 100),
        width=96,
        fps=25.0,
        backend="torch",
        threads=1,
        command="python scripts/jpeg_flicker.py",
        progress=False,
    )

    json.dumps(report)  # what main writes: no NaN, no paths left as objects
    assert report["backend"] == "torch" and report["width"] == 96
    digest = hashlib.sha256(t2g.read_bytes()).hexdigest()
    assert report["checkpoints"]["t2g"] == {"path": str(t2g), "sha256": digest[:12]}
    assert report["checkpoints"]["per_frame"]["sha256"] != digest[:12]
    assert report["command"] == "python scripts/jpeg_flicker.py" and report["date"][:2] == "20"
    rows = report["rows"]
    assert [(r["clip"], r["quality"]) for r in rows] == [("road", 85), ("road", 100)]
    for row in rows:
        assert set(row) == ROW_KEYS
        assert row["frames"] == 9 and row["size"] == [96, 54]  # every frame, aspect kept
        with open_reader(row["bag"]) as bag:
            assert bag.message_count(jpeg_flicker.TOPIC) == 9
        metrics = json.loads(open(row["metrics"], encoding="utf-8").read())
        assert metrics["flicker"]["t2g"] == row["flicker_t2g"]
        assert metrics["flicker"]["baseline"] == row["flicker_per_frame"]
        assert metrics["flicker"]["memory_1"] == row["flicker_memory_1"]
        assert metrics["output"]["side_by_side"] is None  # no video asked for
        # Labels change (see _random_checkpoint), so the quotients are defined and checked.
        assert row["flicker_t2g"] > 0 and row["flicker_per_frame"] > 0
        assert row["flicker_memory_1"] > 0
        assert row["flicker_per_frame"] != row["flicker_memory_1"]  # the baseline is not T2G at 1
        assert row["ratio_t2g_per_frame"] == pytest.approx(
            row["flicker_t2g"] / row["flicker_per_frame"], rel=1e-9
        )
        assert row["ratio_full_memory_1"] == pytest.approx(
            row["flicker_t2g"] / row["flicker_memory_1"], rel=1e-9
        )
        assert 0 <= row["labels_changed_by_memory"] <= 1
    assert rows[1]["jpeg_bytes_per_frame"] > rows[0]["jpeg_bytes_per_frame"]  # q100 is larger

    markdown = jpeg_flicker.to_markdown(report)
    table = [line for line in markdown.splitlines() if line.startswith("| road |")]
    assert len(table) == 2 and table[0].startswith("| road | 85 | 9 |")
    assert f"{rows[0]['ratio_t2g_per_frame']:.3f}" in table[0]
    assert digest[:12] in markdown and "python scripts/jpeg_flicker.py" in markdown


def test_missing_inputs_are_named(tmp_path, capsys):
    assert jpeg_flicker.main(["--video-dir", str(tmp_path), "--out", str(tmp_path / "r")]) == 1
    err = capsys.readouterr().err
    assert "solidWhiteRight.mp4" in err and "project_video_short.mp4" in err
    assert not (tmp_path / "r.json").exists()
