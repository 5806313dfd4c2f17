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
from rclpy.exceptions import ParameterException
from rclpy.executors import ExternalShutdownException
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rclpy.time import Time
from sensor_msgs.msg import CompressedImage, Image

from t2g_core.inference import default_checkpoint, open_segmenter
from t2g_ros import params as P
from t2g_ros.diagnostics import diagnostic_array, period_values, status_level
from t2g_ros.image_codec import compressed_msg_to_rgb, image_msg_to_rgb
from t2g_ros.pipeline import OutputOptions, SegmentationPipeline
from t2g_ros.publishers import NodePublishers
from t2g_ros.stats import NodeStats
from t2g_ros.worker import FrameWorker

# Stamps further than this from the node's clock mean the clock cannot judge staleness (a bag
# replayed without use_sim_time, a camera with an unsynchronised clock); the node then measures the
# age from reception instead, and says so once.
CLOCK_MISMATCH_S = 10.0
# Warm-up frame (H, W, 3): the first real frame then costs what every later one does.
WARMUP_SHAPE = (360, 480, 3)
MEMORY_PARAMETERS = ("model.memory_length", "model.max_gap_s")
SUCCESS, FAILURE = TransitionCallbackReturn.SUCCESS, TransitionCallbackReturn.FAILURE
AUTOSTART = ParameterDescriptor(
    description="main() configures and activates the node; false = stay unconfigured for a "
                "lifecycle manager (or ros2 lifecycle set)", read_only=True)


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
        self._clock_mismatch_reported = False
        self._frame_id = ""

    # ---- transitions ----------------------------------------------------------------------------
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            self._declare_parameters()
            self.params = self._read_parameters()
        except (ValueError, ParameterException) as exc:
            return self._fail("configure", exc)
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
        self._outputs.publish_label_info(self.pipeline.label_set,
                                         threshold=self.params.output_confidence_threshold,
                                         stamp=self.get_clock().now().to_msg())
        self._worker.start()
        self._diagnostics_timer = self.create_timer(self.params.diagnostics_period_s,
                                                    self._publish_diagnostics)
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
        self.failure = str(exc)
        expected = isinstance(exc, (ValueError, OSError, ParameterException))
        self.get_logger().error(f"{transition} failed: {exc}"
                                + ("" if expected else "\n" + traceback.format_exc()))
        return FAILURE

    # ---- configure ------------------------------------------------------------------------------
    def _declare_parameters(self) -> None:
        """Declare the table once (a second configure after cleanup keeps the current values)."""
        if self.has_parameter(P.PARAMETERS[0].name):
            return
        self.declare_parameters(
            "", [(spec.name, spec.default, P.descriptor(spec)) for spec in P.PARAMETERS])
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
            checkpoint, backend=params.model_backend, device=params.model_device,
            threads=params.model_threads, memory_length=params.model_memory_length,
            max_gap_s=params.model_max_gap_s,
            log=self.get_logger().info)  # says when an onnxruntime export is built on first start
        pipeline = SegmentationPipeline(segmenter, segmenter.label_set, self._output_options())
        memory = pipeline.memory_length
        self.get_logger().info(
            f"model {Path(checkpoint).name}: {pipeline.label_set.num_classes} classes, backend "
            f"{params.model_backend} on {params.model_device}, "
            + (f"temporal, memory {memory}" if memory > 1 else "per-frame"))
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
        reliability = (ReliabilityPolicy.RELIABLE if params.input_reliability == "reliable"
                       else ReliabilityPolicy.BEST_EFFORT)
        msg_type, topic = ((CompressedImage, "image/compressed") if params.input_compressed
                           else (Image, "image"))
        self._last_input_monotonic = time.monotonic()
        qos = QoSProfile(depth=params.input_depth, reliability=reliability)
        self._subscription = self.create_subscription(msg_type, topic, self._on_image, qos)
        self.get_logger().info(
            f"subscribed to {self._subscription.topic_name} ({msg_type.__name__}, QoS "
            f"{params.input_reliability}, depth {params.input_depth}); outputs reliable depth 1")

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
        return OutputOptions(confidence_threshold=params.output_confidence_threshold,
                             overlay_alpha=params.output_overlay_alpha,
                             grid_rows=params.output_grid_rows, grid_cols=params.output_grid_cols)

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
        self._worker.put(_Frame(msg, time.monotonic()))

    # ---- inference thread -----------------------------------------------------------------------
    def _on_worker_error(self, trace: str) -> None:
        self.stats.dropped(problem="internal error")
        self.get_logger().error("frame processing failed:\n" + trace, throttle_duration_sec=5.0)

    def _frame_age_s(self, frame: _Frame) -> float:
        stamp = Time.from_msg(frame.msg.header.stamp, clock_type=self.get_clock().clock_type)
        age = (self.get_clock().now() - stamp).nanoseconds * 1e-9
        if -1.0 <= age <= CLOCK_MISMATCH_S:
            return age
        if not self._clock_mismatch_reported:
            self._clock_mismatch_reported = True
            self.get_logger().warning(
                f"input stamps are {age:.1f} s from this node's clock (bag replay without "
                "use_sim_time?); staleness and latency are measured from reception instead")
        return time.monotonic() - frame.received_monotonic

    def _process(self, frame: _Frame) -> None:
        params, outputs, msg = self.params, self._outputs, frame.msg
        if params.input_max_age_s > 0 and self._frame_age_s(frame) > params.input_max_age_s:
            self.stats.dropped(stale=True)
            return
        started = time.monotonic()
        want_confidence = params.output_confidence and outputs.wanted("confidence")
        try:
            rgb = compressed_msg_to_rgb(msg) if params.input_compressed else image_msg_to_rgb(msg)
            stamp_s = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
            mono8 = params.output_confidence_encoding == "mono8"
            with self._pipeline_lock:
                out = self.pipeline.process(
                    rgb, stamp_s, color=params.output_color and outputs.wanted("color"),
                    overlay_image=params.output_overlay and outputs.wanted("overlay"),
                    confidence_mono8=want_confidence and mono8)
        except ValueError as exc:  # bad image or frame: drop it, keep running
            self.stats.dropped(problem=str(exc))
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
        silent_s = time.monotonic() - self._last_input_monotonic
        warn_s = self.params.input_no_input_warn_s
        level, message = status_level(period, silent_s=silent_s, no_input_warn_s=warn_s,
                                      topic=self._subscription.topic_name)
        if silent_s > warn_s:
            self.get_logger().warning(message + " (check the topic name and QoS)",
                                      throttle_duration_sec=30.0)
        values = period_values(period, self.stats.totals,
                               elapsed_s=self.params.diagnostics_period_s,
                               overwritten=self._worker.overwritten,
                               last_reset_reason=self.stats.last_reset_reason,
                               memory_length=self.pipeline.memory_length)
        self._outputs.diagnostics.publish(diagnostic_array(
            name=f"{self.get_fully_qualified_name()}: segmentation", hardware_id=self._frame_id,
            level=level, message=message, values=values, stamp=self.get_clock().now().to_msg()))


def _bring_up(node: T2GNode) -> None:
    """Configure and activate, as a lifecycle manager would; SystemExit(1) with the reason."""
    for transition in (node.trigger_configure, node.trigger_activate):
        if transition() != SUCCESS:
            reason = node.failure or "transition failed"
            rclpy.logging.get_logger("t2g").fatal(f"cannot start: {reason}")
            raise SystemExit(1)


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
    finally:
        if node is not None:
            node.release()  # Ctrl-C ended the context: no transition can run any more
            node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    main()
