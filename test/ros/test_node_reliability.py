"""The node under real cameras and hostile input (issue 13, D1-D9, D12): the real node in its own
process, real rclpy and Fast DDS, a tiny randomly initialised model. Every drop must show in
/diagnostics (WARN with the reason, a per-reason counter); nothing may crash or stay silent."""

from __future__ import annotations

import signal
import time

import cv2
import numpy as np
import pytest
import rclpy
from diagnostic_msgs.msg import DiagnosticStatus
from node_harness import NodeProcess, Probe, rgb_image
from rclpy.parameter import Parameter
from rclpy.parameter_client import AsyncParameterClient
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CompressedImage, Image

pytestmark = pytest.mark.slow
FAST = {"diagnostics_period_s": 0.2, "input.max_age_s": 0.0}


def start(parameters: dict, *, compressed: bool = False) -> tuple[NodeProcess, Probe]:
    """The node, matched and active (model loaded and warmed up: frames sent now are processed)."""
    proc = NodeProcess(parameters)
    probe = Probe(proc, compressed=compressed)
    probe.wait_ready()
    deadline = time.monotonic() + 120
    while probe.lifecycle_state() != "active":
        assert time.monotonic() < deadline, "the node did not become active"
        pump(probe, 0.2)
    return proc, probe


def warned(probe: Probe, text: str) -> bool:
    return any(s.level == DiagnosticStatus.WARN and text in s.message for s in probe.statuses())


