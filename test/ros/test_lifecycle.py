"""The node's lifecycle, driven from this process through its real ``~/change_state`` and
``~/get_state`` services (what ``ros2 lifecycle set`` and a lifecycle manager call), the node in its
own process."""

from __future__ import annotations

import time

import pytest
import rclpy
from lifecycle_msgs.msg import Transition
from node_harness import NodeProcess, Probe, rgb_image

pytestmark = pytest.mark.slow
FAST = {"diagnostics_period_s": 0.2, "input.max_age_s": 0.0}
# How long a frame sent to an inactive node is given to (wrongly) come out; the active node answers
# a tiny-model frame in well under a second even on a loaded machine.
SILENCE_S = 2.0


def _assert_no_output(probe: Probe, stamp: float) -> None:
    deadline = time.monotonic() + SILENCE_S
    while time.monotonic() < deadline:
        rclpy.spin_once(probe.node, timeout_sec=0.05)
    assert not probe.outputs_for("labels", stamp), "an inactive node published outputs"


def test_configure_activate_deactivate_cleanup_and_again(ros, tiny_checkpoints, frames):
    proc = NodeProcess(
        {"model.checkpoint": tiny_checkpoints["temporal"], "autostart": False, **FAST}
    )
    probe = Probe(proc)
    try:
        assert probe.lifecycle_state() == "unconfigured"
        assert probe.transition(Transition.TRANSITION_CONFIGURE)
        assert probe.lifecycle_state() == "inactive"
        # Configured: the publishers exist, but nothing listens to the input yet.
        probe.spin_until(
            lambda: all(s.get_publisher_count() > 0 for s in probe.subs), 30, "the publishers"
        )
        assert probe.pub.get_subscription_count() == 0

        assert probe.transition(Transition.TRANSITION_ACTIVATE)
        assert probe.lifecycle_state() == "active"
        probe.wait_ready()
        probe.send(rgb_image(frames[0]), 1.0)
        first = probe.wait_outputs(1.0)["occupancy"]
        assert first.memory_reset_reason == "start", "the warm-up must not leak into the stream"
        probe.late_label_info()

        assert probe.transition(Transition.TRANSITION_DEACTIVATE)
        assert probe.lifecycle_state() == "inactive"
        probe.spin_until(
            lambda: probe.pub.get_subscription_count() == 0, 30, "the input unsubscribed"
        )
        probe.send(rgb_image(frames[1]), 1.1)
        _assert_no_output(probe, 1.1)

        assert probe.transition(Transition.TRANSITION_CLEANUP)
        assert probe.lifecycle_state() == "unconfigured"
        probe.spin_until(
            lambda: all(s.get_publisher_count() == 0 for s in probe.subs),
            30,
            "the publishers removed",
        )

        # A second configure and activate load the model again and segment a fresh stream.
        assert probe.transition(Transition.TRANSITION_CONFIGURE)
        assert probe.transition(Transition.TRANSITION_ACTIVATE)
        probe.wait_ready()
        for i, frame in enumerate(frames[2:4]):
            probe.send(rgb_image(frame), 2.0 + 0.1 * i)
            occupancy = probe.wait_outputs(2.0 + 0.1 * i)["occupancy"]
            assert occupancy.frames_in_memory == i + 1
        assert probe.transition(Transition.TRANSITION_ACTIVE_SHUTDOWN)
        # Finalized, the process has nothing left to do: it ends by itself (issue 20).
        assert proc.proc.wait(timeout=60) == 0
    except AssertionError as exc:  # the node's log says why a transition failed
        raise AssertionError(f"{exc}\nnode log:\n{proc.stop()}") from exc
    finally:
        probe.close()
        log = proc.stop()
    assert proc.proc.returncode == 0, log
    assert log.count("subscribed to") == 2, log


def test_a_failed_activation_leaves_the_node_inactive_with_the_reason(ros, tmp_path):
    proc = NodeProcess(
        {"model.checkpoint": str(tmp_path / "missing.pt"), "autostart": False, **FAST}
    )
    probe = Probe(proc)
    try:
        assert probe.transition(Transition.TRANSITION_CONFIGURE)
        assert not probe.transition(Transition.TRANSITION_ACTIVATE)
        assert probe.lifecycle_state() == "inactive"
    finally:
        probe.close()
        log = proc.stop()
    assert "activate failed" in log and "no such checkpoint file" in log, log
