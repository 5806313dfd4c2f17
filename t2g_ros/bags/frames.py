"""Camera frames and ground-truth label images from a bag, as arrays (no rclpy).

The offline tools accept what the node accepts: ``sensor_msgs/Image`` in any encoding the codec reads, or
``sensor_msgs/CompressedImage``. Ground truth is a ``sensor_msgs/Image`` in ``mono8`` holding class ids.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from t2g_ros.bags.io import BagError, BagReader
from t2g_ros.image_codec import compressed_msg_to_rgb, image_msg_to_rgb

IMAGE = "sensor_msgs/msg/Image"
COMPRESSED = "sensor_msgs/msg/CompressedImage"
IMAGE_TYPES = (IMAGE, COMPRESSED)


def check_topic_type(reader: BagReader, topic: str, allowed: tuple[str, ...]) -> str:
    """The message type of ``topic`` in the bag, which must be one of ``allowed``.

    Raises:
        BagError: the topic is absent (the message lists the bag's topics) or carries another type.
    """
    reader.message_count(topic)  # raises BagError naming the topic and listing the bag's topics
    msgtype = reader.topics[topic]
    if msgtype not in allowed:
        raise BagError(
            f"topic {topic!r} in {reader.path} carries {msgtype}; expected {' or '.join(allowed)}"
        )
    return msgtype


def decode_frame(msgtype: str, msg: Any) -> np.ndarray:
    """``(H, W, 3) uint8`` RGB of an Image or CompressedImage message.

    Raises:
        ImageDecodeError (a ValueError): the message cannot be decoded (the text says which field).
    """
    return compressed_msg_to_rgb(msg) if msgtype == COMPRESSED else image_msg_to_rgb(msg)


def decode_label_image(msg: Any) -> np.ndarray:
    """``(H, W) uint8`` class ids of a ``mono8`` ground-truth Image, honouring ``step``.

    Raises:
        ValueError: another encoding, or ``data`` shorter than ``step * height``.
    """
    if msg.encoding != "mono8":
        raise ValueError(
            f"ground-truth labels must be mono8 class ids, got encoding {msg.encoding!r}"
        )
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    data = np.frombuffer(msg.data, np.uint8)
    if width == 0 or height == 0 or step < width or data.size < step * height:
        raise ValueError(f"mono8 label image {width}x{height} step {step} has {data.size} bytes")
    return data[: step * height].reshape(height, step)[:, :width].copy()
