"""Run the real t2g node in its own process and talk to it from the test process over Fast DDS.

``NodeProcess`` starts ``python -m t2g_ros.node`` with parameters and a unique namespace (with
``t2g_ros.launcher``, as the demo and the benchmarks do); ``Probe`` is an rclpy node in the test
process that publishes frames, waits for the outputs carrying a given stamp, reads diagnostics and
drives the node's lifecycle through its real ``~/change_state`` and ``~/get_state`` services.
Nothing waits a fixed time: every wait polls for a condition with a deadline.
The tiny checkpoints come from ``test/tiny_models.py``.
"""

from __future__ import annotations

import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState, GetState
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image

from t2g_msgs.msg import ClassOccupancy, LabelInfo
from t2g_ros.launcher import start_node, stop_node

OUTPUT_TYPES = {
    "labels": Image,
    "color": Image,
    "overlay": Image,
    "confidence": Image,
    "occupancy": ClassOccupancy,
}
RELIABLE = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
# How long messages a node sent just before it exited are waited for.
EXIT_GRACE_S = 2.0
LATCHED = QoSProfile(
    depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
)


class NodeProcess:
    def __init__(
        self,
        parameters: dict[str, Any],
        *,
        namespace: str | None = None,
        ros_args: tuple[str, ...] = (),
    ) -> None:
        """``ros_args``: more ``--ros-args`` arguments, before the ``-p`` of ``parameters``."""
        self.namespace = namespace or f"/t2g_test_{uuid.uuid4().hex[:8]}"
        # One inference thread: two threads collapse (10x slower) when the test machine is oversubscribed.
        # A reliable input: a best-effort reader drops what a writer sends before the reader has discovered
        # it, and lock-step tests send each frame once.
        defaults = {"model.threads": 1, "input.reliability": "reliable"}
        self.proc = start_node(
            self.namespace, parameters={**defaults, **parameters}, ros_args=ros_args
        )

    def topic(self, name: str) -> str:
        return f"{self.namespace}/{name}"

    def output(self, name: str) -> str:
        return f"{self.namespace}/t2g/{name}"

    @property
    def fqn(self) -> str:
        return f"{self.namespace}/t2g"

    def stop(self) -> str:
        """Interrupt (as Ctrl-C does) and return the node's log; fails if it does not exit cleanly."""
        stop_node(self.proc)
        return self.proc.stdout.read() if self.proc.stdout else ""


