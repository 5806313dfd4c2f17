"""The node's parameters: declared once, with descriptors, and validated in one place.

``PARAMETERS`` is the single table of names, defaults, types, ranges and descriptions. The node declares
them from it with ``descriptor`` (ranges and allowed values, so ``ros2 param describe`` shows them),
``config/t2g.yaml`` mirrors it (a test checks the two agree), and ``validate`` is used both at start-up
(fail loudly) and for run-time updates (reject with a reason). The memory length is checked against the
checkpoint by the pipeline's ``configure``, the one place that knows the checkpoint's capacity.
``command_line_values`` and ``unknown_names`` find what rcl would drop without a word: a ``-p`` value
of the wrong type beside a ``--params-file`` (rcl keeps the file's), a misspelt name.
No rclpy import here (only the ``rcl_interfaces`` message types).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, ParameterType

from t2g_core.export.quantize import PRECISIONS
from t2g_core.inference.backends import BACKEND_NAMES, BACKENDS, DEFAULT_BACKEND

RELIABILITIES = ("best_effort", "reliable")
CONFIDENCE_ENCODINGS = ("mono8", "32FC1")


@dataclass(frozen=True)
class Spec:
    """One parameter: ``read_only`` ones shape the model or the subscription, so they take effect at
    configure: the node refuses to change them while configured (cleanup, set, configure)."""

    name: str
    default: Any
    description: str
    read_only: bool = False
    choices: tuple[str, ...] = ()
    min: float | None = None
    max: float | None = None


PARAMETERS: tuple[Spec, ...] = (
    Spec(
        "model.checkpoint",
        "",
        "checkpoint file; empty = the shipped T2G checkpoint",
        read_only=True,
    ),
    Spec(
        "model.backend",
        DEFAULT_BACKEND,
        "inference runtime: onnxruntime (CPU; the checkpoint's ONNX export, built once into the "
        "export cache) or torch (CPU or CUDA); a cuda device runs on torch",
        read_only=True,
        choices=BACKEND_NAMES,
    ),
    Spec(
        "model.device",
        "cpu",
        "cpu, cuda or cuda:N; cuda runs on the torch backend whatever model.backend says (WARN)",
        read_only=True,
    ),
    Spec(
        "model.precision",
        "int8",
        "int8 (the backbone statically quantised; onnxruntime backend only; its export is "
        "calibrated on CamVid train frames when first built, and without them the node runs fp32 "
        "with a WARN) or fp32",
        read_only=True,
        choices=PRECISIONS,
    ),
    Spec("model.threads", 2, "CPU threads for inference", read_only=True, min=1, max=256),
    Spec(
        "model.memory_length",
        4,
        "frames in the temporal memory, the current one included; 1 = per-frame; "
        "at most the checkpoint's capacity (4 for the shipped one; a larger value fails start-up)",
        min=1,
        max=64,
    ),
    Spec(
        "model.max_gap_s",
        0.5,
        "a larger gap between consecutive stamps resets the memory",
        min=1e-3,
        max=3600.0,
    ),
    Spec(
        "input.compressed",
        False,
        "subscribe to image/compressed (CompressedImage) instead of image",
        read_only=True,
    ),
    Spec(
        "input.reliability",
        "best_effort",
        "subscription QoS reliability",
        read_only=True,
        choices=RELIABILITIES,
    ),
    Spec("input.depth", 1, "subscription QoS history depth", read_only=True, min=1, max=100),
    Spec(
        "input.max_age_s",
        0.5,
        "drop frames older than this at inference: now - stamp, less the "
        "input clock offset when that exceeds input.max_clock_offset_s; 0 = never",
        min=0.0,
        max=3600.0,
    ),
    Spec(
        "input.max_clock_offset_s",
        0.25,
        "input stamps further than this from the node's clock "
        "(the smallest reception - stamp of the last 5 s; a newer frame more than input.max_age_s "
        "beyond it restarts it) come from an unsynchronised clock: "
        "WARN, and staleness counts only the delay beyond; 0 = always, 1e9 = trust the stamps",
        min=0.0,
        max=1e10,
    ),
    Spec(
        "input.max_pixels",
        4096 * 4096,
        "frames with more pixels are dropped before decoding "
        "(a decompression bomb, a misconfigured camera)",
        min=1,
        max=2**30,
    ),
    Spec(
        "input.no_input_warn_s",
        5.0,
        "warn when no frame arrived for this long",
        min=0.1,
        max=3600.0,
    ),
    Spec("output.color", True, "publish ~/color (rgb8)"),
    Spec("output.overlay", True, "publish ~/overlay (rgb8)"),
    Spec("output.overlay_alpha", 0.5, "weight of the colour mask in the overlay", min=0.0, max=1.0),
    Spec("output.confidence", True, "publish ~/confidence"),
    Spec(
        "output.confidence_encoding",
        "mono8",
        "mono8 (0-255) or 32FC1 (0-1)",
        choices=CONFIDENCE_ENCODINGS,
    ),
    Spec(
        "output.confidence_threshold",
        0.0,
        "pixels below it are published as 255 (unlabelled)",
        min=0.0,
        max=1.0,
    ),
    Spec("output.grid_rows", 6, "rows of the ~/occupancy grid", min=1, max=255),
    Spec("output.grid_cols", 8, "columns of the ~/occupancy grid", min=1, max=255),
    Spec(
        "diagnostics_period_s", 1.0, "period of /diagnostics", read_only=True, min=0.05, max=3600.0
    ),
)
SPECS: dict[str, Spec] = {spec.name: spec for spec in PARAMETERS}
# Parameters of every node (rclpy's own) and the one main() declares: not misspellings of ours.
OTHER_NAMES = ("use_sim_time", "start_type_description_service", "autostart")
OTHER_PREFIXES = ("qos_overrides.",)


@dataclass(frozen=True)
class NodeParams:
    """Typed snapshot of all parameters (attribute = parameter name with '.' replaced by '_')."""

    model_checkpoint: str
    model_backend: str
    model_device: str
    model_precision: str
    model_threads: int
    model_memory_length: int
    model_max_gap_s: float
    input_compressed: bool
    input_reliability: str
    input_depth: int
    input_max_age_s: float
    input_max_clock_offset_s: float
    input_max_pixels: int
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
    if name == "model.device" and not (
        value == "cpu" or value == "cuda" or (value.startswith("cuda:") and value[5:].isdigit())
    ):
        return f"model.device must be cpu, cuda or cuda:N, got {value!r}"
    return None


def command_line_values(argv: Iterable[str]) -> dict[str, Any]:
    """``{name: value}`` of this table's parameters given as ``-p name:=value`` (or ``--param``) in
    the ``--ros-args`` of ``argv``, each value typed as rcl types it.

    rcl merges them with ``--params-file`` values such that a value of another type than the file's
    is dropped without a word; comparing these with the declared values finds them.
    """
    values: dict[str, Any] = {}
    in_ros_args, expect_param = False, False
    for arg in argv:
        if arg == "--ros-args":
            in_ros_args = True
        elif arg == "--":
            in_ros_args = False
        elif in_ros_args and arg in ("-p", "--param"):
            expect_param = True
            continue
        elif expect_param and ":=" in arg:
            name, text = arg.split(":=", 1)
            if name in SPECS and text:
                values[name] = _rcl_value(text)
        expect_param = False
    return values


_TRUE = ("y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON")
_FALSE = ("n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF")


def _rcl_value(text: str) -> Any:
    """A scalar as rcl's YAML parameter parser types it: bool words, integer, double, else string."""
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    for parse in (int, float):
        try:
            return parse(text)
        except ValueError:
            pass
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]  # quoted: a string whatever it looks like
    return text


