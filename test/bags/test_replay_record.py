"""t2g-replay and t2g-record over real DDS: byte-exact replay with /clock, and replay -> node -> record
across three processes giving exactly one output per input frame, with the input stamps."""

from __future__ import annotations

import select
import subprocess
import sys
import threading
import time
import uuid

import pytest
from bag_factory import IMAGE_TOPIC, read_topic, scene, write_image_bag
from node_harness import NodeProcess

OUTPUTS = ("labels", "color", "overlay", "confidence", "occupancy")


@pytest.fixture(scope="module")
def ros():
    import rclpy

    rclpy.init()
    yield rclpy
    rclpy.try_shutdown()


def test_replay_publishes_the_recorded_bytes_with_clock_and_timing(tmp_path, store, ros):
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from rosgraph_msgs.msg import Clock
    from sensor_msgs.msg import Image

    from t2g_ros.bags.replay import BagPlayer

    stamps = write_image_bag(
        tmp_path / "in", store, [scene(i) for i in range(4)], period_ns=100_000_000
    )
    live = f"/replay_{uuid.uuid4().hex[:8]}/image"
    player_node = ros.create_node("player", cli_args=["--ros-args", "-r", f"{IMAGE_TOPIC}:={live}"])
    listener = ros.create_node("listener")
    frames: list[bytes] = []
    clock: list[int] = []
    listener.create_subscription(Image, live, frames.append, QoSProfile(depth=10), raw=True)
    listener.create_subscription(
        Clock,
        "/clock",
        lambda m: clock.append(m.clock.sec * 10**9 + m.clock.nanosec),
        QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE),
    )
    executor = SingleThreadedExecutor()
    executor.add_node(listener)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    try:
        player = BagPlayer(player_node, tmp_path / "in", rate=2.0, clock=True)
        assert player.live_topic(IMAGE_TOPIC) == live
        assert player.wait_for_subscribers(30.0) == []
        deadline = time.monotonic() + 30
        while player_node.count_subscribers("/clock") == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        started = time.monotonic()
        assert player.play() == 4
        elapsed = time.monotonic() - started
        deadline = time.monotonic() + 10
        while len(frames) < 4 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        executor.shutdown()
        spinner.join(timeout=5)
    expected = [
        bytes(store.serialize_cdr(m.msg, "sensor_msgs/msg/Image"))
        for m in read_topic(tmp_path / "in", IMAGE_TOPIC)
    ]
    assert frames == expected  # byte for byte, headers included
    assert elapsed >= 0.3 / 2.0 - 0.01  # 300 ms of bag time at rate 2
    assert set(stamps) <= set(
        clock
    )  # /clock reached each message's log time before it was published
    assert clock == sorted(clock)


def test_replay_node_record_gives_one_output_per_frame_with_input_stamps(
    tmp_path, store, tiny_checkpoint
):
    # Lockstep replay (each frame once the node's last output for the previous one arrived) and a reliable
    # input: however loaded the machine, the node never has to skip a frame.
    stamps = write_image_bag(
        tmp_path / "in", store, [scene(i) for i in range(6)], period_ns=100_000_000
    )
    node = NodeProcess(
        {
            "model.checkpoint": str(tiny_checkpoint),
            "model.threads": 1,
            "input.max_age_s": 0.0,
            "input.reliability": "reliable",
            "input.depth": 10,
        }
    )
    recorder = replayer = None
    try:
        recorder = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "t2g_ros.bags.record",
                str(tmp_path / "rec"),
                "--node",
                node.fqn,
                "--count",
                "6",
                "--duration",
                "90",
                "--wait",
                "90",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        ready = _first_line(recorder, node, timeout=90.0)
        assert ready.startswith("recording 6 topic(s)"), ready + recorder.stdout.read()
        started_ns = time.time_ns()
        replayer = subprocess.run(
            [
                sys.executable,
                "-m",
                "t2g_ros.bags.replay",
                str(tmp_path / "in"),
                "--wait",
                "60",
                "--lockstep",
                node.output("occupancy"),
                "--ros-args",
                "-r",
                f"{IMAGE_TOPIC}:={node.topic('image')}",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert replayer.returncode == 0, replayer.stderr
        assert "published 6 messages on 1 topic(s)" in replayer.stdout
        assert "0 released without an answer" in replayer.stdout
        assert recorder.wait(timeout=90) == 0  # --count 6 reached on every output
        summary = recorder.stdout.read()
    finally:
        if recorder is not None and recorder.poll() is None:
            recorder.kill()
        log = node.stop()
    assert "recorded" in summary, summary + log
    for name in OUTPUTS:
        messages = read_topic(tmp_path / "rec", node.output(name))
        assert [m.stamp_ns for m in messages] == stamps, f"{name}\n{log}"
        assert all(
            m.log_time_ns >= started_ns for m in messages
        )  # reception times, not the old stamps
    assert len(read_topic(tmp_path / "rec", node.output("label_info"))) == 1
    labels = read_topic(tmp_path / "rec", node.output("labels"))
    assert {(m.msg.encoding, m.msg.height, m.msg.width, m.msg.header.frame_id) for m in labels} == {
        ("mono8", 48, 64, "camera")
    }


def _first_line(proc: subprocess.Popen, node: NodeProcess, timeout: float) -> str:
    """The first line ``proc`` prints; fails at once, with the node's log, if the node exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if select.select([proc.stdout], [], [], 0.2)[0]:
            return proc.stdout.readline()
        if node.proc.poll() is not None:
            pytest.fail(f"the node exited with {node.proc.returncode}:\n{node.stop()}")
    pytest.fail(f"no output from {proc.args} within {timeout:g} s")


def test_record_without_publishers_fails_naming_the_topics(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "t2g_ros.bags.record",
            str(tmp_path / "rec"),
            "--node",
            "/nobody_here/t2g",
            "--wait",
            "0.5",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "no publisher on /nobody_here/t2g/labels" in result.stderr
    assert not (tmp_path / "rec").exists()


def test_replay_of_a_missing_topic_names_it(tmp_path, store):
    write_image_bag(tmp_path / "in", store, [scene(0)])
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "t2g_ros.bags.replay",
            str(tmp_path / "in"),
            "--topics",
            "/nope",
            "--no-wait",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "'/nope' not in" in result.stderr and IMAGE_TOPIC in result.stderr
