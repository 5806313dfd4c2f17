"""t2g-record on a full disk: one line, exit 1, no half bag at OUT (a real tmpfs, real DDS)."""

from __future__ import annotations

import subprocess
import sys
import uuid

from bag_factory import IMAGE_TOPIC, scene, write_image_bag
from small_disk import tiny_tmpfs


def test_record_on_a_full_disk_says_so_once_and_keeps_nothing(tmp_path, store):
    # 256x360 rgb8 frames: 276 KB each, so a 1 MB disk is full after the first few.
    write_image_bag(tmp_path / "in", store, [scene(i, (256, 360)) for i in range(8)])
    live = f"/rec_full_{uuid.uuid4().hex[:8]}/image"
    replay = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "t2g_ros.bags.replay",
            str(tmp_path / "in"),
            "--loop",
            "--no-wait",
            "--ros-args",
            "-r",
            f"{IMAGE_TOPIC}:={live}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with tiny_tmpfs(tmp_path / "disk", "1m") as disk:
            record = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "t2g_ros.bags.record",
                    str(disk / "rec"),
                    "--topics",
                    live,
                    "--duration",
                    "120",
                    "--wait",
                    "60",
                ],
                capture_output=True,
                text=True,
                timeout=240,
            )
            left = sorted(p.name for p in disk.iterdir())
    finally:
        replay.terminate()
        replay.wait(timeout=30)
    assert record.returncode == 1, record.stdout + record.stderr
    assert record.stderr.splitlines() == [
        f"t2g-record: error: disk full while writing {disk / 'rec'} "
        "(No space left on device); nothing was kept"
    ], record.stderr
    assert "recorded" not in record.stdout  # no summary of a bag that does not exist
    assert left == []
