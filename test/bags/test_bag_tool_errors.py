"""The bag tools on damaged and empty bags: exit code 1 and one line saying why, never a traceback."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from t2g_ros.bags import eval as bag_eval
from t2g_ros.bags.io import BagWriter

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "data" / "sample" / "solidwhiteright"
TOPIC = "/camera/image_raw/compressed"


@pytest.fixture()
def corrupt_metadata_bag(tmp_path) -> Path:
    bag = tmp_path / "bag"
    shutil.copytree(SAMPLE, bag)
    (bag / "metadata.yaml").write_text("x: [\n")
    return bag


@pytest.fixture()
def empty_bag(tmp_path, store) -> Path:
    bag = tmp_path / "empty"
    with BagWriter(bag, storage="mcap", typestore=store) as writer:
        writer.add_topic(TOPIC, "sensor_msgs/msg/CompressedImage")
    return bag


@pytest.mark.parametrize("case", ["corrupt_metadata_bag", "empty_bag"])
def test_bag_eval_exits_1_with_the_reason(case, request, tmp_path, capsys):
    bag = request.getfixturevalue(case)
    assert bag_eval.main([str(bag), "--image-topic", TOPIC, "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    expected = "cannot read bag" if case == "corrupt_metadata_bag" else "no messages on"
    assert err.startswith("t2g-bag-eval: error:") and expected in err and str(bag) in err, err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("case", ["corrupt_metadata_bag", "empty_bag"])
def test_replay_exits_1_with_the_reason(case, request):
    bag = request.getfixturevalue(case)
    run = subprocess.run(
        [sys.executable, "-m", "t2g_ros.bags.replay", str(bag), "--no-wait", "--loop"],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ),
    )
    expected = "cannot read bag" if case == "corrupt_metadata_bag" else "nothing to replay"
    assert run.returncode == 1 and expected in run.stderr, run.stderr
    assert "Traceback" not in run.stderr + run.stdout