def pump(probe: Probe, seconds: float) -> None:
    """Spin the probe for ``seconds`` (delivering outputs and diagnostics) while time passes."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        rclpy.spin_once(probe.node, timeout_sec=max(0.0, min(0.02, end - time.monotonic())))


def wait_value(probe: Probe, key: str, expected: str, what: str, timeout: float = 30.0) -> None:
    probe.spin_until(lambda: probe.diagnostic_value(key) == expected, timeout, what)


# --- D1: a camera clock seconds away from the node's ----------------------------------------------
def test_a_skewed_camera_clock_is_measured_and_reported_not_dropped_as_stale(
    ros, tiny_checkpoints, frames
):
    """Stamps 2 s behind (then 3 s ahead of) the node's clock, input.max_age_s 0.5: every frame
    is segmented, the offset is in diagnostics with a WARN, and a frame late beyond it is stale."""
    proc, probe = start(
        {"model.checkpoint": tiny_checkpoints["temporal"], "diagnostics_period_s": 0.2}
    )
    try:
        stamp = 0.0
        for skew in (-2.0, 3.0):
            for i in range(4):
                stamp = time.time() + skew
                probe.send(rgb_image(frames[i]), stamp)
                probe.wait_outputs(stamp, timeout=30)
            side = "behind" if skew < 0 else "ahead of"
            probe.spin_until(
                lambda side=side: warned(probe, f"s {side} this node's clock"),
                20,
                f"the clock {side} WARN",
            )
            assert abs(float(probe.diagnostic_value("clock_offset_s")) + skew) < 0.3
        assert probe.diagnostic_value("dropped_stale_total") == "0"
        # 1.5 s late on the camera's own clock, and stamped before the newest frame: a late frame
        # (a newer stamp that late would be the camera clock stepping back: issue 20, #3).
        probe.send(rgb_image(frames[5]), min(time.time() + 3.0 - 1.5, stamp - 0.1))
        wait_value(probe, "dropped_stale_total", "1", "the late frame counted stale")
        probe.spin_until(lambda: warned(probe, "dropped 1 stale frame(s)"), 20, "the stale WARN")
    finally:
        probe.close()
        log = proc.stop()
    assert "dropped a stale frame" in log  # and a (throttled) log line


# --- D2, D4: decompression bombs, padded and cut JPEGs on the compressed input --------------------
def test_bombs_and_cut_jpegs_are_dropped_with_a_reason_padded_jpegs_are_segmented(
    ros, tiny_checkpoints, frames
):
    proc, probe = start(
        {
            "model.checkpoint": tiny_checkpoints["temporal"],
            "input.compressed": True,
            "input.max_pixels": 640 * 480,
            **FAST,
        },
        compressed=True,
    )
    try:
        _, bomb = cv2.imencode(".png", np.zeros((2000, 3000, 3), np.uint8))  # 6 MP from a few KB
        probe.send(CompressedImage(format="png", data=bomb.tobytes()), 1.0)
        wait_value(probe, "dropped_too_large_total", "1", "the bomb counted too large")
        probe.spin_until(
            lambda: warned(probe, "over input.max_pixels: PNG (format 'png') is 3000x2000"),
            20,
            "the too-large WARN",
        )
        _, jpeg = cv2.imencode(".jpg", frames[0][:, :, ::-1])
        probe.send(
            CompressedImage(format="jpeg", data=jpeg.tobytes() + bytes(100)), 1.1
        )  # camera buffer
        out = probe.wait_outputs(1.1)
        assert (out["labels"].height, out["labels"].width) == frames[0].shape[:2]
        probe.send(
            CompressedImage(format="jpeg", data=jpeg.tobytes()[: jpeg.size // 2] + b"\xff\xd9"), 1.2
        )
        wait_value(probe, "dropped_bad_input_total", "1", "the cut JPEG counted bad")
        probe.spin_until(lambda: warned(probe, "is cut short"), 20, "the cut JPEG WARN")
        assert not probe.outputs_for("labels", 1.0) and not probe.outputs_for("labels", 1.2)
    finally:
        probe.close()
        log = proc.stop()
    assert "dropped a frame over input.max_pixels" in log


# --- D3: sim time without /clock ------------------------------------------------------------------
def test_sim_time_without_clock_still_reports_diagnostics_and_says_why(
    ros, tiny_checkpoints, frames
):
    proc, probe = start(
        {"model.checkpoint": tiny_checkpoints["temporal"], "use_sim_time": True, **FAST}
    )
    try:
        probe.spin_until(
            lambda: warned(probe, "no /clock has arrived"), 30, "a diagnostics WARN about /clock"
        )
        probe.send(rgb_image(frames[0]), 5.0)
        probe.wait_outputs(5.0)
    finally:
        probe.close()
        proc.stop()


# --- D12: rates over real elapsed time, whatever the sim clock does -------------------------------
def test_rates_are_per_real_second_when_sim_time_runs_four_times_faster(
    ros, tiny_checkpoints, frames
):
    proc, probe = start(
        {
            "model.checkpoint": tiny_checkpoints["temporal"],
            "use_sim_time": True,
            "diagnostics_period_s": 1.0,
            "input.max_age_s": 0.0,
        }
    )
    clock_pub = probe.node.create_publisher(Clock, "/clock", 10)
    try:
        probe.spin_until(
            lambda: clock_pub.get_subscription_count() > 0, 20, "the node's /clock subscription"
        )
        small = rgb_image(np.ascontiguousarray(frames[0][::4, ::4]))
        started = time.monotonic()
        reports_before = len(probe.statuses())
        next_frame = started
        while time.monotonic() - started < 5.0:
            sim = 100.0 + 4.0 * (time.monotonic() - started)
            clock = Clock()
            clock.clock.sec, clock.clock.nanosec = int(sim), int((sim % 1) * 1e9)
            clock_pub.publish(clock)
            if time.monotonic() >= next_frame:  # 10 frames per real second
                probe.send(small, sim)
                next_frame += 0.1
            pump(probe, 0.02)
        rates = [
            float(kv.value)
            for s in probe.statuses()[reports_before + 1 :]
            for kv in s.values
            if kv.key == "input_rate_hz"
        ]
    finally:
        probe.close()
        proc.stop()
    assert len(rates) >= 2, rates
    assert 7.0 <= float(np.median(rates)) <= 13.0, (
        f"input_rate_hz {rates} for 10 frames per real second"
    )


# --- D5: what DDS can tell about frames that never arrive -----------------------------------------
def test_frames_lost_in_transport_are_counted(ros, tiny_checkpoints, frames):
    """Frames over the 32 MB shared-memory segment (4000x3000 rgb8 = 36 MB) may be lost by a
    best-effort reader; DDS reports each gap, so every frame sent is received or counted lost."""
    proc, probe = start(
        {
            "model.checkpoint": tiny_checkpoints["temporal"],
            "input.reliability": "best_effort",
            "input.max_pixels": 640 * 480,
            **FAST,
        }
    )
    try:
        small, big = (
            rgb_image(np.ascontiguousarray(frames[0][::4, ::4])),
            rgb_image(np.zeros((3000, 4000, 3), np.uint8)),
        )
        sequence = [small, big, small, big, small, small]
        for i, msg in enumerate(sequence):
            probe.send(msg, 1.0 + 0.1 * i)
            pump(probe, 0.3)

        def accounted() -> bool:
            got, lost = (
                probe.diagnostic_value("frames_in_total"),
                probe.diagnostic_value("dropped_lost_in_transport_total"),
            )
            return got is not None and int(got) + int(lost) == len(sequence)

        probe.spin_until(accounted, 30, "every frame received or counted lost")
        lost = int(probe.diagnostic_value("dropped_lost_in_transport_total"))
        if lost:
            assert warned(probe, "lost in transport")
    finally:
        probe.close()
        proc.stop()


def test_a_publisher_with_an_incompatible_qos_is_reported(ros, tiny_checkpoints):
    proc, probe = start(
        {"model.checkpoint": tiny_checkpoints["temporal"], **FAST}
    )  # reliable input
    try:
        best_effort = QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)
        probe.node.create_publisher(Image, proc.topic("image"), best_effort)
        probe.spin_until(
            lambda: warned(probe, "offers a QoS this subscription cannot match"),
            30,
            "the incompatible QoS WARN",
        )
    finally:
        probe.close()
        proc.stop()


# --- D6: frames smaller than the occupancy grid ---------------------------------------------------
def test_frames_smaller_than_the_grid_are_segmented_with_a_smaller_grid(
    ros, tiny_checkpoints, frames
):
    proc, probe = start({"model.checkpoint": tiny_checkpoints["temporal"], **FAST})
    try:
        for i, (height, width) in enumerate([(5, 7), (1, 1), (3, 4097)]):
            stamp = 1.0 + 0.1 * i
            image = cv2.resize(frames[i], (width, height), interpolation=cv2.INTER_AREA).reshape(
                height, width, 3
            )
            probe.send(rgb_image(np.ascontiguousarray(image)), stamp)
            out = probe.wait_outputs(stamp, timeout=30)
            assert (out["labels"].height, out["labels"].width) == (height, width)
            assert (out["occupancy"].grid_rows, out["occupancy"].grid_cols) == (
                min(6, height),
                min(8, width),
            )
        client = AsyncParameterClient(probe.node, proc.fqn)
        assert client.wait_for_services(timeout_sec=20.0)
        future = client.set_parameters([Parameter("output.grid_cols", Parameter.Type.INTEGER, 255)])
        probe.spin_until(future.done, 20, "set_parameters reply")
        assert future.result().results[0].successful
        probe.send(rgb_image(np.ascontiguousarray(frames[3][:80, :100])), 2.0)
        assert probe.wait_outputs(2.0)["occupancy"].grid_cols == 100
        assert probe.diagnostic_value("dropped_bad_input_total") in ("0", None)
    finally:
        probe.close()
        proc.stop()


# --- D7: outputs decided once per frame -----------------------------------------------------------
def test_toggling_the_confidence_encoding_never_loses_a_frame(ros, tiny_checkpoints, frames):
    proc, probe = start({"model.checkpoint": tiny_checkpoints["temporal"], **FAST})
    try:
        client = AsyncParameterClient(probe.node, proc.fqn)
        assert client.wait_for_services(timeout_sec=20.0)
        encodings = []
        for i in range(24):
            stamp = 1.0 + 0.1 * i
            probe.send(rgb_image(frames[i % len(frames)]), stamp)
            # Flipped while the frame is in flight, without waiting for the reply.
            client.set_parameters(
                [
                    Parameter(
                        "output.confidence_encoding",
                        Parameter.Type.STRING,
                        "32FC1" if i % 2 == 0 else "mono8",
                    )
                ]
            )
            out = probe.wait_outputs(stamp, ("labels", "confidence", "occupancy"), timeout=30)
            encodings.append(out["confidence"].encoding)
        assert set(encodings) == {"mono8", "32FC1"}
    finally:
        probe.close()
        log = proc.stop()
    assert "frame processing failed" not in log, log


# --- D8: Ctrl-C and SIGTERM while frames flow -----------------------------------------------------
def test_sigint_and_sigterm_under_load_exit_cleanly(ros, tiny_checkpoints, frames):
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGINT, signal.SIGTERM):
        proc, probe = start({"model.checkpoint": tiny_checkpoints["temporal"], **FAST})
        try:
            started = time.monotonic()
            i = 0
            while (
                time.monotonic() - started < 1.5
            ):  # 30 Hz, no waiting for outputs: the node is busy
                probe.send(rgb_image(frames[i % len(frames)]), 1.0 + i / 30)
                i += 1
                if i == 30:
                    proc.proc.send_signal(sig)
                pump(probe, 1 / 30)
            code = proc.proc.wait(timeout=30)
        finally:
            probe.close()
            log = proc.stop()
        assert code == 0, (sig, log)
        assert "[ERROR]" not in log and "Traceback" not in log, (sig, log)


# --- D9: an integer for a double parameter --------------------------------------------------------
def test_an_integer_for_a_double_parameter_is_a_clear_start_up_error(ros, tiny_checkpoints):
    proc = NodeProcess(
        {"model.checkpoint": tiny_checkpoints["temporal"], "output.overlay_alpha": 1}
    )
    proc.proc.wait(timeout=60)
    log = proc.stop()
    assert proc.proc.returncode != 0
    assert "cannot start" in log and "output.overlay_alpha" in log and "DOUBLE" in log, log
    assert "Traceback" not in log, log
