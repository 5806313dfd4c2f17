"""t2g-record: record the node's outputs (and optionally its input) from live DDS into an mcap bag.

    t2g-record OUT [--node /t2g] [--input TOPIC] [--topics T ...] [--duration S] [--count N] [--wait S]

Subscriptions are raw (serialized CDR, as ``ros2 bag record`` takes them): each message is written with
its reception time as the log time and keeps its own header stamp. The message types and QoS come from
the publishers found on the graph: best effort if any publisher is, transient local if all are (so the
latched ``label_info`` is recorded too), and that offer is stored in the bag for replay. Recording stops
on Ctrl-C / SIGTERM, after ``--duration`` seconds, or once every topic that is not latched has ``--count``
messages; the bag is closed properly in each case.

The bag is written in a staging folder beside OUT and renamed to OUT once closed
(``t2g_ros.bags.atomic``): a failure, such as a full disk, ends the recording at once with one line and
exit status 1, and leaves nothing at OUT.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import rclpy
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from rclpy.signals import SignalHandlerOptions
from rclpy.utilities import remove_ros_args

from t2g_ros.bags.atomic import StagedOutputs, failure_line
from t2g_ros.bags.io import BagError, BagWriter, stamp_to_ns
from t2g_ros.bags.msg_types import message_class

PROG = "t2g-record"
NODE_OUTPUTS = ("labels", "color", "overlay", "confidence", "occupancy", "label_info")

#: ``on_message(bag_topic, message, received_ns)``: ``message`` is the deserialised rosbags dataclass.
MessageHook = Callable[[str, Any, int], None]


class BagRecorder:
    """Writes live topics into a new bag; ``node`` must be spun for messages to arrive.

    Args:
        node: the rclpy node that owns the subscriptions.
        out: bag directory to create.
        topics: live topic name -> name in the bag (e.g. strip a per-run namespace).
        on_message: called after each message is written.
    """

    def __init__(
        self,
        node: Node,
        out: str | Path,
        topics: dict[str, str],
        *,
        storage: str = "mcap",
        on_message: MessageHook | None = None,
    ) -> None:
        if not topics:
            raise ValueError("name at least one topic to record")
        self.node, self.out, self.storage, self.on_message = node, Path(out), storage, on_message
        self.topics = {node.resolve_topic_name(live): bag for live, bag in topics.items()}
        self.counts: dict[str, int] = {}  # bag topic -> messages written, for the subscribed topics
        self.latched: set[str] = set()
        self._writer: BagWriter | None = None
        self._subscriptions: list[Any] = []

    def unpublished(self, topics: list[str] | None = None) -> list[str]:
        """Live topics (default: all) that no publisher offers yet (their type is unknown until one does)."""
        topics = (
            self.topics if topics is None else [self.node.resolve_topic_name(t) for t in topics]
        )
        return [live for live in topics if not self.node.get_publishers_info_by_topic(live)]

    def wait_for_publishers(
        self,
        timeout_s: float,
        topics: list[str] | None = None,
        alive: Callable[[], bool] = lambda: True,
    ) -> list[str]:
        """Wait until every one of ``topics`` (default: all) has a publisher, ``timeout_s`` passes or
        ``alive()`` turns false; return the live topics still without one."""
        deadline = time.monotonic() + timeout_s
        while (missing := self.unpublished(topics)) and time.monotonic() < deadline and alive():
            time.sleep(0.05)  # polling the graph; nothing is missed, nothing is subscribed yet
        return missing

    def subscribe_available(self) -> list[str]:
        """Open the bag if needed and subscribe to every pending topic that now has a publisher.

        Returns the live topics still without one; call again later to pick them up (as ``ros2 bag
        record`` does, a topic that appears later is recorded from then on).
        """
        pending = []
        for live, bag in self.topics.items():
            if bag in self.counts:
                continue
            offers = self.node.get_publishers_info_by_topic(live)
            if not offers:
                pending.append(live)
                continue
            if self._writer is None:
                self._writer = BagWriter(self.out, storage=self.storage).__enter__()
            msgtype = offers[0].topic_type
            best_effort = any(
                o.qos_profile.reliability == ReliabilityPolicy.BEST_EFFORT for o in offers
            )
            latched = all(
                o.qos_profile.durability == DurabilityPolicy.TRANSIENT_LOCAL for o in offers
            )
            self._writer.add_topic(
                bag,
                msgtype,
                reliability="best_effort" if best_effort else "reliable",
                durability="transient_local" if latched else "volatile",
            )
            if latched:
                self.latched.add(bag)
            qos = QoSProfile(
                depth=1 if latched else 100,
                reliability=ReliabilityPolicy.BEST_EFFORT
                if best_effort
                else ReliabilityPolicy.RELIABLE,
                durability=DurabilityPolicy.TRANSIENT_LOCAL
                if latched
                else DurabilityPolicy.VOLATILE,
            )
            self.counts[bag] = 0
            self._subscriptions.append(
                self.node.create_subscription(
                    message_class(msgtype),
                    live,
                    self._callback(bag, msgtype, self._writer.typestore),
                    qos,
                    raw=True,
                )
            )
        return pending

    def wait_matched(self, timeout_s: float, alive: Callable[[], bool] = lambda: True) -> bool:
        """True once every subscription is matched with a publisher (discovery done both ways)."""
        deadline = time.monotonic() + timeout_s
        while not all(s.get_publisher_count() > 0 for s in self._subscriptions):
            if time.monotonic() > deadline or not alive():
                return False
            time.sleep(0.02)
        return True

    def has_count(self, count: int) -> bool:
        """Every recorded topic that is not latched has at least ``count`` messages."""
        return all(n >= count for bag, n in self.counts.items() if bag not in self.latched)

    def _callback(self, bag: str, msgtype: str, store: Any) -> Callable[[bytes, Any], None]:
        def on_raw(data: bytes, info: Any) -> None:
            if self._writer is None:
                return
            received_ns = info.get("received_timestamp") or time.time_ns()
            message = store.deserialize_cdr(data, msgtype)
            self._writer.write(bag, message, received_ns)
            self.counts[bag] += 1
            if self.on_message is not None:
                self.on_message(bag, message, received_ns)

        return on_raw

    def close(self, *, keep: bool = True) -> None:
        """Unsubscribe and finish the bag (index and metadata.yaml); ``keep=False`` (the recording
        failed) closes it without writing anything more, for the caller to throw away."""
        for subscription in self._subscriptions:
            self.node.destroy_subscription(subscription)
        self._subscriptions.clear()
        if self._writer is not None:
            writer, self._writer = self._writer, None
            if keep:
                writer.__exit__(None, None, None)
            else:
                writer.abort()


def header_stamp_ns(message: Any) -> int | None:
    """The header stamp of a recorded message in ns, ``None`` for types without a header."""
    header = getattr(message, "header", None)
    return stamp_to_ns(header.stamp) if header is not None else None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("out", metavar="OUT", help="bag directory to create (mcap)")
    parser.add_argument(
        "--node", default="/t2g", help="the node's fully qualified name (default /t2g)"
    )
    parser.add_argument("--input", metavar="TOPIC", help="also record this input topic")
    parser.add_argument(
        "--topics", nargs="+", metavar="T", help="record exactly these topics instead"
    )
    parser.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")
    parser.add_argument(
        "--count", type=int, metavar="N", help="stop once every non-latched topic has N messages"
    )
    parser.add_argument(
        "--wait",
        type=float,
        default=30.0,
        metavar="S",
        help="wait up to S seconds for the topics' publishers (default 30)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(remove_ros_args([PROG, *argv])[1:])
    # The input is not waited for: its publisher (a camera, t2g-replay) often starts after the recorder.
    awaited = args.topics or [f"{args.node.rstrip('/')}/{name}" for name in NODE_OUTPUTS]
    live = awaited + ([args.input] if args.input else [])
    # Signals only set a flag, checked between callbacks, so a message is never cut mid-write.
    rclpy.init(args=[PROG, *argv], signal_handler_options=SignalHandlerOptions.NO)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())

    def running() -> bool:
        return not stop.is_set()

    node = rclpy.create_node("t2g_record")
    out = Path(args.out)
    try:
        if out.exists() or out.is_symlink():
            raise BagError(f"{out} exists already, not overwriting; choose another OUT")
        with StagedOutputs(out.parent, out.name) as staged:
            recorder = BagRecorder(node, staged.path(out.name), {topic: topic for topic in live})
            try:
                status = _record(recorder, args, awaited, running)
            except BaseException:
                recorder.close(keep=False)  # the staging folder goes with it
                raise
            recorder.close()
            if staged.path(out.name).exists():
                staged.commit(replace=False)
                print(
                    f"recorded {sum(recorder.counts.values())} message(s) to {out}: "
                    + ", ".join(f"{topic} {n}" for topic, n in recorder.counts.items())
                )
        return status
    except (BagError, OSError, ValueError) as exc:
        print(f"{PROG}: error: {failure_line(exc, out)}", file=sys.stderr)
        return 1
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


def _record(
    recorder: BagRecorder, args: argparse.Namespace, awaited: list[str], running: Callable
) -> int:
    """Wait for the publishers, then record until stopped; the exit status (the bag still open)."""
    missing = recorder.wait_for_publishers(args.wait, awaited, alive=running)
    if not running():
        return 0
    if len(missing) == len(awaited):
        print(
            f"{PROG}: error: no publisher on {', '.join(missing)} after {args.wait:g} s",
            file=sys.stderr,
        )
        return 1
    pending = recorder.subscribe_available()
    recorder.wait_matched(args.wait, alive=running)
    print(
        f"recording {len(recorder.counts)} topic(s) to {args.out}"
        + (f"; waiting for {', '.join(pending)}" if pending else ""),
        flush=True,
    )
    deadline = time.monotonic() + args.duration if args.duration else float("inf")
    next_poll = time.monotonic()
    while (
        running()
        and time.monotonic() < deadline
        and not (args.count and recorder.has_count(args.count))
    ):
        # A write error (a full disk) in a callback is raised here, ending the recording at once.
        rclpy.spin_once(recorder.node, timeout_sec=0.05)
        if pending and time.monotonic() >= next_poll:
            pending, next_poll = recorder.subscribe_available(), time.monotonic() + 0.1
    return 0


if __name__ == "__main__":
    sys.exit(main())
