"""t2g_node: the lifecycle node around the core streaming segmenter.

message -> array (image_codec) -> SegmentationPipeline (core segmenter + post-processing) ->
arrays -> messages (publishers), every output with the input header at the input resolution.

Lifecycle (``rclpy.lifecycle``, driven by ``~/change_state`` or by ``main`` itself):
- construction: declare every parameter (a refused start-up value is declared with its default and
  fails configure with the reason until it is set), start ``/diagnostics`` (the state while not
  active);
- configure: validate the parameters, create the (silent) publishers;
- activate: open the checkpoint on its backend, warm it up, publish ``~/label_info``, subscribe and
  start the inference thread;
- deactivate: unsubscribe, stop the thread without waiting for the frame in progress (discarded: an
  activation generation is checked before publishing), release the model; cleanup: remove the
  publishers;
- shutdown: whatever is still held is released, and ``main`` returns.

``main()`` configures and activates the node itself (unless ``autostart:=false``), so ``ros2 run``,
the launch file and ``make demo`` need no lifecycle manager. SIGINT/SIGTERM stop it between
callbacks (a transition in progress completes; a second signal interrupts it). Run:
``ros2 run t2g_ros t2g_node --ros-args --params-file config/t2g.yaml`` or
``python -m t2g_ros.node``.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
from rclpy.clock import Clock, ClockType
from rclpy.event_handler import SubscriptionEventCallbacks
from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException
from rclpy.executors import SingleThreadedExecutor
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rclpy.signals import SignalHandlerOptions
from rclpy.time import Time
from sensor_msgs.msg import CompressedImage, Image

from t2g_core.export import CalibrationUnavailable
from t2g_core.inference import default_checkpoint, open_segmenter
from t2g_ros import params as P
from t2g_ros.clock_offset import ClockOffset
from t2g_ros.diagnostics import (
    diagnostic_array,
    memory_notes,
    period_values,
    problems,
    state_report,
)
from t2g_ros.image_codec import ImageTooLargeError, compressed_msg_to_rgb, image_msg_to_rgb
from t2g_ros.pipeline import OutputOptions, SegmentationPipeline
from t2g_ros.publishers import NodePublishers
from t2g_ros.stats import NodeStats
from t2g_ros.worker import FrameWorker

# Warm-up frame (H, W, 3): the first real frame then costs what every later one does.
WARMUP_SHAPE = (360, 480, 3)
MEMORY_PARAMETERS = ("model.memory_length", "model.max_gap_s")
LOST_COUNT_SANE = 1 << 24  # a lost-sample count change above this is a DDS placeholder, not frames
SUCCESS, FAILURE = TransitionCallbackReturn.SUCCESS, TransitionCallbackReturn.FAILURE
AUTOSTART = ParameterDescriptor(
    description="main() configures and activates the node; false = stay unconfigured for a "
    "lifecycle manager (or ros2 lifecycle set)",
    read_only=True,
)


@dataclass(frozen=True)
class _Frame:
    msg: Any  # sensor_msgs/Image or CompressedImage
    received_monotonic: float


class T2GNode(LifecycleNode):
    """Segments ``image`` (or ``image/compressed``) into ``~/labels``, ``~/color``, ``~/overlay``,
    ``~/confidence``, ``~/occupancy`` and ``~/label_info`` while active, and reports on
    ``/diagnostics`` in every state.

    Args:
        argv: the command line, to find ``-p`` values that rcl dropped in favour of a
            ``--params-file`` value of another type.
    """

    def __init__(self, *, argv: Sequence[str] = (), **node_kwargs: Any) -> None:
        super().__init__("t2g", **node_kwargs)
        self.params: P.NodeParams | None = None
        self.pipeline: SegmentationPipeline | None = None
        self.failure: str | None = None  # why the last transition failed, for main()
        self.finalized = False  # shut down: main() returns
        self._configured = False
        self._active = False
        self._outputs: NodePublishers | None = None
        self._worker: FrameWorker[_Frame] | None = None
        self._stopped_worker: FrameWorker[_Frame] | None = None  # may still finish a frame
        self._subscription: Any = None
        # Held while a frame is processed and while a live update reconfigures the memory, so a step
        # never sees a half-changed memory.
        self._pipeline_lock = threading.Lock()
        # Activations and deactivations so far: a frame publishes only while the activation it was
        # taken in lasts (checked under the lock deactivate takes to count itself).
        self._generation = 0
        self._publish_lock = threading.Lock()
        self.stats = NodeStats()
        self._last_input_monotonic = time.monotonic()
        self._last_report_monotonic = time.monotonic()
        # Input stamps vs this node's clock (a camera with its own clock): staleness, diagnostics.
        self._clock_offset = ClockOffset()
        self._incompatible_qos: tuple[int, str] = (0, "")  # events so far, the last policy
        self._incompatible_qos_reported = 0
        self._lost_seen = 0  # the subscription's cumulative lost-sample count so far
        self._frame_id = ""
        self._refused = self._declare_parameters(argv)
        self._diagnostics = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._diagnostics_timer: Any = None
        self._start_diagnostics()

    # ---- transitions ----------------------------------------------------------------------------
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            if self._refused:
                raise ValueError(
                    "start-up parameter values refused (set them, then configure again): "
                    + "; ".join(self._refused.values())
                )
            self.params, backend_warning = P.resolve_backend(self._read_parameters())
        except ValueError as exc:
            return self._fail("configure", exc)
        if backend_warning is not None:
            self.get_logger().warning(backend_warning)
        self._outputs = NodePublishers(self)
        self._configured = True
        self.failure = None
        self._start_diagnostics()  # its period may have been set while unconfigured
        return super().on_configure(state)

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        # The previous activation's frame in flight, if any, ends (discarded) before a model loads.
        self._join_stopped_worker()
        # Subscribed first: a camera or bag player that starts publishing once it sees the
        # subscription has been discovered by the time the node is active, so no first frame is
        # lost to discovery. Frames wait in DDS (depth input.depth) until the transition returns.
        self._subscribe()
        try:
            self.pipeline = self._open_pipeline()
            self._warm_up()
        except Exception as exc:  # missing/broken checkpoint, memory too long, no GPU, a bug
            self._stop_processing()
            self.pipeline = None
            return self._fail("activate", exc)
        result = super().on_activate(state)  # enables the lifecycle publishers
        self._outputs.publish_label_info(
            self.pipeline.label_set,
            threshold=self.params.output_confidence_threshold,
            stamp=self.get_clock().now().to_msg(),
        )
        self._worker.start()
        self._active = True
        self.failure = None
        self._last_input_monotonic = time.monotonic()  # the model load is no silence of the input
        self.stats.snapshot_and_reset()  # the first report covers this activation only
        self._last_report_monotonic = time.monotonic()
        return result

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_processing()
        self.pipeline = None  # released once the frame in flight, if any, is discarded
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release_publishers()
        self._configured = False
        return super().on_cleanup(state)

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.release()
        self.finalized = True
        return super().on_shutdown(state)

    def release(self, timeout_s: float = 5.0) -> None:
        """Stop the inference thread (waiting up to ``timeout_s`` for a frame in flight, which is
        discarded) and drop the model and the publishers, whatever the state."""
        self._stop_processing()
        self._join_stopped_worker(timeout_s)
        self.pipeline = None
        self._release_publishers()
        self._configured = False

    def _fail(self, transition: str, exc: Exception) -> TransitionCallbackReturn:
        """Log why (rclpy would swallow the exception) and stay in the previous state."""
        self.failure = f"{transition} failed: {exc}"
        expected = isinstance(exc, (ValueError, OSError))
        self.get_logger().error(self.failure + ("" if expected else "\n" + traceback.format_exc()))
        return FAILURE

    # ---- parameters: declared once, at construction -------------------------------------------
    def _declare_parameters(self, argv: Sequence[str]) -> dict[str, str]:
        """Declare the whole table and return ``{name: why its start-up value was refused}``.

        A refused value (wrong type, out of range, a ``-p`` value rcl dropped) is declared with its
        default and keeps configure failing until it is set: a declaration that stopped at the first
        bad value would leave the rest undeclared and nothing to correct.
        """
        refused = {}
        table = [(spec.name, spec.default, P.descriptor(spec)) for spec in P.PARAMETERS]
        for name, default, descriptor in [("autostart", True, AUTOSTART), *table]:
            try:
                self.declare_parameter(name, default, descriptor)
            except (InvalidParameterTypeException, InvalidParameterValueException) as exc:
                refused[name] = f"{name}: {exc}"
                self.declare_parameter(name, default, descriptor, ignore_override=True)
        for name, value in P.command_line_values(argv).items():
            declared = self.get_parameter(name).value
            if name in refused or (value == declared and type(value) is type(declared)):
                continue
            reason = P.validate(name, value) or f"the parameters file's {declared!r} was kept"
            refused[name] = f"-p {name}:={value!r} was not applied: {reason}"
        # The overrides rcl resolved for this node (its name, /** and -p): rclpy keeps them only here.
        unknown = P.unknown_names(self._parameter_overrides)
        if unknown:
            self.get_logger().warning(
                "unknown parameter(s), ignored: " + ", ".join(unknown) + " (config/t2g.yaml lists "
                "the node's parameters)"
            )
        self.add_on_set_parameters_callback(self._validate_update)
        self.add_post_set_parameters_callback(self._apply_update)
        return refused

    def _read_parameters(self) -> P.NodeParams:
        values = {spec.name: self.get_parameter(spec.name).value for spec in P.PARAMETERS}
        problems = [reason for name, value in values.items() if (reason := P.validate(name, value))]
        if problems:
            raise ValueError("invalid parameters: " + "; ".join(problems))
        return P.NodeParams.from_values(values)

    # ---- activate / deactivate ------------------------------------------------------------------
    def _open_pipeline(self) -> SegmentationPipeline:
        params = self.params
        checkpoint = params.model_checkpoint or str(default_checkpoint())
        opener = partial(
            open_segmenter,
            checkpoint,
            backend=params.model_backend,
            device=params.model_device,
            threads=params.model_threads,
            memory_length=params.model_memory_length,
            max_gap_s=params.model_max_gap_s,
            log=self.get_logger().info,
        )  # says when (and why) an onnxruntime export is built: once, on the first start
        precision = params.model_precision
        try:
            segmenter = opener(precision=precision)
        except CalibrationUnavailable as exc:
            # Only the int8 export's first build needs CamVid train frames; without them the node
            # still runs, at fp32, and says how to get int8.
            self.get_logger().warning(f"model.precision {precision}: {exc}; running fp32")
            precision = "fp32"
            segmenter = opener(precision=precision)
        pipeline = SegmentationPipeline(segmenter, segmenter.label_set, self._output_options())
        memory = pipeline.memory_length
        self.get_logger().info(
            f"model {Path(checkpoint).name}: {pipeline.label_set.num_classes} classes, backend "
            f"{params.model_backend} on {params.model_device}, {precision}, "
            + (f"temporal, memory {memory}" if memory > 1 else "per-frame")
        )
        return pipeline

    def _warm_up(self) -> None:
        """One step per memory length up to the configured one (each has its own decoder graph on
        onnxruntime), then a fresh memory that reports ``start`` on the first real frame."""
        frame = np.full(WARMUP_SHAPE, 127, np.uint8)
        for index in range(self.pipeline.memory_length):
            self.pipeline.process(frame, 0.04 * index)
        self.pipeline.reset("start")

    def _subscribe(self) -> None:
        """The input subscription and the (not yet started) worker it hands frames to."""
        params, generation = self.params, self._generation
        self._worker = FrameWorker(
            lambda frame: self._process(frame, generation), on_error=self._on_worker_error
        )
        reliability = (
            ReliabilityPolicy.RELIABLE
            if params.input_reliability == "reliable"
            else ReliabilityPolicy.BEST_EFFORT
        )
        msg_type, topic = (
            (CompressedImage, "image/compressed") if params.input_compressed else (Image, "image")
        )
        self._last_input_monotonic = time.monotonic()
        self._clock_offset.reset()
        self._lost_seen = 0
        qos = QoSProfile(depth=params.input_depth, reliability=reliability)
        # What DDS can tell about frames that never arrive: lost samples (best effort) and
        # publishers whose QoS cannot match this subscription.
        events = SubscriptionEventCallbacks(
            message_lost=self._on_message_lost, incompatible_qos=self._on_incompatible_qos
        )
        self._subscription = self.create_subscription(
            msg_type, topic, self._on_image, qos, event_callbacks=events
        )
        self.get_logger().info(
            f"subscribed to {self._subscription.topic_name} ({msg_type.__name__}, QoS "
            f"{params.input_reliability}, depth {params.input_depth}); outputs reliable depth 1"
        )

    def _stop_processing(self) -> None:
        """Unsubscribe and stop the worker at once: a frame in flight is not waited for, and
        publishes nothing (the generation it was taken in has ended)."""
        with self._publish_lock:
            self._generation += 1
        self._active = False
        if self._subscription is not None:
            self.destroy_subscription(self._subscription)
            self._subscription = None
        if self._worker is not None:
            self._worker.stop()
            self._stopped_worker, self._worker = self._worker, None

    def _join_stopped_worker(self, timeout_s: float | None = None) -> None:
        if self._stopped_worker is not None and self._stopped_worker.join(timeout_s):
            self._stopped_worker = None

    def _release_publishers(self) -> None:
        if self._outputs is not None:
            self._outputs.destroy()
            self._outputs = None

    # ---- parameters -----------------------------------------------------------------------------
    def _output_options(self) -> OutputOptions:
        params = self.params
        return OutputOptions(
            confidence_threshold=params.output_confidence_threshold,
            overlay_alpha=params.output_overlay_alpha,
            grid_rows=params.output_grid_rows,
            grid_cols=params.output_grid_cols,
        )

    def _validate_update(self, parameters: list[Parameter]) -> SetParametersResult:
        """Reject an update with its reason; a memory change is applied here, by the pipeline's
        ``configure`` (the one check of the memory length against the checkpoint)."""
        for parameter in parameters:
            spec = P.SPECS.get(parameter.name)
            if spec is not None and spec.read_only and self._configured:
                return self._reject(
                    f"{parameter.name} is read-only while configured (it takes effect at "
                    "configure): cleanup, set it, configure"
                )
            reason = P.validate(parameter.name, parameter.value)
            if reason is not None:
                return self._reject(reason)
        memory = {p.name: p.value for p in parameters if p.name in MEMORY_PARAMETERS}
        if memory and self.pipeline is not None:
            length = memory.get("model.memory_length", self.params.model_memory_length)
            max_gap_s = float(memory.get("model.max_gap_s", self.params.model_max_gap_s))
            try:
                with self._pipeline_lock:
                    self.pipeline.configure(memory_length=length, max_gap_s=max_gap_s)
            except ValueError as exc:
                return self._reject(f"model.memory_length: {exc}")
        return SetParametersResult(successful=True)

    def _reject(self, reason: str) -> SetParametersResult:
        self.get_logger().warning(f"rejected parameter update: {reason}")
        return SetParametersResult(successful=False, reason=reason)

    def _apply_update(self, parameters: list[Parameter]) -> None:
        for parameter in parameters:
            self._refused.pop(parameter.name, None)  # corrected
        if self._configured:  # else configure reads them
            self.params, _ = P.resolve_backend(self._read_parameters())
        if self.pipeline is not None:
            self.pipeline.options = self._output_options()
        changes = ", ".join(f"{p.name}={p.value!r}" for p in parameters)
        self.get_logger().info(f"parameters updated: {changes}")

    # ---- input ----------------------------------------------------------------------------------
    def _on_image(self, msg: Any) -> None:
        self.stats.frame_in()
        self._last_input_monotonic = time.monotonic()
        stamp = msg.header.stamp
        if stamp.sec < 0:  # before 1970: no stamp at all, which must not move the clock offset
            detail = f"negative header stamp {stamp.sec} s (an uninitialised camera driver?)"
            self.stats.dropped("bad_input", detail)
            self.get_logger().warning(f"dropped a frame: {detail}", throttle_duration_sec=5.0)
            return
        now_ns = self.get_clock().now().nanoseconds
        if now_ns:  # 0: use_sim_time before the first /clock, no time to compare with
            max_age_s = self.params.input_max_age_s
            self._clock_offset.observe(
                stamp_s=_seconds(stamp),
                received_s=now_ns * 1e-9,
                max_jump_s=max_age_s if max_age_s > 0 else None,  # 0: no staleness to protect
            )
        self._worker.put(_Frame(msg, time.monotonic()))

    def _on_message_lost(self, info: Any) -> None:
        lost = info.total_count - self._lost_seen
        if not 0 < lost < LOST_COUNT_SANE:
            return  # Fast DDS also reports unset counts (2^64 - 2^31): no frame behind those
        self._lost_seen = info.total_count
        self.stats.dropped("lost_in_transport", count=lost)
        self.get_logger().warning(
            f"{lost} frame(s) lost in transport on {self._subscription.topic_name}"
            " (larger than the DDS shared-memory segment? README, Reliability)",
            throttle_duration_sec=5.0,
        )

    def _on_incompatible_qos(self, info: Any) -> None:
        self._incompatible_qos = (info.total_count, f"policy id {info.last_policy_kind}")

    # ---- inference thread -----------------------------------------------------------------------
    def _on_worker_error(self, trace: str) -> None:
        self.stats.dropped("internal_error", trace.strip().splitlines()[-1])
        self.get_logger().error("frame processing failed:\n" + trace, throttle_duration_sec=5.0)

    def _frame_age_s(self, frame: _Frame) -> float:
        """now - stamp on this node's clock, less the input clock offset when the stamps come from
        an unsynchronised clock (``input.max_clock_offset_s``)."""
        stamp = Time.from_msg(frame.msg.header.stamp, clock_type=self.get_clock().clock_type)
        age = (self.get_clock().now() - stamp).nanoseconds * 1e-9
        offset = self._clock_offset.offset_s
        if offset is not None and abs(offset) > self.params.input_max_clock_offset_s:
            return age - offset
        return age

    def _process(self, frame: _Frame, generation: int) -> None:
        """Decode, segment and publish one frame taken in activation ``generation``; nothing is
        published once that activation has ended."""
        params, outputs, pipeline, msg = self.params, self._outputs, self.pipeline, frame.msg
        with self._publish_lock:
            if generation != self._generation:
                return  # deactivated before this frame started: the publishers may be gone
            want_color = params.output_color and outputs.wanted("color")
            want_overlay = params.output_overlay and outputs.wanted("overlay")
            want_confidence = params.output_confidence and outputs.wanted("confidence")
        if params.input_max_age_s > 0:
            age = self._frame_age_s(frame)
            if age > params.input_max_age_s:
                self.stats.dropped("stale", f"{age:.2f} s old")
                self.get_logger().warning(
                    f"dropped a stale frame: {age:.2f} s old > input.max_age_s "
                    f"{params.input_max_age_s:g} s",
                    throttle_duration_sec=5.0,
                )
                return
        started = time.monotonic()
        try:
            decode = compressed_msg_to_rgb if params.input_compressed else image_msg_to_rgb
            rgb = decode(msg, max_pixels=params.input_max_pixels)
            mono8 = params.output_confidence_encoding == "mono8"
            if generation != self._generation:
                return self._discard()
            with self._pipeline_lock:
                out = pipeline.process(
                    rgb,
                    _seconds(msg.header.stamp),
                    color=want_color,
                    overlay_image=want_overlay,
                    confidence_mono8=want_confidence and mono8,
                )
        except ImageTooLargeError as exc:  # refused before decoding: a bomb or a 100 MP camera
            self.stats.dropped("too_large", str(exc))
            self.get_logger().warning(
                f"dropped a frame over input.max_pixels: {exc}", throttle_duration_sec=5.0
            )
            return
        except ValueError as exc:  # bad image or frame: drop it, keep running
            self.stats.dropped("bad_input", str(exc))
            self.get_logger().warning(f"dropped a frame: {exc}", throttle_duration_sec=5.0)
            return
        confidence = None
        if want_confidence:
            confidence = out.confidence_mono8 if mono8 else out.confidence
        with self._publish_lock:  # deactivate cannot end the activation halfway through these
            if generation != self._generation:
                return self._discard()
            outputs.publish(msg.header, out, pipeline.label_set, confidence=confidence)
        self._frame_id = msg.header.frame_id
        if out.reset_reason is not None:
            self._memory_reset(out.reset_reason)
        processing_ms = (time.monotonic() - started) * 1e3
        self.stats.frame_out(processing_ms, self._frame_age_s(frame) * 1e3, out.frames_in_memory)

    def _discard(self) -> None:
        self.get_logger().info("deactivated during a frame: its outputs are discarded")

    def _memory_reset(self, reason: str) -> None:
        self.stats.memory_reset(reason)
        if reason != "start":  # counted in diagnostics; the log is for the first of a series
            self.get_logger().info(
                f"temporal memory reset: {reason} (further resets: /diagnostics)",
                throttle_duration_sec=30.0,
            )

    # ---- diagnostics ----------------------------------------------------------------------------
    def _start_diagnostics(self) -> None:
        """The report timer, at ``diagnostics_period_s``, on the steady clock: with use_sim_time and
        no /clock the ROS clock stands still, and diagnostics (the one place that says so) must
        still flow."""
        if self._diagnostics_timer is not None:
            self.destroy_timer(self._diagnostics_timer)
        self._diagnostics_timer = self.create_timer(
            self.get_parameter("diagnostics_period_s").value,
            self._publish_diagnostics,
            clock=Clock(clock_type=ClockType.STEADY_TIME),
        )

    def _publish_diagnostics(self) -> None:
        if self._active:
            array = self._activity_report()
        else:  # monitoring sees the state, not silence
            state = "inactive" if self._configured else "unconfigured"
            level, message = state_report(state, self.failure)
            array = self._diagnostic_array([message], {"state": state}, level=level)
        self._diagnostics.publish(array)

    def _diagnostic_array(self, found: list[str], values: dict, **kwargs: Any) -> DiagnosticArray:
        return diagnostic_array(
            name=f"{self.get_fully_qualified_name()}: segmentation",
            hardware_id=self._frame_id,
            found=found,
            values=values,
            stamp=self.get_clock().now().to_msg(),
            **kwargs,
        )

    def _activity_report(self) -> DiagnosticArray:
        period = self.stats.snapshot_and_reset()
        now = time.monotonic()
        # Rates over the time that really elapsed (a timer period is a lower bound, not a measure).
        elapsed_s, self._last_report_monotonic = now - self._last_report_monotonic, now
        params, offset = self.params, self._clock_offset.offset_s
        memory_length = self.pipeline.memory_length
        notes = self._clock_notes(offset) + self._qos_notes()
        notes += memory_notes(period, memory_length=memory_length, max_gap_s=params.model_max_gap_s)
        for note in notes:  # drops are logged where they happen; these conditions are logged here
            self.get_logger().warning(note, throttle_duration_sec=30.0)
        silent_s = now - self._last_input_monotonic
        found = problems(
            period,
            silent_s=silent_s,
            no_input_warn_s=params.input_no_input_warn_s,
            topic=self._subscription.topic_name,
            publishers=self._subscription.get_publisher_count(),
            max_age_s=params.input_max_age_s,
            notes=notes,
        )
        if silent_s > params.input_no_input_warn_s:
            self.get_logger().warning(found[0], throttle_duration_sec=30.0)
        values = period_values(
            period,
            self.stats.totals,
            elapsed_s=max(elapsed_s, 1e-3),
            overwritten=self._worker.overwritten,
            last_reset_reason=self.stats.last_reset_reason,
            memory_length=memory_length,
            clock_offset_s=offset,
        )
        return self._diagnostic_array(found, values)

    def _clock_notes(self, offset: float | None) -> list[str]:
        clock = self.get_clock()
        if clock.ros_time_is_active and clock.now().nanoseconds == 0:
            return [
                "use_sim_time is true but no /clock has arrived: ROS time stands at 0 "
                "(replay with --clock, or set use_sim_time false)"
            ]
        if offset is None or abs(offset) <= self.params.input_max_clock_offset_s:
            return []
        side = "behind" if offset > 0 else "ahead of"
        return [
            f"input stamps are {abs(offset):.2f} s {side} this node's clock (an unsynchronised "
            "camera clock, or a bag replayed without use_sim_time); staleness counts only the "
            "delay beyond that"
        ]

    def _qos_notes(self) -> list[str]:
        count, policy = self._incompatible_qos
        if count == self._incompatible_qos_reported:
            return []
        self._incompatible_qos_reported = count
        return [
            f"a publisher on {self._subscription.topic_name} offers a QoS this subscription "
            f"cannot match ({policy}; input.reliability is {self.params.input_reliability})"
        ]


def _seconds(stamp: Any) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


def _bring_up(node: T2GNode, stop: _StopOnSignal) -> None:
    """Configure and activate, as a lifecycle manager would; SystemExit(1) with the reason."""
    for transition in (node.trigger_configure, node.trigger_activate):
        if stop.requested:
            return
        if transition() != SUCCESS:
            reason = node.failure or "transition failed"
            rclpy.logging.get_logger("t2g").fatal(f"cannot start: {reason}")
            raise SystemExit(1)


class _StopOnSignal:
    """SIGINT/SIGTERM ask ``main`` to stop between callbacks; a second one interrupts at once.

    rclpy's own handlers shut the context down under whatever callback runs: a transition then
    cannot complete ("Failed to complete transition", an executor traceback at exit)."""

    def __init__(self) -> None:
        self.requested = False
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._handle)

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True


# How often main()'s loop looks at the stop request and the lifecycle state, seconds.
_POLL_S = 0.1


def main(args: list[str] | None = None) -> None:
    argv = sys.argv if args is None else args
    rclpy.init(args=argv, signal_handler_options=SignalHandlerOptions.NO)
    stop = _StopOnSignal()
    node = executor = None
    try:
        node = T2GNode(argv=argv)
        if node.get_parameter("autostart").value:
            _bring_up(node, stop)
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        while not (stop.requested or node.finalized):  # shut down: nothing is left to do
            executor.spin_once(timeout_sec=_POLL_S)
    except KeyboardInterrupt:
        pass  # a second signal, mid-transition
    finally:
        if node is not None:
            node.release()
            node.destroy_node()
        if executor is not None:
            executor.shutdown()
        rclpy.try_shutdown()


if __name__ == "__main__":
    main()
