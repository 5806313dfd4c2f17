"""The node's parameters: declared once, with descriptors, and validated in one place.

``PARAMETERS`` is the single table of names, defaults, types, ranges and descriptions. The node declares
them from it, ``config/t2g.yaml`` mirrors it (a test checks the two agree), and ``validate`` is used
both at start-up (fail loudly) and for run-time updates (reject with a reason). No rclpy import here, so
the table and its validation are testable without ROS.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

from t2g_core.inference.backends import BACKEND_NAMES

RELIABILITIES = ("best_effort", "reliable")
CONFIDENCE_ENCODINGS = ("mono8", "32FC1")


@dataclass(frozen=True)
class Spec:
    """One parameter: ``read_only`` ones need a restart (they shape the model or the subscription)."""

    name: str
    default: Any
    description: str
    read_only: bool = False
    choices: tuple[str, ...] = ()
    min: float | None = None
    max: float | None = None


PARAMETERS: tuple[Spec, ...] = (
    Spec("model.checkpoint", "", "checkpoint file; empty = the shipped T2G checkpoint", read_only=True),
    Spec("model.backend", "torch", "inference runtime", read_only=True, choices=BACKEND_NAMES),
    Spec("model.device", "cpu", "torch device: cpu, cuda or cuda:N", read_only=True),
    Spec("model.threads", 2, "CPU threads for inference", read_only=True, min=1, max=256),
    Spec("model.temporal", True, "temporal memory on; false = per-frame mode"),
    Spec("model.clip_length", 0, "frames in the temporal memory, 1..the checkpoint's T; 0 = the checkpoint's T",
         min=0, max=64),
    Spec("model.max_gap_s", 0.5, "a larger gap between consecutive stamps resets the memory", min=1e-3, max=3600.0),
    Spec("input.compressed", False, "subscribe to image/compressed (CompressedImage) instead of image", read_only=True),
    Spec("input.reliability", "best_effort", "subscription QoS reliability", read_only=True, choices=RELIABILITIES),
    Spec("input.depth", 1, "subscription QoS history depth", read_only=True, min=1, max=100),
    Spec("input.max_age_s", 0.5, "drop frames older than this (now - stamp) at inference; 0 = never", min=0.0, max=3600.0),
    Spec("input.no_input_warn_s", 5.0, "warn when no frame arrived for this long", min=0.1, max=3600.0),
    Spec("output.color", True, "publish ~/color (rgb8)"),
    Spec("output.overlay", True, "publish ~/overlay (rgb8)"),
    Spec("output.overlay_alpha", 0.5, "weight of the colour mask in the overlay", min=0.0, max=1.0),
    Spec("output.confidence", True, "publish ~/confidence"),
    Spec("output.confidence_encoding", "mono8", "mono8 (0-255) or 32FC1 (0-1)", choices=CONFIDENCE_ENCODINGS),
    Spec("output.confidence_threshold", 0.0, "pixels below it are published as 255 (unlabelled)", min=0.0, max=1.0),
    Spec("output.grid_rows", 6, "rows of the ~/occupancy grid", min=1, max=255),
    Spec("output.grid_cols", 8, "columns of the ~/occupancy grid", min=1, max=255),
    Spec("diagnostics_period_s", 1.0, "period of /diagnostics", read_only=True, min=0.05, max=3600.0),
)
SPECS: dict[str, Spec] = {spec.name: spec for spec in PARAMETERS}


@dataclass(frozen=True)
class NodeParams:
    """Typed snapshot of all parameters (attribute = parameter name with '.' replaced by '_')."""

    model_checkpoint: str
    model_backend: str
    model_device: str
    model_threads: int
    model_temporal: bool
    model_clip_length: int
    model_max_gap_s: float
    input_compressed: bool
    input_reliability: str
    input_depth: int
    input_max_age_s: float
    input_no_input_warn_s: float
    output_color: bool
    output_overlay: bool
    output_overlay_alpha: float
    output_confidence: bool
    output_confidence_encoding: str
    output_confidence_threshold: float
    output_grid_rows: int
    output_grid_cols: int
    diagnostics_period_s: float

    @classmethod
    def from_values(cls, values: dict[str, Any]) -> NodeParams:
        """Build from ``{parameter name: value}`` after :func:`validate`; missing names take defaults."""
        merged = {spec.name: values.get(spec.name, spec.default) for spec in PARAMETERS}
        return cls(**{name.replace(".", "_"): value for name, value in merged.items()})


def validate(name: str, value: Any) -> str | None:
    """Return why ``value`` is not acceptable for parameter ``name``, or ``None`` when it is."""
    spec = SPECS.get(name)
    if spec is None:
        return None  # not ours (use_sim_time, qos overrides, ...): rclpy handles it
    expected = type(spec.default)
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if type(value) is not expected:
        return f"{name} must be {expected.__name__}, got {type(value).__name__} {value!r}"
    if spec.choices and value not in spec.choices:
        return f"{name} must be one of {', '.join(spec.choices)}, got {value!r}"
    if isinstance(value, float) and not math.isfinite(value):
        return f"{name} must be finite, got {value!r}"
    if spec.min is not None and value < spec.min:
        return f"{name} must be >= {spec.min}, got {value!r}"
    if spec.max is not None and value > spec.max:
        return f"{name} must be <= {spec.max}, got {value!r}"
    if name == "model.device" and not (value == "cpu" or value == "cuda" or
                                       (value.startswith("cuda:") and value[5:].isdigit())):
        return f"model.device must be cpu, cuda or cuda:N, got {value!r}"
    return None

