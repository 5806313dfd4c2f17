"""t2g-bag-eval's outputs are all or nothing: a full disk, a signal or a frame size change mid-bag."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest
from bag_factory import IMAGE_TOPIC, read_topic, write_image_bag
from ruamel.yaml import YAML
from small_disk import tiny_tmpfs

from t2g_core.metrics import FlickerResult, flicker_rate
from t2g_ros.bags import eval as bag_eval
from t2g_ros.bags.io import open_reader
from t2g_ros.image_codec import image_msg_to_rgb


def run_eval(capsys, *args) -> tuple[int, str, str]:
    code = bag_eval.main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_frame_size_change_restarts_flicker_and_is_counted(
    tmp_path, store, tiny_checkpoint, sample_frames, capsys
):
    small = sample_frames[:4]  # 72x128
    large = [cv2.resize(f, (128, 96), interpolation=cv2.INTER_AREA) for f in sample_frames[4:8]]
    write_image_bag(tmp_path / "in", store, small + large)
    out = tmp_path / "out"

    code, stdout, stderr = run_eval(
        capsys,
        tmp_path / "in",
        "--image-topic",
        IMAGE_TOPIC,
        "--out",
        out,
        "--checkpoint",
        tiny_checkpoint,
    )

    assert code == 0, stderr
    report = json.loads((tmp_path / "out.metrics.json").read_text())
    assert report["frames"]["in"] == report["frames"]["out"] == 8
    assert report["frames"]["size_changes"] == 1
    # T2G's flicker: the recorded labels compared within each size, never across the change.
    labels = [image_msg_to_rgb(m.msg)[..., 0] for m in read_topic(out, "/t2g/labels")]
    frames = [image_msg_to_rgb(m.msg) for m in read_topic(out, IMAGE_TOPIC)]
    expected = FlickerResult()
    for part in (slice(0, 4), slice(4, 8)):
        expected = expected.merge(flicker_rate(labels[part], frames=frames[part]))
    assert expected.denominator > 0
    assert report["flicker"]["t2g"] == pytest.approx(expected.rate, abs=1e-9)
    assert (tmp_path / "out.preview.png").is_file() and report["output"]["side_by_side"]


def _set_metadata_count(bag: Path, topic: str, count: int) -> None:
    path = bag / "metadata.yaml"
    yaml = YAML()
    data = yaml.load(path.read_text())
    info = data["rosbag2_bagfile_information"]
    info["message_count"] = count
    for entry in info["topics_with_message_count"]:
        if entry["topic_metadata"]["name"] == topic:
            entry["message_count"] = count
    with path.open("w") as stream:
        yaml.dump(data, stream)


@pytest.mark.parametrize("claimed", [0, 1000])
def test_message_counts_are_read_not_taken_from_metadata(
    claimed, tmp_path, store, tiny_checkpoint, sample_frames, capsys
):
    write_image_bag(tmp_path / "in", store, sample_frames[:5])
    _set_metadata_count(tmp_path / "in", IMAGE_TOPIC, claimed)
    with open_reader(tmp_path / "in") as bag:
        assert bag.message_count(IMAGE_TOPIC) == 5

    code, stdout, stderr = run_eval(
        capsys,
        tmp_path / "in",
        "--image-topic",
        IMAGE_TOPIC,
        "--out",
        tmp_path / "out",
        "--checkpoint",
        tiny_checkpoint,
        "--no-video",
    )

    assert code == 0, stderr
    assert "frames in 5, out 5" in stdout
    preview = cv2.imread(str(tmp_path / "out.preview.png"))
    assert preview is not None and preview.shape[0] > 3 * 72  # four frames' rows, as for any bag


def _outputs(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name != "in")


def test_a_full_disk_ends_the_run_with_one_line_and_leaves_nothing(
    tmp_path, store, tiny_checkpoint, sample_frames, capsys
):
    write_image_bag(tmp_path / "in", store, sample_frames * 3)  # ~2.5 MB of outputs
    with tiny_tmpfs(tmp_path / "disk", "1m") as disk:
        code, stdout, stderr = run_eval(
            capsys,
            tmp_path / "in",
            "--image-topic",
            IMAGE_TOPIC,
            "--out",
            disk / "out",
            "--checkpoint",
            tiny_checkpoint,
        )
        left = sorted(p.name for p in disk.iterdir())
    assert code == 1
    assert stderr.splitlines() == [
        f"t2g-bag-eval: error: disk full while writing {disk / 'out'} "
        "(No space left on device); nothing was kept"
    ], stderr
    assert left == []  # nothing blocks the rerun, the space is free again


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupted_run_exits_128_plus_signal_and_leaves_nothing(
    signum, tmp_path, store, tiny_checkpoint, sample_frames
):
    write_image_bag(tmp_path / "in", store, sample_frames * 40)  # 360 frames: runs long enough
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "t2g_ros.bags.eval",
            str(tmp_path / "in"),
            "--image-topic",
            IMAGE_TOPIC,
            "--out",
            str(tmp_path / "out"),
            "--checkpoint",
            str(tiny_checkpoint),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    try:
        # Mid-run: the output bag has been started (in its staging folder or, today, at its name).
        while proc.poll() is None and not _bag_started(tmp_path):
            time.sleep(0.05)
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(signum)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signum, stderr
    assert stderr.strip().splitlines()[-1] == (
        f"t2g-bag-eval: interrupted by {signal.Signals(signum).name}; no output was kept"
    ), stderr
    assert "Traceback" not in stderr
    assert _outputs(tmp_path) == []


def _bag_started(folder: Path) -> bool:
    return any(p.parent.name == "out" for p in folder.rglob("*.mcap"))