class Probe:
    """The test side: publishes inputs, collects outputs by stamp."""

    def __init__(self, node_proc: NodeProcess, *, compressed: bool = False) -> None:
        self.node: Node = rclpy.create_node(f"probe_{uuid.uuid4().hex[:8]}")
        self.proc = node_proc
        if compressed:
            self.pub = self.node.create_publisher(
                CompressedImage, node_proc.topic("image/compressed"), RELIABLE
            )
        else:
            self.pub = self.node.create_publisher(Image, node_proc.topic("image"), RELIABLE)
        self.received: dict[str, list[Any]] = defaultdict(list)
        self.subs = [
            self.node.create_subscription(t, node_proc.output(n), self._collector(n), RELIABLE)
            for n, t in OUTPUT_TYPES.items()
        ]
        self.diagnostics: list[DiagnosticArray] = []
        self._clients: dict[str, Any] = {}
        self.node.create_subscription(
            DiagnosticArray, "/diagnostics", self.diagnostics.append, RELIABLE
        )

    def _collector(self, name: str) -> Callable[[Any], None]:
        return lambda msg: self.received[name].append(msg)

    def spin_until(self, condition: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        exited_at = None
        while not condition():
            if exited_at is None and self.proc.proc.poll() is not None:
                exited_at = time.monotonic()  # what it sent last may still be on its way
            if exited_at is not None and time.monotonic() > exited_at + EXIT_GRACE_S:
                raise AssertionError(
                    f"node exited ({self.proc.proc.returncode}) while waiting for {what}:\n"
                    + self.proc.stop()
                )
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
            rclpy.spin_once(self.node, timeout_sec=0.02)

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Until the node's subscription and all its output publishers are matched with ours."""
        self.spin_until(
            lambda: (
                self.pub.get_subscription_count() > 0
                and all(s.get_publisher_count() > 0 for s in self.subs)
            ),
            timeout,
            "node start-up",
        )

    def send(self, msg: Any, stamp_s: float, frame_id: str = "camera") -> None:
        msg.header.stamp.sec = int(stamp_s)
        msg.header.stamp.nanosec = int(round((stamp_s - int(stamp_s)) * 1e9))
        msg.header.frame_id = frame_id
        self.pub.publish(msg)

    def outputs_for(self, name: str, stamp_s: float) -> list[Any]:
        sec, nanosec = int(stamp_s), int(round((stamp_s - int(stamp_s)) * 1e9))
        return [
            m
            for m in self.received[name]
            if (m.header.stamp.sec, m.header.stamp.nanosec) == (sec, nanosec)
        ]

    def wait_outputs(
        self,
        stamp_s: float,
        names: tuple[str, ...] = ("labels", "occupancy"),
        timeout: float = 60.0,
    ):
        self.spin_until(
            lambda: all(self.outputs_for(n, stamp_s) for n in names),
            timeout,
            f"outputs {names} for stamp {stamp_s}",
        )
        return {n: self.outputs_for(n, stamp_s)[0] for n in names}

    def diagnostic_value(self, key: str) -> str | None:
        for array in reversed(self.diagnostics):
            for status in array.status:
                if status.name.startswith(self.proc.fqn + ":"):
                    for kv in status.values:
                        if kv.key == key:
                            return kv.value
        return None

    def statuses(self) -> list[Any]:
        """Every DiagnosticStatus this node published so far, oldest first."""
        return [
            s
            for array in self.diagnostics
            for s in array.status
            if s.name.startswith(self.proc.fqn + ":")
        ]

    def lifecycle_state(self, timeout: float = 20.0) -> str:
        """The node's lifecycle state label (``unconfigured``, ``inactive``, ``active``, ...)."""
        client = self._lifecycle_client(GetState, "get_state", timeout)
        future = client.call_async(GetState.Request())
        self.spin_until(future.done, timeout, "get_state reply")
        return future.result().current_state.label

    def transition(self, transition_id: int, timeout: float = 120.0) -> bool:
        """Request ``Transition.TRANSITION_*`` (as ``ros2 lifecycle set`` does); whether it succeeded."""
        client = self._lifecycle_client(ChangeState, "change_state", timeout)
        future = client.call_async(ChangeState.Request(transition=Transition(id=transition_id)))
        self.spin_until(future.done, timeout, f"change_state {transition_id} reply")
        return future.result().success

    def _lifecycle_client(self, srv_type: Any, name: str, timeout: float) -> Any:
        if name not in self._clients:
            self._clients[name] = self.node.create_client(srv_type, f"{self.proc.fqn}/{name}")
        client = self._clients[name]
        self.spin_until(client.service_is_ready, timeout, f"the {name} service")
        return client

    def late_label_info(self, timeout: float = 10.0) -> LabelInfo:
        got: list[LabelInfo] = []
        self.node.create_subscription(
            LabelInfo, self.proc.output("label_info"), got.append, LATCHED
        )
        self.spin_until(lambda: bool(got), timeout, "latched label_info")
        return got[0]

    def close(self) -> None:
        self.node.destroy_node()


def rgb_image(rgb: np.ndarray, encoding: str = "rgb8") -> Image:
    """A sensor_msgs/Image of ``rgb`` in ``encoding`` (the codec's encoder, tested separately)."""
    from t2g_ros.image_codec import rgb_to_image_fields

    return Image(**rgb_to_image_fields(rgb, encoding))


def header_tuple(msg: Any) -> tuple[int, int, str]:
    return msg.header.stamp.sec, msg.header.stamp.nanosec, msg.header.frame_id
