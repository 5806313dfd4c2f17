"""The node's output messages as ``rosbags`` dataclasses, under the node's topic names (no rclpy).

``t2g-bag-eval`` writes with these what the live node publishes for the same frame: the same fields
(``msg_fields``, ``image_codec``), the input header on every output, ``label_info`` once and latched.
"""

from __future__ import annotations

from typing import Any

from rosbags.typesys.store import Typestore

from t2g_core.labels import LabelSet
from t2g_ros.bags.io import BagWriter
from t2g_ros.image_codec import rgb_to_image_fields
from t2g_ros.msg_fields import class_occupancy_fields, label_info_entries
from t2g_ros.pipeline import PipelineOutput

#: Where the node's outputs live when it runs as ``/t2g`` (its default name, no namespace).
DEFAULT_PREFIX = "/t2g"
IMAGE_OUTPUTS = ("labels", "color", "overlay", "confidence")
OCCUPANCY, LABEL_INFO = "occupancy", "label_info"


def declare_outputs(writer: BagWriter, prefix: str = DEFAULT_PREFIX) -> None:
    """Add the node's output topics with the QoS it offers (reliable; ``label_info`` transient local)."""
    for name in IMAGE_OUTPUTS:
        writer.add_topic(f"{prefix}/{name}", "sensor_msgs/msg/Image")
    writer.add_topic(f"{prefix}/{OCCUPANCY}", "t2g_msgs/msg/ClassOccupancy")
    writer.add_topic(
        f"{prefix}/{LABEL_INFO}", "t2g_msgs/msg/LabelInfo", durability="transient_local"
    )


def output_messages(
    store: Typestore,
    header: Any,
    out: PipelineOutput,
    label_set: LabelSet,
    prefix: str = DEFAULT_PREFIX,
) -> list[tuple[str, Any]]:
    """``(topic, message)`` for every per-frame output, each with ``header``.

    ``out`` must come from ``process(..., color=True, overlay_image=True, confidence_mono8=True)``;
    confidence is written as mono8, the node's default encoding.
    """
    image = store.types["sensor_msgs/msg/Image"]
    images = {
        "labels": (out.labels, "mono8"),
        "color": (out.color, "rgb8"),
        "overlay": (out.overlay, "rgb8"),
        "confidence": (out.confidence_mono8, "mono8"),
    }
    messages = [
        (
            f"{prefix}/{name}",
            image(header=header, **rgb_to_image_fields(array, encoding, data_type="numpy")),
        )
        for name, (array, encoding) in images.items()
    ]
    fields = class_occupancy_fields(
        out.occupancy,
        label_set,
        reset_reason=out.reset_reason,
        frames_in_memory=out.frames_in_memory,
    )
    messages.append(
        (
            f"{prefix}/{OCCUPANCY}",
            store.types["t2g_msgs/msg/ClassOccupancy"](header=header, **fields),
        )
    )
    return messages


def label_info_message(store: Typestore, header: Any, label_set: LabelSet, threshold: float) -> Any:
    """``t2g_msgs/LabelInfo``: class ids, names and colours, as the node latches it at start-up."""
    classes, colors = label_info_entries(label_set)
    vision_class, color = (
        store.types["t2g_msgs/msg/VisionClass"],
        store.types["std_msgs/msg/ColorRGBA"],
    )
    return store.types["t2g_msgs/msg/LabelInfo"](
        header=header,
        class_map=[vision_class(class_id=class_id, class_name=name) for class_id, name in classes],
        threshold=float(threshold),
        class_colors=[color(r=r, g=g, b=b, a=a) for r, g, b, a in colors],
    )
