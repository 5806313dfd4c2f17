"""t2g_node: the rclpy adapter around the core streaming segmenter.

message -> array (image_codec) -> SegmentationPipeline (core) -> arrays -> messages, every output with the
input header at the input resolution. The subscription callback only parks the newest frame in a
one-item slot; a worker thread decodes, segments and publishes, so the executor never blocks and the
lag never grows. Run: ``ros2 run t2g_ros t2g_node --ros-args --params-file config/t2g.yaml`` or
``python -m t2g_ros.node``.
"""

from __future__ import annotations

import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from rclpy.time import Time
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import ColorRGBA

from t2g_core.inference import default_checkpoint, open_segmenter
from t2g_msgs.msg import ClassOccupancy, LabelInfo, VisionClass
from t2g_ros import params as P
from t2g_ros.image_codec import compressed_msg_to_rgb, image_msg_to_rgb, rgb_to_image_fields
from t2g_ros.latest_slot import LatestSlot
from t2g_ros.msg_fields import as_ros_sequence, class_occupancy_fields, label_info_entries
from t2g_ros.pipeline import OutputOptions, SegmentationPipeline
from t2g_ros.stats import NodeStats, percentile

# Stamps further than this from the node's clock mean the clock cannot judge staleness (a bag replayed
# without use_sim_time, a camera with an unsynchronised clock); the node then measures the age from
# reception instead, and says so once.
CLOCK_MISMATCH_S = 10.0


@dataclass(frozen=True)
class _Frame:
    msg: Any  # sensor_msgs/Image or CompressedImage
    received_monotonic: float


