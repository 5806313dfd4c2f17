"""The node's output topics: lifecycle publishers (silent unless the node is active) and the message
building for one ``PipelineOutput``, every output with the input header at the input resolution.
``/diagnostics`` is not among them: the node reports its state there whatever the state."""

from __future__ import annotations

from typing import Any

from rclpy.lifecycle import LifecycleNode
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from std_msgs.msg import ColorRGBA

from t2g_core.labels import LabelSet
from t2g_msgs.msg import ClassOccupancy, LabelInfo, VisionClass
from t2g_ros.image_codec import rgb_to_image_fields
from t2g_ros.msg_fields import as_ros_sequence, class_occupancy_fields, label_info_entries
from t2g_ros.pipeline import PipelineOutput

OUTPUT_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE)
LATCHED_QOS = QoSProfile(
    depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
)
IMAGE_TOPICS = ("labels", "color", "overlay", "confidence")


class NodePublishers:
    """``~/labels``, ``~/color``, ``~/overlay``, ``~/confidence`` (Image), ``~/occupancy``,
    ``~/label_info`` (latched), created on ``node``; ``destroy`` removes them."""

    def __init__(self, node: LifecycleNode) -> None:
        self._node = node
        self.images = {
            name: node.create_lifecycle_publisher(Image, f"~/{name}", OUTPUT_QOS)
            for name in IMAGE_TOPICS
        }
        self.occupancy = node.create_lifecycle_publisher(ClassOccupancy, "~/occupancy", OUTPUT_QOS)
        self.label_info = node.create_lifecycle_publisher(LabelInfo, "~/label_info", LATCHED_QOS)

    def wanted(self, name: str) -> bool:
        """Whether anyone subscribes to image topic ``name`` (optional outputs are drawn only
        then)."""
        return self.images[name].get_subscription_count() > 0

    def publish(
        self, header: Any, out: PipelineOutput, label_set: LabelSet, *, confidence: Any | None
    ) -> None:
        """Publish ``out`` with ``header``; ``confidence``: the ``(H, W)`` image to send (mono8 or
        32FC1), or None to send none."""
        images = {
            "labels": (out.labels, "mono8"),
            "color": (out.color, "rgb8"),
            "overlay": (out.overlay, "rgb8"),
        }
        if confidence is not None:
            encoding = "mono8" if confidence.dtype.itemsize == 1 else "32FC1"
            images["confidence"] = (confidence, encoding)
        for name, (array, encoding) in images.items():
            if array is not None:
                fields = rgb_to_image_fields(array, encoding)
                self.images[name].publish(Image(header=header, **fields))
        fields = class_occupancy_fields(
            out.occupancy,
            label_set,
            reset_reason=out.reset_reason,
            frames_in_memory=out.frames_in_memory,
        )
        self.occupancy.publish(ClassOccupancy(header=header, **as_ros_sequence(fields)))

    def publish_label_info(self, label_set: LabelSet, *, threshold: float, stamp: Any) -> None:
        classes, colors = label_info_entries(label_set)
        msg = LabelInfo(
            class_map=[VisionClass(class_id=i, class_name=n) for i, n in classes],
            threshold=float(threshold),
            class_colors=[ColorRGBA(r=r, g=g, b=b, a=a) for r, g, b, a in colors],
        )
        msg.header.stamp = stamp
        self.label_info.publish(msg)

    def destroy(self) -> None:
        for publisher in (*self.images.values(), self.occupancy, self.label_info):
            self._node.destroy_lifecycle_publisher(publisher)
