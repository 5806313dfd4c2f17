"""t2g_node: the lifecycle node around the core streaming segmenter.

message -> array (image_codec) -> SegmentationPipeline (core segmenter + post-processing) ->
arrays -> messages (publishers), every output with the input header at the input resolution.

Lifecycle (``rclpy.lifecycle``, driven by ``~/change_state`` or by ``main`` itself):
- configure: declare and validate the parameters, create the (silent) publishers;
- activate: open the checkpoint on its backend, warm it up, publish ``~/label_info``, subscribe and
  start the inference thread;
- deactivate: unsubscribe, stop the thread, release the model; cleanup: remove the publishers;
- shutdown: whatever is still held is released.

``main()`` configures and activates the node itself (unless ``autostart:=false``), so ``ros2 run``,
the launch file and ``make demo`` need no lifecycle manager. Run:
``ros2 run t2g_ros t2g_node --ros-args --params-file config/t2g.yaml`` or
``python -m t2g_ros.node``.
"""

from __future__ import annotations

import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rclpy
from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
from rclpy.clock import Clock, ClockType
from rclpy.event_handler import SubscriptionEventCallbacks
from rclpy.exceptions import ParameterException
from rclpy.executors import ExternalShutdownException
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rclpy.time import Time
from sensor_msgs.msg import CompressedImage, Image

