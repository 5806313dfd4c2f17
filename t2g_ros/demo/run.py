"""t2g-demo (``make demo``): the shipped checkpoint on the shipped sample bag, through the live node.

1. starts the node (``python -m t2g_ros.node`` with ``config/t2g.yaml``, as the launch file does) in a
   per-run namespace, compressed input remapped to the replayed topic; on its backend (onnxruntime
   by default, ``--node-param model.backend:=torch`` for torch), whose ONNX export the demo builds
   first when the cache lacks it, saying so, so the node starts on a ready one;
2. replays the bag over DDS (``t2g_ros.bags.replay``): by default in lockstep, each frame once the node
   answered the previous one but never earlier than recorded, so every frame is segmented at its own
   stamp even where inference is slower than the bag's 25 fps (2 CPU cores); ``--realtime`` keeps only
   the recorded timing, as a camera would, and the node then skips frames;
3. records the input and every output into ``OUT/bag`` (mcap, topics as ``t2g-bag-eval`` writes them:
   ``/t2g/labels`` ..., plus ``/diagnostics``) with ``t2g_ros.bags.record``;
4. runs, offline on the same frames, what a user would pick instead of T2G: the per-frame checkpoint
   and its EMA (alpha tuned on CamVid val by ``make scorecard``), and T2G at memory 1; prints frames
   in/out, latency, and the labels (class shares) and flicker of each (see ``t2g_ros.demo.report``),
   and writes ``OUT/summary.json``, ``OUT/preview.png``, ``OUT/side_by_side.<mp4|webm|gif>`` (input |
   per-frame + EMA | T2G at the bag's frame rate, a browser plays it), ``OUT/side_by_side.png`` (its
   middle frame) and ``OUT/node.log``.

Every wait polls a condition with a deadline, and ``--timeout`` bounds the whole run. The outputs are
written in a staging folder in ``OUT`` (default ``artifacts/demo``) and replace the previous run's
files only once all are complete (``t2g_ros.bags.atomic``); ``OUT/node.log`` is written as the node
runs. A failure ends the run at once with one line and exit status 1, leaving the previous run's
files as they were: the node exiting, the recording thread dying (e.g. on a full disk), or the
timeout. SIGINT exits 130 and SIGTERM 143, the same way.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import threading
import time
import uuid
from functools import partial
from pathlib import Path
from typing import Any

import rclpy
import yaml
from lifecycle_msgs.srv import GetState
from rclpy.executors import SingleThreadedExecutor
from rclpy.signals import SignalHandlerOptions

from t2g_core.export import CalibrationUnavailable
from t2g_core.inference import default_checkpoint, open_segmenter
from t2g_core.resources import shipped_path
from t2g_ros import params as P
from t2g_ros.bags.atomic import Interrupted, StagedOutputs, failure_line, interrupt_on_signals
from t2g_ros.bags.frames import COMPRESSED, IMAGE_TYPES
from t2g_ros.bags.io import BagError, BagMessage, open_reader
from t2g_ros.bags.outputs import DEFAULT_PREFIX, IMAGE_OUTPUTS, LABEL_INFO, OCCUPANCY
from t2g_ros.bags.record import BagRecorder, header_stamp_ns
from t2g_ros.bags.replay import BagPlayer, StampGate
from t2g_ros.demo.report import (
    OFFLINE_EMA,
    OFFLINE_MEMORY_1,
    OFFLINE_PER_FRAME,
    LiveRun,
    analyse,
    diagnostic_values,
    format_summary,
)
from t2g_ros.launcher import start_node, stop_node
from t2g_ros.pipeline import SegmentationPipeline

PROG = "t2g-demo"
#: The EMA weight ``make scorecard`` tuned on CamVid val for the shipped per-frame checkpoint.
EMA_ALPHA = 0.7
PERFRAME_CHECKPOINT = ("checkpoints", "perframe_lite0_camvid.pt")
OUTPUTS = (*IMAGE_OUTPUTS, OCCUPANCY, LABEL_INFO)
PER_FRAME_OUTPUTS = (*IMAGE_OUTPUTS, OCCUPANCY)
#: What a run writes in OUT besides node.log; the previous run's are replaced together.
RESULTS = ("bag", "summary.json", "preview.png", "side_by_side.png")
KEPT = "the previous run's outputs are unchanged"


class DemoError(Exception):
    """The demo cannot go on; the message says why and what to do."""


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        with interrupt_on_signals():  # SIGINT and SIGTERM clean up alike
            summary = run(args)
    except DemoError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    except (BagError, OSError) as exc:
        print(f"{PROG}: error: {failure_line(exc, Path(args.out), KEPT)}", file=sys.stderr)
        return 1
    except Interrupted as exc:
        print(f"{PROG}: interrupted by {exc}; {KEPT}", file=sys.stderr)
        return exc.exit_code
    print("\n".join(format_summary(summary)))
    if summary.get("side_by_side_error"):
        print(f"{PROG}: warning: {summary['side_by_side_error']}", file=sys.stderr)
    written = (
        summary["bag"],
        summary["preview"],
        summary["side_by_side"],
        summary["side_by_side_frame"],
        summary["summary"],
    )
    print("wrote " + ", ".join(str(path) for path in written if path))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--checkpoint", help="T2G checkpoint (default: the shipped checkpoints/t2g_lite0_camvid.pt)"
    )
    parser.add_argument(
        "--baseline-checkpoint",
        help="per-frame checkpoint compared offline, alone and with its EMA (default: the shipped "
        "checkpoints/perframe_lite0_camvid.pt); run at memory 1 whatever its capacity",
    )
    parser.add_argument(
        "--ema-alpha",
        type=float,
        default=EMA_ALPHA,
        help=f"weight of the new frame in the baseline's EMA (default {EMA_ALPHA:g}: tuned on "
        "CamVid val for the shipped per-frame checkpoint, results/scorecard.md)",
    )
    parser.add_argument(
        "--bag", help="bag to replay (default: the shipped data/sample/solidwhiteright)"
    )
    parser.add_argument("--topic", help="image topic in the bag (default: its only image topic)")
    parser.add_argument(
        "--out", default="artifacts/demo", help="output folder (default artifacts/demo)"
    )
    parser.add_argument(
        "--rate", type=float, default=1.0, help="replay speed factor (default 1.0: real time)"
    )
    parser.add_argument(
        "--realtime",
        action="store_true",
        help="replay with the recorded timing only, as a camera would: the node skips the frames "
        "it cannot keep up with. Default: lockstep, each frame once the node answered the "
        "previous one (never earlier than recorded), so every frame is segmented",
    )
    parser.add_argument(
        "--node-param",
        action="append",
        default=[],
        metavar="NAME:=VALUE",
        help="extra node parameter, e.g. model.memory_length:=1 for a per-frame checkpoint",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=600.0,
        metavar="S",
        help="end the whole run with an error after S seconds (default 600; the sample bag "
        "takes about 2 minutes on 2 cores)",
    )
    return parser


class _Guard:
    """Ends the run early, from any wait: ``--timeout`` after the start (the whole run), the spin
    thread's death (an error in a callback, e.g. the recorder's write on a full disk), or the
    node's exit. ``stop`` is set for the first two, so the replay stops between messages."""

    def __init__(self, timeout_s: float, out: Path) -> None:
        self.timeout_s, self.out = timeout_s, out
        self.deadline = time.monotonic() + timeout_s
        self.stop = threading.Event()
        self.worker_error: BaseException | None = None
        self.node_proc: subprocess.Popen | None = None
        self._timer = threading.Timer(timeout_s, self.stop.set)
        self._timer.daemon = True
        self._timer.start()

    def alive(self) -> bool:
        """False once the run must end (every wait polls this)."""
        node_up = self.node_proc is None or self.node_proc.poll() is None
        return node_up and not self.stop.is_set()

    def remaining(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    def check(self, doing: str = "") -> None:
        """Raise DemoError if the spin thread died or the time is up; ``doing`` says where it was."""
        if self.worker_error is not None:
            raise DemoError(
                f"the recording thread failed: {failure_line(self.worker_error, self.out, KEPT)}"
            ) from self.worker_error
        if time.monotonic() >= self.deadline:
            raise DemoError(
                f"the run did not finish within --timeout {self.timeout_s:g} s"
                + (f" ({doing})" if doing else "")
            )

    def spin(self, executor: SingleThreadedExecutor) -> threading.Thread:
        """Spin ``executor`` in a thread whose death stops the run instead of going unnoticed."""

        def target() -> None:
            try:
                executor.spin()
            except BaseException as exc:  # any death ends the run, with its reason
                self.worker_error = exc
                self.stop.set()

        thread = threading.Thread(target=target, name="t2g_demo_spin", daemon=True)
        thread.start()
        return thread

    def cancel(self) -> None:
        self._timer.cancel()


def run(args: argparse.Namespace) -> dict[str, Any]:
    started = time.monotonic()
    out = Path(args.out)
    guard = _Guard(args.timeout, out)
    try:
        checkpoint = _checkpoint(args.checkpoint)
        bag, topic, msgtype = _input(args.bag, args.topic)
        _check_previous(out / "bag")
        with StagedOutputs(out, "demo") as staged:
            summary = _run_staged(args, guard, staged, checkpoint, (bag, topic, msgtype), started)
            guard.check()
            _remove_previous(out)
            staged.commit()
        return summary
    finally:
        guard.cancel()


def _run_staged(
    args: argparse.Namespace,
    guard: _Guard,
    staged: StagedOutputs,
    checkpoint: Path,
    source: tuple[Path, str, str],
    started: float,
) -> dict[str, Any]:
    """The run, its results written into ``staged``; returns the summary with their final paths."""
    bag, topic, msgtype = source
    out, recorded = guard.out, staged.path("bag")
    backend = _node_model_param(args.node_param, "backend")
    precision = (
        _node_model_param(args.node_param, "precision") if backend == "onnxruntime" else "fp32"
    )
    print(
        f"{PROG}: checkpoint {checkpoint} on {backend} ({precision}); bag {bag} ({topic}); "
        f"outputs in {out}/",
        flush=True,
    )
    # Loaded here first, so a broken checkpoint fails before anything starts.
    if not 0 < args.ema_alpha <= 1:
        raise DemoError(f"--ema-alpha must be in (0, 1], got {args.ema_alpha:g}")
    baseline = _checkpoint(args.baseline_checkpoint, shipped=PERFRAME_CHECKPOINT)
    offline = {
        OFFLINE_EMA: (baseline, args.ema_alpha),
        OFFLINE_PER_FRAME: (baseline, None),
        OFFLINE_MEMORY_1: (checkpoint, None),
    }
    try:
        pipelines = {
            name: _offline_pipeline(path, backend, precision, ema_alpha=alpha)
            for name, (path, alpha) in offline.items()
        }
    except ValueError as exc:
        raise DemoError(str(exc)) from exc
    guard.check()
    live, gate = _live_run(args, guard, checkpoint, source, recorded, started)
    print(
        f"{PROG}: live run done after {time.monotonic() - started:.1f} s; running the "
        "per-frame baselines and T2G at memory 1 offline on the same frames",
        flush=True,
    )
    summary = analyse(
        live,
        source_bag=bag,
        input_topic=topic,
        input_type=msgtype,
        recorded_bag=recorded,
        offline=pipelines,
        out_dir=staged.dir,
        check=guard.check,
    )
    for key in ("preview", "side_by_side", "side_by_side_frame"):  # the names they will have
        if summary[key]:
            summary[key] = str(out / Path(summary[key]).name)
    summary.update(
        replay={
            "rate": args.rate,
            "lockstep": gate is not None,
            "lockstep_timeouts": gate.timeouts if gate is not None else None,
        },
        checkpoint=str(checkpoint),
        baseline_checkpoint=str(baseline),
        ema_alpha=args.ema_alpha,
        backend=backend,
        input_bag=str(bag),
        bag=str(out / "bag"),
        summary=str(out / "summary.json"),
        wall_time_s=round(time.monotonic() - started, 1),
    )
    staged.path("summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary


def _live_run(
    args: argparse.Namespace,
    guard: _Guard,
    checkpoint: Path,
    source: tuple[Path, str, str],
    recorded: Path,
    started: float,
) -> tuple[LiveRun, StampGate | None]:
    """Node, replay and recorder over DDS; the bag is recorded to ``recorded``."""
    bag, topic, msgtype = source
    out = guard.out
    namespace = f"/t2g_demo_{uuid.uuid4().hex[:8]}"
    live_input = f"{namespace}{topic}"
    # Lockstep sends each frame once, so the node must not lose the first one: a best-effort reader drops
    # what a writer sends before the reader has discovered it; a reliable reader gets it once matched.
    # Nor may it drop a frame as stale: the first one can wait in the node's mailbox while the model warms
    # up, and a frame dropped in lockstep is never answered, so every later frame waits behind it.
    reliability = [] if args.realtime else ["input.reliability:=reliable", "input.max_age_s:=0.0"]
    compressed = msgtype == COMPRESSED
    # The shipped parameter file, as the launch file starts the node, then the overrides.
    node_proc = start_node(
        namespace,
        params_file=shipped_path("config", "t2g.yaml"),
        parameters={"model.checkpoint": checkpoint.resolve(), "input.compressed": compressed},
        remaps={"image/compressed" if compressed else "image": live_input},
        overrides=reliability + args.node_param,
        log=out / "node.log",
    )
    guard.node_proc = node_proc
    live = LiveRun()
    # Python's own Ctrl-C handling: KeyboardInterrupt in this thread runs the clean-up below with a valid
    # context (rclpy's handler would invalidate it first, and the bag could not be closed properly).
    rclpy.init(signal_handler_options=SignalHandlerOptions.NO)
    try:
        demo_node = rclpy.create_node(
            "t2g_demo", cli_args=["--ros-args", "-r", f"{topic}:={live_input}"]
        )
        player = BagPlayer(demo_node, bag, topics=[topic], rate=args.rate)
        recorder = BagRecorder(
            demo_node,
            recorded,
            _recorded_topics(namespace, topic, live_input),
            on_message=_tracker(live, f"{namespace}/t2g:"),
        )
        executor = SingleThreadedExecutor()
        executor.add_node(demo_node)
        spinner = guard.spin(executor)
        # The node publishes occupancy last for each frame: its stamp means the frame is answered.
        gate = (
            None
            if args.realtime
            else StampGate(demo_node, f"{namespace}/t2g/{OCCUPANCY}", alive=guard.alive)
        )
        finished = False
        try:
            _connect(guard, f"{namespace}/t2g", player, recorder, gate, out / "node.log")
            print(
                f"{PROG}: node up after {time.monotonic() - started:.1f} s; replaying "
                f"{player.counts[topic]} frames at rate {args.rate:g}{'' if args.realtime else ', lockstep'}",
                flush=True,
            )
            player.play(on_publish=lambda m, t: _published(live, m, t), gate=gate, stop=guard.stop)
            guard.check()
            _wait_for_last_outputs(live, guard)
            finished = True
        finally:
            executor.shutdown()
            spinner.join(timeout=10)
            recorder.close(keep=finished and guard.worker_error is None)
            player.close()
    finally:
        stop_node(node_proc)
        rclpy.try_shutdown()
    guard.check()
    return live, gate


def _checkpoint(given: str | None, *, shipped: tuple[str, ...] | None = None) -> Path:
    """``given``, or the shipped file (``shipped``: its parts under the package; default the T2G one)."""
    if given:
        path = Path(given)
        if not path.is_file():
            raise DemoError(f"checkpoint {path} does not exist")
        return path
    try:
        return shipped_path(*shipped) if shipped else default_checkpoint()
    except FileNotFoundError as exc:
        option = "--baseline-checkpoint" if shipped else "--checkpoint"
        raise DemoError(
            f"the shipped checkpoint is missing: {exc}. It is written by training; until then pass "
            f"{option} PATH (make demo DEMO_ARGS='{option} PATH')"
        ) from None


def _offline_pipeline(
    checkpoint: Path, backend: str, precision: str, *, ema_alpha: float | None
) -> SegmentationPipeline:
    """A memory-1 pipeline on the node's backend and precision, so an onnxruntime export missing
    from the cache is built (once, with a progress line) before the node starts, and the node reuses
    it; int8 without calibration frames runs fp32, as the node does. One thread: the offline pass
    runs beside other jobs, where two threads collapse on 2 cores."""
    opener = partial(
        open_segmenter,
        checkpoint,
        backend=backend,
        memory_length=1,
        ema_alpha=ema_alpha,
        threads=1,
        log=lambda line: print(f"{PROG}: {line}", flush=True),
    )
    try:
        segmenter = opener(precision=precision)
    except CalibrationUnavailable as exc:
        print(f"{PROG}: {precision}: {exc}; running fp32, as the node will", flush=True)
        segmenter = opener(precision="fp32")
    return SegmentationPipeline(segmenter, segmenter.label_set)


def _node_model_param(node_params: list[str], name: str) -> str:
    """The node's ``model.<name>``: the last ``--node-param`` override, else ``config/t2g.yaml``'s."""
    for override in reversed(node_params):
        key, _, value = override.partition(":=")
        if key.strip() == f"model.{name}":
            return value.strip()
    shipped = yaml.safe_load(shipped_path("config", "t2g.yaml").read_text(encoding="utf-8"))
    return shipped["/**"]["ros__parameters"]["model"][name]


def _input(bag: str | None, topic: str | None) -> tuple[Path, str, str]:
    """The bag, its image topic and that topic's type, checked before anything starts."""
    path = Path(bag) if bag else shipped_path("data", "sample", "solidwhiteright")
    try:
        with open_reader(path) as reader:
            images = {t: m for t, m in reader.topics.items() if m in IMAGE_TYPES}
            if topic is None:
                if len(images) != 1:
                    raise DemoError(
                        f"{path} has {len(images)} image topics ({', '.join(images) or 'none'}); "
                        "choose one with --topic"
                    )
                topic = next(iter(images))
            reader.message_count(
                topic
            )  # names the topic and lists the bag's topics when it is absent
            if topic not in images:
                raise DemoError(
                    f"topic {topic!r} in {path} carries {reader.topics[topic]}, not an image"
                )
            return path, topic, images[topic]
    except (BagError, OSError) as exc:
        raise DemoError(str(exc)) from exc


def _check_previous(recorded: Path) -> None:
    """Refuse to replace a ``bag`` that is not a folder of bag files (it may be the user's data)."""
    if recorded.exists() and not (
        recorded.is_dir() and all(p.suffix in (".mcap", ".yaml") for p in recorded.iterdir())
    ):
        raise DemoError(
            f"{recorded} exists and holds more than a bag; move it away or choose --out"
        )


def _remove_previous(out: Path) -> None:
    """The previous run's results (a video of any format included), just before this run's replace them."""
    for path in [*(out / name for name in RESULTS), *out.glob("side_by_side.*")]:
        if path.is_dir() and not path.is_symlink():
            _check_previous(path)
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


def _recorded_topics(namespace: str, topic: str, live_input: str) -> dict[str, str]:
    """Live name -> bag name: the per-run namespace is dropped, so the bag reads like bag-eval's."""
    topics = {f"{namespace}/t2g/{name}": f"{DEFAULT_PREFIX}/{name}" for name in OUTPUTS}
    return {**topics, live_input: topic, "/diagnostics": "/diagnostics"}


def _tracker(live: LiveRun, status_prefix: str):
    def on_message(bag_topic: str, message: Any, received_ns: int) -> None:
        if bag_topic == "/diagnostics":
            values = diagnostic_values(message, status_prefix)
            if values is not None:
                live.diagnostics.append(values)
            return
        stamp = header_stamp_ns(message)
        live.outputs.setdefault(bag_topic, set()).add(stamp)
        if bag_topic == f"{DEFAULT_PREFIX}/labels":
            live.labels_received_ns.setdefault(stamp, received_ns)

    return on_message


def _published(live: LiveRun, message: BagMessage, publish_ns: int) -> None:
    live.published_ns[message.stamp_ns] = publish_ns


def _connect(
    guard: _Guard,
    node_fqn: str,
    player: BagPlayer,
    recorder: BagRecorder,
    gate: StampGate | None,
    log: Path,
) -> None:
    """Wait until the node is up and the DDS links are matched: recorder (and gate) <- node, replay -> node.

    Every wait ends at the run's deadline or when the run must end; the error then says which.
    """

    def ensure(done: bool, waiting_for: str) -> None:
        if done:
            return
        if guard.node_proc.poll() is not None:
            raise DemoError(
                f"the node exited with code {guard.node_proc.returncode} during start-up:\n"
                f"{_tail(log)}"
            )
        guard.check(f"waiting for {waiting_for}")

    missing = recorder.wait_for_publishers(guard.remaining(), alive=guard.alive)
    ensure(not missing, f"a publisher on {', '.join(missing)}")
    recorder.subscribe_available()
    ensure(recorder.wait_matched(guard.remaining(), alive=guard.alive), "the recorder to match")
    if gate is not None:
        ensure(gate.connect(guard.remaining()), f"the lockstep gate to match {gate.topic}")
    # The node subscribes at the start of its activation: once it is active it has discovered the
    # player too, and the first frame cannot be lost to discovery.
    active = _wait_active(player.node, node_fqn, guard.remaining(), alive=guard.alive)
    ensure(active, "the node to become active")
    unheard = player.wait_for_subscribers(guard.remaining())
    ensure(not unheard, f"the node to subscribe to {', '.join(unheard)}")


def _wait_active(node: Any, node_fqn: str, timeout: float, *, alive: Any) -> bool:
    """Poll the node's ``~/get_state`` (the node is spun by another thread) until it is active."""
    client = node.create_client(GetState, f"{node_fqn}/get_state")
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and alive():
            if client.service_is_ready():
                future = client.call_async(GetState.Request())
                while not future.done() and time.monotonic() < deadline:
                    time.sleep(0.02)
                if future.done() and future.result().current_state.label == "active":
                    return True
            time.sleep(0.05)  # polling the graph and the state, as the other waits here do
        return False
    finally:
        node.destroy_client(client)


def _answered(live: LiveRun, stamp: int) -> bool:
    return all(
        stamp in live.outputs.get(f"{DEFAULT_PREFIX}/{name}", ()) for name in PER_FRAME_OUTPUTS
    )


def _wait_for_last_outputs(live: LiveRun, guard: _Guard) -> None:
    """Until every per-frame output of the last replayed frame arrived, then one more /diagnostics.

    If the node dropped that frame (stale or bad) it never comes: the wait then ends once no output has
    arrived for a few seconds. The run's end (see :class:`_Guard`) ends it with an error.
    """
    last = max(live.published_ns, default=None)
    quiet_s = 5.0
    seen, seen_at = _received(live), time.monotonic()
    while not _answered(live, last):
        node_proc = guard.node_proc
        if node_proc.poll() is not None:
            raise DemoError(f"the node exited with code {node_proc.returncode} during the replay")
        guard.check("waiting for the last frame's outputs")
        now = time.monotonic()
        if _received(live) != seen:
            seen, seen_at = _received(live), now
        if now - seen_at > quiet_s:
            return
        time.sleep(0.05)
    reports = len(live.diagnostics)
    deadline = time.monotonic() + 3 * P.SPECS["diagnostics_period_s"].default
    while len(live.diagnostics) == reports and time.monotonic() < deadline and guard.alive():
        time.sleep(0.05)


def _received(live: LiveRun) -> int:
    return sum(len(stamps) for stamps in live.outputs.values())


def _tail(log: Path, lines: int = 15) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no log at {log})"


if __name__ == "__main__":
    sys.exit(main())
