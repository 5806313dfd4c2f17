"""Small generated bags for the rosbag workflow tests (images, mono8 ground truth, known stamps)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from t2g_ros.bags.io import BagWriter, make_header, open_reader
from t2g_ros.image_codec import rgb_to_image_fields

T0 = 1_700_000_000_000_000_000  # ns
IMAGE_TOPIC = "/camera/image_raw"
GT_TOPIC = "/camera/labels"


def scene(index: int, shape=(48, 64), *, static: bool = False) -> np.ndarray:
    """``(H, W, 3) uint8`` RGB: smooth gradients that pan 1 px per frame (most pixels stay gray-stable)."""
    shift = 0 if static else index
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    xx = xx + shift
    return np.stack([xx * 3 % 256, yy * 5 % 256, (xx + yy) * 2 % 256], axis=-1).astype(np.uint8)


def image_message(store, rgb: np.ndarray, stamp_ns: int, encoding: str = "rgb8"):
    fields = rgb_to_image_fields(rgb, encoding, data_type="numpy")
    return store.types["sensor_msgs/msg/Image"](
        header=make_header(store, stamp_ns, "camera"), **fields
    )


def write_image_bag(
    path: Path,
    store,
    frames: list[np.ndarray],
    *,
    period_ns: int = 40_000_000,
    storage: str = "mcap",
    topic: str = IMAGE_TOPIC,
    encoding: str = "rgb8",
    labels: list[np.ndarray] | None = None,
) -> list[int]:
    """A bag of ``frames`` as sensor_msgs/Image (plus mono8 ``labels`` on GT_TOPIC); returns the stamps."""
    stamps = [T0 + i * period_ns for i in range(len(frames))]
    with BagWriter(path, storage=storage, typestore=store) as bag:
        bag.add_topic(topic, "sensor_msgs/msg/Image")
        if labels is not None:
            bag.add_topic(GT_TOPIC, "sensor_msgs/msg/Image")
        for i, (rgb, stamp) in enumerate(zip(frames, stamps)):
            bag.write(topic, image_message(store, rgb, stamp, encoding), stamp)
            if labels is not None:
                bag.write(GT_TOPIC, image_message(store, labels[i], stamp, "mono8"), stamp + 1)
    return stamps


def read_topic(path: Path, topic: str) -> list:
    with open_reader(path) as bag:
        return list(bag.messages(topic))
