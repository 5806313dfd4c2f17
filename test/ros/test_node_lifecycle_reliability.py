"""The node under a lifecycle manager, a careless operator and odd cameras (issue 20: #3, #5, #7,
#8, #9, #12, #13, diagnostics while not active): the real node in its own process, real rclpy and
Fast DDS, a tiny randomly initialised model."""

from __future__ import annotations

import signal
import time

import cv2
import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticStatus
from lifecycle_msgs.msg import Transition
from node_harness import NodeProcess, Probe, rgb_image
from rclpy.parameter import Parameter
from rclpy.parameter_client import AsyncParameterClient
from test_node_reliability import FAST, pump, start, wait_value, warned

pytestmark = pytest.mark.slow


def set_parameter(probe: Probe, parameter: Parameter):
    client = AsyncParameterClient(probe.node, probe.proc.fqn)
    assert client.wait_for_services(timeout_sec=30.0)
    future = client.set_parameters([parameter])
    probe.spin_until(future.done, 30, "set_parameters reply")
    return future.result().results[0]


def clean(log: str) -> bool:
    return "[ERROR]" not in log and "Traceback" not in log


# --- #5: one refused start-up value, corrected by a set and a second configure ---------------------
def test_a_refused_start_up_value_is_corrected_by_setting_it_and_configuring_again(
    ros, tiny_checkpoints, frames
):
    proc = NodeProcess(
        {
            "model.checkpoint": tiny_checkpoints["temporal"],
            "autostart": False,
            "model.threads": "two",  # a string for an int, early in the table
            **FAST,
        }
    )
    probe = Probe(proc)
    try:
        assert not probe.transition(Transition.TRANSITION_CONFIGURE)
        assert probe.lifecycle_state() == "unconfigured"
        # Every parameter is declared, the refused one included, and it can be corrected.
        assert set_parameter(
            probe, Parameter("output.grid_rows", Parameter.Type.INTEGER, 3)
        ).successful
        assert set_parameter(
            probe, Parameter("model.threads", Parameter.Type.INTEGER, 1)
        ).successful
        assert probe.transition(Transition.TRANSITION_CONFIGURE)
        assert probe.transition(Transition.TRANSITION_ACTIVATE)
        probe.wait_ready()
        probe.send(rgb_image(frames[0]), 1.0)
        assert probe.wait_outputs(1.0)["occupancy"].grid_rows == 3
        # Configured, a parameter that takes effect at configure is refused with the reason.
        refused = set_parameter(probe, Parameter("model.threads", Parameter.Type.INTEGER, 2))
        assert not refused.successful and "read-only while configured" in refused.reason
    finally:
        probe.close()
        log = proc.stop()
    assert "configure failed" in log and "model.threads" in log and "'two'" in log, log
    assert "undeclared" not in log, log


# --- #9: what rcl drops without a word ------------------------------------------------------------
def test_a_mistyped_value_beside_a_params_file_stops_start_up_and_a_misspelt_name_is_named(
    ros, tiny_checkpoints, tmp_path
):
    params_file = tmp_path / "t2g.yaml"
    params_file.write_text("/**:\n  ros__parameters:\n    model:\n      threads: 1\n")
    proc = NodeProcess(
        {
            "model.checkpoint": tiny_checkpoints["temporal"],
            "model.threads": "two",
            "output.grid_col": 4,
        },
        ros_args=("--params-file", str(params_file)),
    )
    code = proc.proc.wait(timeout=120)
    log = proc.stop()
    assert code != 0, log
    assert "cannot start" in log and "model.threads:='two' was not applied" in log, log
    assert "model.threads must be int" in log, log
    assert "output.grid_col (did you mean output.grid_cols?)" in log, log
    assert "Traceback" not in log, log


# --- #7: deactivate while a slow frame is segmented ------------------------------------------------
def test_deactivate_during_a_frame_discards_it_and_reactivation_never_publishes_it(
    ros, tiny_checkpoints, frames
):
    proc, probe = start(
        {
            "model.checkpoint": tiny_checkpoints["temporal"],
            "input.max_pixels": 4096 * 4096,
            "diagnostics_period_s": 0.05,
            "input.max_age_s": 0.0,
        }
    )
    try:
        # About 6 MP with every output subscribed: read out, coloured, blended and sent at that size.
        big = rgb_image(np.ascontiguousarray(cv2.resize(frames[0], (2800, 2100))))
        probe.send(big, 5.0)
        # Deactivate as soon as the node reports the frame received: it is being segmented.
        probe.spin_until(
            lambda: probe.diagnostic_value("frames_in_total") == "1", 60, "the frame received"
        )
        assert probe.transition(Transition.TRANSITION_DEACTIVATE)
        assert probe.transition(Transition.TRANSITION_ACTIVATE)
        probe.wait_ready()
        probe.send(rgb_image(frames[1]), 6.0)
        assert probe.wait_outputs(6.0)["occupancy"].memory_reset_reason == "start"
        assert not probe.outputs_for("labels", 5.0), "a frame of the ended activation was published"
        wait_value(probe, "frames_out_total", "1", "the fresh frame the only output")
        assert probe.diagnostic_value("dropped_internal_error_total") == "0"
    finally:
        probe.close()
        log = proc.stop()
    assert not probe.outputs_for("labels", 5.0), "a frame of the ended activation was published"
    assert "outputs are discarded" in log and clean(log), log