from t2g_core.inference import default_checkpoint, open_segmenter
from t2g_ros import params as P
from t2g_ros.clock_offset import ClockOffset
from t2g_ros.diagnostics import diagnostic_array, period_values, problems
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
    ``~/confidence``, ``~/occupancy``, ``~/label_info`` and ``/diagnostics`` while active."""

    def __init__(self, **node_kwargs: Any) -> None:
        super().__init__("t2g", **node_kwargs)
        self.params: P.NodeParams | None = None
        self.pipeline: SegmentationPipeline | None = None
        self.failure: str | None = None  # why the last transition failed, for main()
        self._outputs: NodePublishers | None = None
        self._worker: FrameWorker[_Frame] | None = None
        self._subscription: Any = None
        self._diagnostics_timer: Any = None
        # Held while a frame is processed and while a live update reconfigures the memory, so a step
        # never sees a half-changed memory.
        self._pipeline_lock = threading.Lock()
        self.stats = NodeStats()
        self._last_input_monotonic = time.monotonic()
        self._last_report_monotonic = time.monotonic()
        # Input stamps vs this node's clock (a camera with its own clock): staleness, diagnostics.
        self._clock_offset = ClockOffset()
        self._incompatible_qos: tuple[int, str] = (0, "")  # events so far, the last policy
        self._incompatible_qos_reported = 0
        self._lost_seen = 0  # the subscription's cumulative lost-sample count so far
        self._frame_id = ""

    # ---- transitions ----------------------------------------------------------------------------
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            self._declare_parameters()
            self.params, backend_warning = P.resolve_backend(self._read_parameters())
        except (ValueError, ParameterException) as exc:
            return self._fail("configure", exc)
        if backend_warning is not None:
            self.get_logger().warning(backend_warning)
        self._outputs = NodePublishers(self)
        return super().on_configure(state)

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
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
        self._last_input_monotonic = time.monotonic()  # the model load is no silence of the input
        # On the steady clock: with use_sim_time and no /clock the ROS clock stands still, and
        # diagnostics (the one place that says so) must still flow.
        self._last_report_monotonic = time.monotonic()
        self._diagnostics_timer = self.create_timer(
            self.params.diagnostics_period_s,
            self._publish_diagnostics,
            clock=Clock(clock_type=ClockType.STEADY_TIME),
        )
        return result

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_processing()
        self.pipeline = None  # the model is released; activate loads it again
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release_publishers()
        return super().on_cleanup(state)

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.release()
        return super().on_shutdown(state)

    def release(self) -> None:
        """Stop the inference thread and drop the model and the publishers, whatever the state."""
        self._stop_processing()
        self.pipeline = None
        self._release_publishers()

    def _fail(self, transition: str, exc: Exception) -> TransitionCallbackReturn:
        """Log why (rclpy would swallow the exception) and stay in the previous state."""
        if not self.context.ok():  # Ctrl-C during start-up: the context went away, nothing failed
            self.failure = None
            return FAILURE
        self.failure = str(exc)
        expected = isinstance(exc, (ValueError, OSError, ParameterException))
        self.get_logger().error(
            f"{transition} failed: {exc}" + ("" if expected else "\n" + traceback.format_exc())
        )
        return FAILURE

    # ---- configure ------------------------------------------------------------------------------
    def _declare_parameters(self) -> None:
        """Declare the table once (a second configure after cleanup keeps the current values)."""
        if self.has_parameter(P.PARAMETERS[0].name):
            return
        self.declare_parameters(
            "", [(spec.name, spec.default, P.descriptor(spec)) for spec in P.PARAMETERS]
        )
        self.add_on_set_parameters_callback(self._validate_update)
        self.add_post_set_parameters_callback(self._apply_update)

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
        segmenter = open_segmenter(
            checkpoint,
            backend=params.model_backend,
            device=params.model_device,
            precision=params.model_precision,
            threads=params.model_threads,
            memory_length=params.model_memory_length,
            max_gap_s=params.model_max_gap_s,
            log=self.get_logger().info,
        )  # says when (and why) an onnxruntime export is built: once, on the first start
        pipeline = SegmentationPipeline(segmenter, segmenter.label_set, self._output_options())
        memory = pipeline.memory_length
        self.get_logger().info(
            f"model {Path(checkpoint).name}: {pipeline.label_set.num_classes} classes, backend "
            f"{params.model_backend} on {params.model_device}, "
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
        params = self.params
        self._worker = FrameWorker(self._process, on_error=self._on_worker_error)
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
        if self._subscription is not None:
            self.destroy_subscription(self._subscription)
            self._subscription = None
        if self._diagnostics_timer is not None:
            self.destroy_timer(self._diagnostics_timer)
            self._diagnostics_timer = None
        if self._worker is not None:
            self._worker.stop()
            self._worker = None

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
        self.params = self._read_parameters()
        if self.pipeline is not None:
            self.pipeline.options = self._output_options()
        changes = ", ".join(f"{p.name}={p.value!r}" for p in parameters)
        self.get_logger().info(f"parameters updated: {changes}")

    # ---- input ----------------------------------------------------------------------------------
    def _on_image(self, msg: Any) -> None:
        self.stats.frame_in()
        self._last_input_monotonic = time.monotonic()
        now_ns = self.get_clock().now().nanoseconds
        if now_ns:  # 0: use_sim_time before the first /clock, no time to compare with
            self._clock_offset.observe(stamp_s=_seconds(msg.header.stamp), received_s=now_ns * 1e-9)
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
        if not self.context.ok():
            return  # Ctrl-C shut the context down under a frame in flight: nothing to report
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

    def _process(self, frame: _Frame) -> None:
        params, outputs, msg = self.params, self._outputs, frame.msg
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
        want_confidence = params.output_confidence and outputs.wanted("confidence")
        try:
            decode = compressed_msg_to_rgb if params.input_compressed else image_msg_to_rgb
            rgb = decode(msg, max_pixels=params.input_max_pixels)
            stamp_s = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
            mono8 = params.output_confidence_encoding == "mono8"
            with self._pipeline_lock:
                out = self.pipeline.process(
                    rgb,
                    stamp_s,
                    color=params.output_color and outputs.wanted("color"),
                    overlay_image=params.output_overlay and outputs.wanted("overlay"),
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
        if out.reset_reason is not None:
            self.stats.memory_reset(out.reset_reason)
            if out.reset_reason != "start":
                self.get_logger().info(f"temporal memory reset: {out.reset_reason}")
        self._frame_id = msg.header.frame_id
        confidence = None
        if want_confidence:
            confidence = out.confidence_mono8 if mono8 else out.confidence
        outputs.publish(msg.header, out, self.pipeline.label_set, confidence=confidence)
        processing_ms = (time.monotonic() - started) * 1e3
        self.stats.frame_out(processing_ms, self._frame_age_s(frame) * 1e3)

    # ---- diagnostics ----------------------------------------------------------------------------
    def _publish_diagnostics(self) -> None:
        period = self.stats.snapshot_and_reset()
        now = time.monotonic()
        # Rates over the time that really elapsed (a timer period is a lower bound, not a measure).
        elapsed_s, self._last_report_monotonic = now - self._last_report_monotonic, now
        params, offset = self.params, self._clock_offset.offset_s
        notes = self._clock_notes(offset) + self._qos_notes()
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
            memory_length=self.pipeline.memory_length,
            clock_offset_s=offset,
        )
        array = diagnostic_array(
            name=f"{self.get_fully_qualified_name()}: segmentation",
            hardware_id=self._frame_id,
            found=found,
            values=values,
            stamp=self.get_clock().now().to_msg(),
        )
        try:
            self._outputs.diagnostics.publish(array)
        except Exception:
            if self.context.ok():
                raise
            # SIGINT/SIGTERM shut the context down while this report was being sent: nothing lost.

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


def _bring_up(node: T2GNode) -> None:
    """Configure and activate, as a lifecycle manager would; SystemExit(1) with the reason."""
    for transition in (node.trigger_configure, node.trigger_activate):
        if not node.context.ok():
            return  # Ctrl-C during start-up
        if transition() != SUCCESS and node.context.ok():
            reason = node.failure or "transition failed"
            rclpy.logging.get_logger("t2g").fatal(f"cannot start: {reason}")
            raise SystemExit(1)


# How long main() waits for a signal's shutdown to land after spin() raised (see main).
_SHUTDOWN_GRACE_S = 0.5


def main(args: list[str] | None = None) -> None:
    rclpy.init(args=args)
    node = None
    try:
        node = T2GNode()
        if node.declare_parameter("autostart", True, AUTOSTART).value:
            _bring_up(node)
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception:
        # A signal that shuts the context down while spin() is mid-wait can surface as an RCLError
        # ("context is not valid") or a pybind11 cast error from the executor instead of
        # ExternalShutdownException, sometimes a moment before the shutdown is visible: give it that
        # moment, then treat it as a clean exit. An error with the context still up is real.
        deadline = time.monotonic() + _SHUTDOWN_GRACE_S
        while rclpy.ok() and time.monotonic() < deadline:
            time.sleep(0.02)
        if rclpy.ok():
            raise
    finally:
        if node is not None:
            node.release()  # Ctrl-C ended the context: no transition can run any more
            node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    main()
