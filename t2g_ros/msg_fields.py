"""Field values of t2g's output messages, as plain Python/numpy (no rclpy).

The node splats them into rclpy message classes and the bag tools into ``rosbags`` dataclasses, so
both write identical messages. Primitive arrays are numpy arrays (rosbags wants them; the node converts
them with ``as_ros_sequence``).
"""

from __future__ import annotations

import array
from typing import Any

import numpy as np

from t2g_core.labels import LabelSet
from t2g_core.postprocess import OccupancySummary

# array.array type codes for numpy dtypes of ROS primitive sequences.
_ARRAY_CODES = {np.dtype(np.uint8): "B", np.dtype(np.float32): "f"}


def class_occupancy_fields(
    summary: OccupancySummary,
    label_set: LabelSet,
    *,
    reset_reason: str | None,
    frames_in_memory: int,
) -> dict[str, Any]:
    """``t2g_msgs/ClassOccupancy`` fields except ``header`` (which the caller copies from the input).

    ``frames_in_memory`` fills both its field and the deprecated ``memory_frames``."""
    frames = min(int(frames_in_memory), 255)
    return dict(
        height=summary.height,
        width=summary.width,
        class_ids=np.arange(label_set.num_classes, dtype=np.uint8),
        class_names=list(label_set.names),
        pixel_fraction=np.asarray(summary.pixel_fraction, np.float32),
        mean_confidence=np.asarray(summary.mean_confidence, np.float32),
        unlabelled_fraction=float(summary.unlabelled_fraction),
        grid_rows=summary.grid_rows,
        grid_cols=summary.grid_cols,
        grid_class=np.asarray(summary.grid_class, np.uint8),
        grid_share=np.asarray(summary.grid_share, np.float32),
        stability=float(summary.stability),
        memory_reset=reset_reason is not None,
        memory_reset_reason=reset_reason or "",
        memory_frames=frames,  # deprecated: kept for one release, same value
        frames_in_memory=frames,
    )


def label_info_entries(
    label_set: LabelSet,
) -> tuple[list[tuple[int, str]], list[tuple[float, float, float, float]]]:
    """``(class_id, class_name)`` per class and its colour as RGBA 0..1, for ``t2g_msgs/LabelInfo``."""
    classes = [(class_id, name) for class_id, name in enumerate(label_set.names)]
    colors = [(r / 255.0, g / 255.0, b / 255.0, 1.0) for r, g, b in label_set.colors]
    return classes, colors


def as_ros_sequence(fields: dict[str, Any]) -> dict[str, Any]:
    """Replace numpy arrays by ``array.array``, the type rclpy stores primitive sequences as."""
    return {
        key: array.array(_ARRAY_CODES[value.dtype], value.tobytes())
        if isinstance(value, np.ndarray)
        else value
        for key, value in fields.items()
    }