class T2GNode(Node):
    """Segments ``image`` (or ``image/compressed``) into ``~/labels``, ``~/color``, ``~/overlay``,
    ``~/confidence``, ``~/occupancy``, ``~/label_info`` and ``/diagnostics``."""

    def __init__(self, **node_kwargs: Any) -> None:
        super().__init__("t2g", **node_kwargs)
        # Created first: destroy_node() must work even when start-up fails below.
        self._slot: LatestSlot[_Frame] = LatestSlot()
        self._worker: threading.Thread | None = None
        for spec in P.PARAMETERS:
            self.declare_parameter(spec.name, spec.default, ParameterDescriptor(
                description=spec.description, read_only=spec.read_only))
        values = {spec.name: self.get_parameter(spec.name).value for spec in P.PARAMETERS}
        problems = [reason for name, value in values.items() if (reason := P.validate(name, value))]
        if problems:
            raise ValueError("invalid parameters: " + "; ".join(problems))
        self.params = P.NodeParams.from_values(values)
        self.add_on_set_parameters_callback(self._validate_update)
        self.add_post_set_parameters_callback(self._apply_update)

        checkpoint = self.params.model_checkpoint or str(default_checkpoint())
        segmenter = open_segmenter(
            checkpoint, backend=self.params.model_backend, device=self.params.model_device,
            threads=self.params.model_threads, max_gap_s=self.params.model_max_gap_s,
            memory_length=self._memory_length(),
            log=self.get_logger().info)  # says when an onnxruntime export is built on first start
        self.pipeline = SegmentationPipeline(segmenter, segmenter.label_set, self._output_options())
        self.label_set = self.pipeline.label_set
        self.get_logger().info(
            f"model {Path(checkpoint).name}: {self.label_set.num_classes} classes, backend "
            f"{self.params.model_backend} on {self.params.model_device}, "
            f"{'temporal, memory ' + str(self.pipeline.segmenter.memory_length) if self.params.model_temporal else 'per-frame'}")

        out_qos = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE)
        self.pub_labels = self.create_publisher(Image, "~/labels", out_qos)
        self.pub_color = self.create_publisher(Image, "~/color", out_qos)
        self.pub_overlay = self.create_publisher(Image, "~/overlay", out_qos)
        self.pub_confidence = self.create_publisher(Image, "~/confidence", out_qos)
        self.pub_occupancy = self.create_publisher(ClassOccupancy, "~/occupancy", out_qos)
        latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.pub_label_info = self.create_publisher(LabelInfo, "~/label_info", latched)
        self.pub_diagnostics = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._publish_label_info()

        in_qos = QoSProfile(depth=self.params.input_depth, reliability=(
            ReliabilityPolicy.RELIABLE if self.params.input_reliability == "reliable" else ReliabilityPolicy.BEST_EFFORT))
        msg_type, topic = (CompressedImage, "image/compressed") if self.params.input_compressed else (Image, "image")
        self.subscription = self.create_subscription(msg_type, topic, self._on_image, in_qos)
        self.get_logger().info(
            f"subscribed to {self.subscription.topic_name} ({msg_type.__name__}, QoS "
            f"{self.params.input_reliability}, depth {self.params.input_depth}); outputs reliable depth 1")

        self.stats = NodeStats()
        self._last_input_monotonic = time.monotonic()
        self._clock_mismatch_reported = False
        self._frame_id = ""
        self._pending_memory_change = False
        self.create_timer(self.params.diagnostics_period_s, self._publish_diagnostics)
        self._worker = threading.Thread(target=self._run_worker, name="t2g_inference", daemon=True)
        self._worker.start()

    # ---- parameters -----------------------------------------------------------------------------
    def _memory_length(self) -> int | None:
        """Frames in memory: 1 in per-frame mode; ``None`` (the checkpoint's T) for clip_length 0."""
        if not self.params.model_temporal:
            return 1
        return self.params.model_clip_length or None

    def _output_options(self) -> OutputOptions:
        return OutputOptions(confidence_threshold=self.params.output_confidence_threshold,
                             overlay_alpha=self.params.output_overlay_alpha,
                             grid_rows=self.params.output_grid_rows, grid_cols=self.params.output_grid_cols)

    def _validate_update(self, parameters: list[Parameter]) -> SetParametersResult:
        for parameter in parameters:
            reason = P.validate(parameter.name, parameter.value)
            if reason is None and parameter.name == "model.clip_length" and \
                    parameter.value > self.pipeline.segmenter.max_memory_length:
                reason = (f"model.clip_length must be <= {self.pipeline.segmenter.max_memory_length}, "
                          f"the checkpoint's memory length, got {parameter.value}")
            if reason is not None:
                self.get_logger().warning(f"rejected parameter update: {reason}")
                return SetParametersResult(successful=False, reason=reason)
        return SetParametersResult(successful=True)

    def _apply_update(self, parameters: list[Parameter]) -> None:
        values = {spec.name: self.get_parameter(spec.name).value for spec in P.PARAMETERS}
        self.params = P.NodeParams.from_values(values)
        self.pipeline.options = self._output_options()
        names = {p.name for p in parameters}
        if names & {"model.temporal", "model.clip_length", "model.max_gap_s"}:
            # Applied by the worker before its next frame, so a step never sees a half-changed memory.
            self._pending_memory_change = True
        self.get_logger().info("parameters updated: " + ", ".join(f"{p.name}={p.value!r}" for p in parameters))

    # ---- input ----------------------------------------------------------------------------------
    def _on_image(self, msg: Any) -> None:
        self.stats.frame_in()
        self._last_input_monotonic = time.monotonic()
        self._slot.put(_Frame(msg, time.monotonic()))

    # ---- inference thread -----------------------------------------------------------------------
    def _run_worker(self) -> None:
        while not self._slot.closed:
            frame = self._slot.take(timeout=0.5)
            if frame is None:
                continue
            try:
                self._process(frame)
            except Exception:  # never let one frame kill the node; the traceback says what to fix
                self.stats.dropped(problem="internal error")
                self.get_logger().error("frame processing failed:\n" + traceback.format_exc(),
                                        throttle_duration_sec=5.0)

    def _frame_age_s(self, frame: _Frame) -> float:
        stamp = Time.from_msg(frame.msg.header.stamp, clock_type=self.get_clock().clock_type)
        age = (self.get_clock().now() - stamp).nanoseconds * 1e-9
        if -1.0 <= age <= CLOCK_MISMATCH_S:
            return age
        if not self._clock_mismatch_reported:
            self._clock_mismatch_reported = True
            self.get_logger().warning(
                f"input stamps are {age:.1f} s from this node's clock (bag replay without use_sim_time?); "
                "staleness and latency are measured from reception instead")
        return time.monotonic() - frame.received_monotonic

    def _process(self, frame: _Frame) -> None:
        if self._pending_memory_change:
            self._pending_memory_change = False
            self.pipeline.segmenter.configure(memory_length=self._memory_length(),
                                              max_gap_s=self.params.model_max_gap_s)
        msg = frame.msg
        max_age = self.params.input_max_age_s
        if max_age > 0 and self._frame_age_s(frame) > max_age:
            self.stats.dropped(stale=True)
            return
        started = time.monotonic()
        try:
            rgb = compressed_msg_to_rgb(msg) if self.params.input_compressed else image_msg_to_rgb(msg)
            stamp_s = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
            out = self.pipeline.process(
                rgb, stamp_s,
                color=self.params.output_color and self.pub_color.get_subscription_count() > 0,
                overlay_image=self.params.output_overlay and self.pub_overlay.get_subscription_count() > 0,
                confidence_mono8=(self.params.output_confidence and self.params.output_confidence_encoding == "mono8"
                                  and self.pub_confidence.get_subscription_count() > 0))
        except ValueError as exc:  # bad image or frame: drop it, keep running
            self.stats.dropped(problem=str(exc))
            self.get_logger().warning(f"dropped a frame: {exc}", throttle_duration_sec=5.0)
            return
        if out.reset_reason is not None:
            self.stats.memory_reset(out.reset_reason)
            if out.reset_reason != "start":
                self.get_logger().info(f"temporal memory reset: {out.reset_reason}")
        self._frame_id = msg.header.frame_id
        self._publish(msg.header, out)
        processing_ms = (time.monotonic() - started) * 1e3
        self.stats.frame_out(processing_ms, self._frame_age_s(frame) * 1e3)

    # ---- output ---------------------------------------------------------------------------------
    def _publish(self, header: Any, out: Any) -> None:
        self.pub_labels.publish(Image(header=header, **rgb_to_image_fields(out.labels, "mono8")))
        if out.color is not None:
            self.pub_color.publish(Image(header=header, **rgb_to_image_fields(out.color, "rgb8")))
        if out.overlay is not None:
            self.pub_overlay.publish(Image(header=header, **rgb_to_image_fields(out.overlay, "rgb8")))
        if self.params.output_confidence and self.pub_confidence.get_subscription_count() > 0:
            confidence = (out.confidence_mono8 if self.params.output_confidence_encoding == "mono8"
                          else out.confidence)
            encoding = "mono8" if confidence.dtype.itemsize == 1 else "32FC1"
            self.pub_confidence.publish(Image(header=header, **rgb_to_image_fields(confidence, encoding)))
        fields = class_occupancy_fields(out.occupancy, self.label_set, reset_reason=out.reset_reason,
                                        memory_frames=out.memory_frames)
        self.pub_occupancy.publish(ClassOccupancy(header=header, **as_ros_sequence(fields)))

    def _publish_label_info(self) -> None:
        classes, colors = label_info_entries(self.label_set)
        msg = LabelInfo(class_map=[VisionClass(class_id=i, class_name=n) for i, n in classes],
                        threshold=float(self.params.output_confidence_threshold),
                        class_colors=[ColorRGBA(r=r, g=g, b=b, a=a) for r, g, b, a in colors])
        msg.header.stamp = self.get_clock().now().to_msg()
        self.pub_label_info.publish(msg)

    def _publish_diagnostics(self) -> None:
        period = self.stats.snapshot_and_reset()
        elapsed = self.params.diagnostics_period_s
        silent_s = time.monotonic() - self._last_input_monotonic
        level, message = DiagnosticStatus.OK, "ok"
        if silent_s > self.params.input_no_input_warn_s:
            level, message = DiagnosticStatus.WARN, f"no input on {self.subscription.topic_name} for {silent_s:.0f} s"
            self.get_logger().warning(message + " (check the topic name and QoS)", throttle_duration_sec=30.0)
        elif period.problems:
            level, message = DiagnosticStatus.WARN, f"dropped {len(period.problems)} bad frame(s): {period.problems[-1]}"
        values = {
            "input_rate_hz": period.frames_in / elapsed,
            "output_rate_hz": period.frames_out / elapsed,
            "processing_ms_p50": percentile(period.processing_ms, 50),
            "processing_ms_p95": percentile(period.processing_ms, 95),
            "latency_ms_p50": percentile(period.latency_ms, 50),
            "latency_ms_p95": percentile(period.latency_ms, 95),
            "dropped_stale_total": self.stats.totals.dropped_stale,
            "dropped_overwritten_total": self._slot.overwritten,
            "dropped_bad_input_total": self.stats.totals.dropped_bad_input,
            "memory_resets_total": self.stats.totals.memory_resets,
            "last_memory_reset_reason": self.stats.last_reset_reason,
            "mode": "temporal" if self.params.model_temporal else "per-frame",
            "memory_length": self.pipeline.segmenter.memory_length,
        }
        status = DiagnosticStatus(
            level=level, name=f"{self.get_fully_qualified_name()}: segmentation", message=message,
            hardware_id=self._frame_id,
            values=[KeyValue(key=k, value=f"{v:.2f}" if isinstance(v, float) else str(v)) for k, v in values.items()])
        array = DiagnosticArray(status=[status])
        array.header.stamp = self.get_clock().now().to_msg()
        self.pub_diagnostics.publish(array)

    def destroy_node(self) -> None:
        self._slot.close()
        if self._worker is not None and self._worker.is_alive():
            self._worker.join(timeout=5.0)
        super().destroy_node()


def main(args: list[str] | None = None) -> None:
    rclpy.init(args=args)
    node = None
    try:
        node = T2GNode()
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except (ValueError, OSError) as exc:  # bad parameters, missing or broken checkpoint: say why, exit 1
        rclpy.logging.get_logger("t2g").fatal(f"cannot start: {exc}")
        raise SystemExit(1) from exc
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    main()