# --- #8: a stamp before 1970 ---------------------------------------------------------------------
def test_a_negative_stamp_is_a_bad_input_warning(ros, tiny_checkpoints, frames):
    proc, probe = start({"model.checkpoint": tiny_checkpoints["temporal"], **FAST})
    try:
        msg = rgb_image(frames[0])
        msg.header.stamp.sec, msg.header.stamp.nanosec = -1, 0
        probe.pub.publish(msg)
        wait_value(probe, "dropped_bad_input_total", "1", "the frame counted bad input")
        probe.spin_until(lambda: warned(probe, "negative header stamp"), 20, "the WARN")
        probe.send(rgb_image(frames[1]), 1.0)
        probe.wait_outputs(1.0)
        assert probe.diagnostic_value("dropped_internal_error_total") == "0"
    finally:
        probe.close()
        log = proc.stop()
    assert "dropped a frame: negative header stamp" in log and clean(log), log


# --- #12: a memory that never fills ----------------------------------------------------------------
def test_a_memory_reset_on_every_frame_is_reported_and_not_logged_per_frame(
    ros, tiny_checkpoints, frames
):
    proc, probe = start({"model.checkpoint": tiny_checkpoints["temporal"], **FAST})
    try:
        for i in range(8):  # 1 s apart, model.max_gap_s 0.5: each frame resets the memory
            probe.send(rgb_image(frames[i]), 10.0 + i)
            out = probe.wait_outputs(10.0 + i)
            assert out["occupancy"].frames_in_memory == 1
        probe.spin_until(
            lambda: warned(
                probe, "temporal memory unused: every output had 1 frame in memory of 4"
            ),
            20,
            "the WARN",
        )
        assert probe.diagnostic_value("memory_length") == "4"
        wait_value(probe, "memory_resets_total", "8", "every reset counted")  # 1 start, 7 gaps
    finally:
        probe.close()
        log = proc.stop()
    resets_logged = log.count("temporal memory reset: gap")
    assert 1 <= resets_logged < 7, log  # 7 gap resets, not one line each


# --- #13: a signal while the model loads -----------------------------------------------------------
def test_sigterm_during_activation_exits_cleanly(ros, tiny_checkpoints):
    proc = NodeProcess(
        {"model.checkpoint": tiny_checkpoints["temporal"], "model.backend": "torch", **FAST}
    )
    probe = Probe(proc)
    try:
        # Activation subscribes first, then loads the model (torch: seconds).
        probe.spin_until(
            lambda: probe.pub.get_subscription_count() > 0, 120, "the activation started"
        )
        proc.proc.send_signal(signal.SIGTERM)
        code = proc.proc.wait(timeout=120)
    finally:
        probe.close()
        log = proc.stop()
    assert code == 0 and clean(log), log


# --- also seen: /diagnostics while not active, the process after shutdown ---------------------------
def test_diagnostics_report_the_state_while_not_active(ros, tiny_checkpoints):
    proc = NodeProcess(
        {"model.checkpoint": tiny_checkpoints["temporal"], "autostart": False, **FAST}
    )
    probe = Probe(proc)

    def reported(state: str, level: bytes = DiagnosticStatus.OK) -> bool:
        statuses = probe.statuses()
        return bool(statuses) and statuses[-1].message == state and statuses[-1].level == level

    try:
        probe.spin_until(lambda: reported("unconfigured"), 30, "unconfigured reported")
        assert probe.diagnostic_value("state") == "unconfigured"
        assert probe.transition(Transition.TRANSITION_CONFIGURE)
        probe.spin_until(lambda: reported("inactive"), 30, "inactive reported")
        assert probe.transition(Transition.TRANSITION_ACTIVATE)
        probe.spin_until(lambda: probe.diagnostic_value("state") == "active", 30, "active")
        assert probe.transition(Transition.TRANSITION_DEACTIVATE)
        probe.spin_until(lambda: reported("inactive"), 30, "inactive reported again")
        assert probe.transition(Transition.TRANSITION_INACTIVE_SHUTDOWN)
        assert proc.proc.wait(timeout=60) == 0  # finalized: the process ends by itself
    finally:
        probe.close()
        log = proc.stop()
    assert clean(log), log


# --- #3: a camera clock stepped back during a pause -----------------------------------------------
def test_a_camera_clock_stepped_back_during_a_pause_is_followed_at_once(
    ros, tiny_checkpoints, frames
):
    """The camera runs 1 s behind, pauses, and comes back 3 s behind (stamps still newer than
    before): with input.max_age_s 0.5 the first frames after the step are segmented, not stale."""
    proc, probe = start(
        {
            "model.checkpoint": tiny_checkpoints["temporal"],
            "diagnostics_period_s": 0.2,
            "input.max_age_s": 0.5,
        }
    )
    try:
        last = 0.0
        for i in range(3):
            last = time.time() - 1.0
            probe.send(rgb_image(frames[i]), last)
            probe.wait_outputs(last)
        # The pause: until a stamp 3 s behind the clock is newer than the last one sent.
        probe.spin_until(lambda: time.time() - 3.0 > last + 0.1, 30, "the pause")
        for i in range(3, 6):
            stamp = time.time() - 3.0
            probe.send(rgb_image(frames[i]), stamp)
            probe.spin_until(
                lambda stamp=stamp: (
                    bool(probe.outputs_for("labels", stamp))
                    or probe.diagnostic_value("dropped_stale_total") not in ("0", None)
                ),
                60,
                "the frame segmented or dropped",
            )
            assert probe.outputs_for("labels", stamp), "a frame after the clock step was stale"
        pump(probe, 0.5)
        assert abs(float(probe.diagnostic_value("clock_offset_s")) - 3.0) < 0.4
    finally:
        probe.close()
        proc.stop()
