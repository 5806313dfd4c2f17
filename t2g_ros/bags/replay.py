"""t2g-replay: publish a bag's messages to live DDS with their recorded timing (``ros2 bag play`` for this venv).

    t2g-replay IN_BAG [--rate R] [--loop] [--clock] [--topics T ...] [--no-wait] [--ros-args -r FROM:=TO ...]

Messages are read with ``rosbags`` and published as serialized CDR (``Publisher.publish(bytes)``, rclpy's
raw publish): byte-for-byte what was recorded, headers included, without building Python messages.
Timing follows the recorded log times divided by ``--rate``. ``--clock`` also publishes
``rosgraph_msgs/Clock`` on ``/clock`` (the current bag time, before every message and at ``--clock-hz``),
so nodes started with ``use_sim_time:=true`` judge ages in bag time. Looping restarts the bag, so stamps
and the clock jump back: the node resets its temporal memory there.

QoS: reliable, depth 10 by default (``--reliability best_effort`` to change); a reliable publisher feeds
both reliable and best-effort subscriptions, a best-effort one only best-effort ones. ``t2g_msgs/LabelInfo``
topics are republished transient local (latched), as the node offers them. Topics are renamed with
standard ROS remapping (``--ros-args -r /camera/image_raw/compressed:=/cam/image/compressed``).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.publisher import Publisher
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from rclpy.signals import SignalHandlerOptions
from rclpy.utilities import remove_ros_args
from rosgraph_msgs.msg import Clock

from t2g_ros.bags.io import BagError, BagMessage, make_typestore, open_reader, stamp_to_ns
from t2g_ros.bags.msg_types import message_class

PROG = "t2g-replay"
LATCHED_TYPES = ("t2g_msgs/msg/LabelInfo",)


@dataclass(frozen=True)
class _Channel:
    msgtype: str
    publisher: Publisher


class BagPlayer:
    """Publishes a bag's topics from ``node``; the node's remapping rules rename them.

    Args:
        node: the rclpy node that owns the publishers (nothing needs to spin it).
        bag: rosbag2 directory or ``.mcap`` file.
        topics: the bag topics to play; ``None`` = all.
        rate: playback speed factor (> 0); 2.0 plays twice as fast.
        clock: also publish ``/clock`` at ``clock_hz``.
        reliability: ``reliable`` or ``best_effort`` for the data topics.

    Raises:
        BagError: unreadable bag, a topic not in it, or a type without a Python class.
    """

    def __init__(
        self,
        node: Node,
        bag: str | Path,
        *,
        topics: list[str] | None = None,
        rate: float = 1.0,
        clock: bool = False,
        clock_hz: float = 40.0,
        reliability: str = "reliable",
    ) -> None:
        if not rate > 0:
            raise ValueError(f"rate must be > 0, got {rate}")
        if not clock_hz > 0:
            raise ValueError(f"clock rate must be > 0 Hz, got {clock_hz}")
        if reliability not in ("reliable", "best_effort"):
            raise ValueError(f"reliability must be reliable or best_effort, got {reliability!r}")
        self.node, self.bag, self.rate, self.clock_period_s = node, Path(bag), rate, 1.0 / clock_hz
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            self.reader = open_reader(self.bag)
        for warning in caught:  # a truncated bag: play its readable part, say so once
            node.get_logger().warning(str(warning.message))
        self.topics = list(self.reader.topics) if topics is None else list(topics)
        self.counts = {
            topic: self.reader.message_count(topic) for topic in self.topics
        }  # raises for a missing one
        if not any(self.counts.values()):
            self.reader.close()
            raise BagError(
                f"{self.bag} has no messages on {', '.join(self.topics) or 'any topic'}: "
                "nothing to replay"
            )
        policy = (
            ReliabilityPolicy.RELIABLE
            if reliability == "reliable"
            else ReliabilityPolicy.BEST_EFFORT
        )
        self._channels: dict[str, _Channel] = {}
        for topic in self.topics:
            msgtype = self.reader.topics[topic]
            latched = msgtype in LATCHED_TYPES
            qos = QoSProfile(
                depth=1 if latched else 10,
                reliability=policy,
                durability=DurabilityPolicy.TRANSIENT_LOCAL
                if latched
                else DurabilityPolicy.VOLATILE,
            )
            self._channels[topic] = _Channel(
                msgtype, node.create_publisher(message_class(msgtype), topic, qos)
            )
        self._clock = node.create_publisher(Clock, "/clock", QoSProfile(depth=1)) if clock else None

    def live_topic(self, topic: str) -> str:
        """The name ``topic`` is published under after remapping."""
        return self._channels[topic].publisher.topic_name

    def unmatched(self) -> list[str]:
        """Live names of the topics that no subscription listens to yet."""
        return [
            c.publisher.topic_name
            for c in self._channels.values()
            if c.publisher.get_subscription_count() == 0
        ]

    def wait_for_subscribers(self, timeout_s: float) -> list[str]:
        """Wait until every topic has a subscription or ``timeout_s`` passes; return those still without one."""
        deadline = time.monotonic() + timeout_s
        while (missing := self.unmatched()) and time.monotonic() < deadline:
            time.sleep(
                0.02
            )  # polling the graph; discovery takes 0.25 s typically, seconds under load
        return missing

    def play(
        self,
        *,
        loop: bool = False,
        stop: threading.Event | None = None,
        on_publish: Callable[[BagMessage, int], None] | None = None,
        gate: Callable[[BagMessage], None] | None = None,
    ) -> int:
        """Publish the bag (again and again with ``loop``) until done or ``stop`` is set.

        ``on_publish(message, publish_time_ns)`` is called after each message (``time.time_ns()``).
        ``gate(message)``, called when a message is due, may block to hold it back (flow control, e.g.
        until a slow consumer answered the previous one); later messages then follow as soon as they are
        due, never earlier than the recorded timing.
        Returns the number of messages published. A bag error mid-file ends the pass with a logged error.
        """
        stop = stop or threading.Event()
        published = 0
        while not stop.is_set() and rclpy.ok(context=self.node.context):
            published += self._play_once(stop, on_publish, gate)
            if not loop:
                break
        return published

    def _play_once(
        self,
        stop: threading.Event,
        on_publish: Callable[[BagMessage, int], None] | None,
        gate: Callable[[BagMessage], None] | None,
    ) -> int:
        store = self.reader.typestore
        start_wall = bag_start = None
        published = 0
        try:
            for message in self.reader.messages(*self.topics):
                if start_wall is None:
                    start_wall, bag_start = time.monotonic(), message.log_time_ns
                due = start_wall + (message.log_time_ns - bag_start) * 1e-9 / self.rate
                if not self._wait_until(due, message.log_time_ns, start_wall, bag_start, stop):
                    break
                if gate is not None:
                    gate(message)
                self._publish_clock(message.log_time_ns)
                channel = self._channels[message.topic]
                channel.publisher.publish(bytes(store.serialize_cdr(message.msg, channel.msgtype)))
                published += 1
                if on_publish is not None:
                    on_publish(message, time.time_ns())
        except BagError as exc:
            self.node.get_logger().error(f"stopped after {published} messages: {exc}")
        return published

    def _wait_until(
        self, due: float, due_bag_ns: int, start_wall: float, bag_start: int, stop: threading.Event
    ) -> bool:
        """Sleep until ``due`` (monotonic), ticking /clock on the way; False when asked to stop."""
        while (remaining := due - time.monotonic()) > 0:
            step = min(remaining, self.clock_period_s) if self._clock is not None else remaining
            if stop.wait(step) or not rclpy.ok(context=self.node.context):
                return False
            # Capped at the next message's time: a sleep that overshoots must not move the clock past it.
            elapsed_ns = int((time.monotonic() - start_wall) * self.rate * 1e9)
            self._publish_clock(min(bag_start + elapsed_ns, due_bag_ns))
        return not stop.is_set()

    def _publish_clock(self, bag_time_ns: int) -> None:
        if self._clock is not None:
            message = Clock()
            message.clock.sec, message.clock.nanosec = divmod(bag_time_ns, 1_000_000_000)
            self._clock.publish(message)

    def close(self) -> None:
        self.reader.close()


class StampGate:
    """Lockstep flow control for :meth:`BagPlayer.play`: each message is held until ``output_topic``
    carried a message stamped like the previous one (the node answered it), for at most ``timeout_s``.

    Every frame then reaches a node that is slower than the bag's frame rate, at its own stamp, instead
    of the node skipping frames. ``node`` must be spun (e.g. by an executor thread) for answers to arrive.
    """

    def __init__(
        self,
        node: Node,
        output_topic: str,
        *,
        timeout_s: float = 10.0,
        alive: Callable[[], bool] = lambda: True,
    ) -> None:
        self.node, self.topic = node, node.resolve_topic_name(output_topic)
        self.timeout_s, self.alive = timeout_s, alive
        self.answered: set[int] = set()  # header stamps (ns) seen on the output topic
        self.timeouts = 0  # messages released because no answer came in time
        self._previous: int | None = None
        self._store = make_typestore()

    def connect(self, timeout_s: float) -> bool:
        """Subscribe once the output topic has a publisher (its type comes from it) and match it."""
        deadline = time.monotonic() + timeout_s
        while not (offers := self.node.get_publishers_info_by_topic(self.topic)):
            if time.monotonic() > deadline or not self.alive():
                return False
            time.sleep(0.02)
        msgtype = offers[0].topic_type
        best_effort = any(
            o.qos_profile.reliability == ReliabilityPolicy.BEST_EFFORT for o in offers
        )
        qos = QoSProfile(
            depth=100,
            reliability=ReliabilityPolicy.BEST_EFFORT
            if best_effort
            else ReliabilityPolicy.RELIABLE,
        )
        subscription = self.node.create_subscription(
            message_class(msgtype),
            self.topic,
            lambda data: self._on_answer(data, msgtype),
            qos,
            raw=True,
        )
        while subscription.get_publisher_count() == 0:
            if time.monotonic() > deadline or not self.alive():
                return False
            time.sleep(0.02)
        return True

    def __call__(self, message: BagMessage) -> None:
        previous, self._previous = self._previous, message.stamp_ns
        deadline = time.monotonic() + self.timeout_s
        while previous is not None and previous not in self.answered:
            if time.monotonic() > deadline or not self.alive():
                self.timeouts += 1
                return
            time.sleep(0.002)

    def _on_answer(self, data: bytes, msgtype: str) -> None:
        header = getattr(self._store.deserialize_cdr(data, msgtype), "header", None)
        if header is not None:
            self.answered.add(stamp_to_ns(header.stamp))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=__doc__.split("\n\n")[0],
        epilog="Rename topics with --ros-args -r FROM:=TO (standard ROS remapping).",
    )
    parser.add_argument(
        "in_bag", metavar="IN_BAG", help="rosbag2 directory (mcap or sqlite3) or a .mcap file"
    )
    parser.add_argument(
        "--rate", type=float, default=1.0, help="speed factor (default 1.0: recorded timing)"
    )
    parser.add_argument("--loop", action="store_true", help="restart at the end until interrupted")
    parser.add_argument(
        "--clock", action="store_true", help="publish /clock for use_sim_time subscribers"
    )
    parser.add_argument(
        "--clock-hz", type=float, default=40.0, help="/clock rate between messages (default 40)"
    )
    parser.add_argument(
        "--topics", nargs="+", metavar="T", help="bag topics to play (default: all)"
    )
    parser.add_argument(
        "--reliability",
        choices=("reliable", "best_effort"),
        default="reliable",
        help="QoS reliability of the data topics (default reliable)",
    )
    parser.add_argument(
        "--wait",
        type=float,
        default=10.0,
        metavar="S",
        help="wait up to S seconds for a subscriber on every topic before playing (default 10)",
    )
    parser.add_argument("--no-wait", action="store_true", help="start at once, subscribers or not")
    parser.add_argument(
        "--lockstep",
        metavar="OUTPUT_TOPIC",
        help="publish each message only once OUTPUT_TOPIC carried an output with the previous "
        "message's stamp, e.g. /t2g/occupancy (the node's last output per frame): a slow "
        "node then segments every frame. Play only the input topic with it (--topics)",
    )
    parser.add_argument(
        "--lockstep-timeout",
        type=float,
        default=10.0,
        metavar="S",
        help="release a message after S seconds without an answer (default 10)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(remove_ros_args([PROG, *argv])[1:])
    # Python's Ctrl-C handling (KeyboardInterrupt), not rclpy's, which would invalidate the context mid-publish.
    rclpy.init(args=[PROG, *argv], signal_handler_options=SignalHandlerOptions.NO)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM stops like Ctrl-C
    node = rclpy.create_node("t2g_replay")
    executor = (
        SingleThreadedExecutor()
    )  # spins only for --lockstep answers; publishing needs no spinning
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, name="t2g_replay_spin", daemon=True)
    player = None
    try:
        player = BagPlayer(
            node,
            args.in_bag,
            topics=args.topics,
            rate=args.rate,
            clock=args.clock,
            clock_hz=args.clock_hz,
            reliability=args.reliability,
        )
        gate = None
        if args.lockstep:
            gate = StampGate(node, args.lockstep, timeout_s=args.lockstep_timeout)
            spinner.start()
            if not gate.connect(args.wait):
                print(
                    f"{PROG}: error: no publisher on {gate.topic} after {args.wait:g} s",
                    file=sys.stderr,
                )
                return 1
        if not args.no_wait:
            for topic in player.wait_for_subscribers(args.wait):
                print(
                    f"{PROG}: warning: no subscriber on {topic} after {args.wait:g} s; playing anyway",
                    file=sys.stderr,
                )
        started = time.monotonic()
        count = player.play(loop=args.loop, gate=gate)
        print(
            f"published {count} messages on {len(player.topics)} topic(s) in {time.monotonic() - started:.1f} s"
            + (f"; {gate.timeouts} released without an answer" if gate is not None else "")
        )
        return 0
    except KeyboardInterrupt:
        return 0
    except (BagError, OSError, ValueError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    finally:
        executor.shutdown()
        if spinner.is_alive():
            spinner.join(
                timeout=5
            )  # a thread still inside rcl when the node is destroyed aborts the process
        if player is not None:
            player.close()
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    sys.exit(main())