def unknown_names(names: Iterable[str]) -> list[str]:
    """Each name in ``names`` that is no parameter of the node, with the closest known one."""
    known = [*SPECS, *OTHER_NAMES]
    found = []
    for name in sorted(names):
        if name in known or name.startswith(OTHER_PREFIXES):
            continue
        close = difflib.get_close_matches(name, known, n=1)
        found.append(name + (f" (did you mean {close[0]}?)" if close else ""))
    return found


def resolve_backend(params: NodeParams) -> tuple[NodeParams, str | None]:
    """The backend that can run on ``model.device`` and the precision that backend runs, and a
    warning when either is not the chosen one.

    onnxruntime runs on the CPU only here, so a CUDA device means torch (the GPU path): the node
    warns and uses torch rather than refusing to start, so ``-p model.device:=cuda`` alone works.
    int8 (the default precision) is onnxruntime's quantised backbone; on torch the node runs fp32,
    so ``-p model.backend:=torch`` alone works too.
    """
    warnings = []
    kind = params.model_device.split(":")[0]
    if kind not in BACKENDS[params.model_backend].devices:
        chosen = next(name for name, backend in BACKENDS.items() if kind in backend.devices)
        warnings.append(
            f"model.backend {params.model_backend} runs on the CPU only; model.device "
            f"{params.model_device} runs on the {chosen} backend: using model.backend {chosen}"
        )
        params = replace(params, model_backend=chosen)
    if params.model_backend != "onnxruntime" and params.model_precision != "fp32":
        warnings.append(
            f"model.precision {params.model_precision} is the onnxruntime backend's; "
            f"model.backend {params.model_backend} runs fp32"
        )
        params = replace(params, model_precision="fp32")
    return params, "; ".join(warnings) or None


_TYPES = {
    bool: ParameterType.PARAMETER_BOOL,
    int: ParameterType.PARAMETER_INTEGER,
    float: ParameterType.PARAMETER_DOUBLE,
    str: ParameterType.PARAMETER_STRING,
}


def descriptor(spec: Spec) -> ParameterDescriptor:
    """The ROS descriptor of ``spec``: type, read-only flag, range, and allowed values in the description."""
    text = spec.description
    if spec.choices:
        text += f" (one of: {', '.join(spec.choices)})"
    if spec.read_only:
        # Not the descriptor's read_only: that would forbid correcting a value a configure refused.
        text += " [read-only while configured: cleanup, set it, configure]"
    result = ParameterDescriptor(name=spec.name, type=_TYPES[type(spec.default)], description=text)
    if spec.min is not None and spec.max is not None:
        if isinstance(spec.default, int):
            result.integer_range = [
                IntegerRange(from_value=int(spec.min), to_value=int(spec.max), step=1)
            ]
        else:
            result.floating_point_range = [
                FloatingPointRange(from_value=float(spec.min), to_value=float(spec.max), step=0.0)
            ]
    return result
