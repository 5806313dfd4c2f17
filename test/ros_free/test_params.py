"""The node's parameter table: YAML and table agree, and validation rejects bad values with a reason."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest
import yaml

from t2g_ros import params as P

REPO = Path(__file__).resolve().parents[2]


def _flatten(tree: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def test_yaml_mirrors_the_table_with_the_same_defaults():
    doc = yaml.safe_load((REPO / "config" / "t2g.yaml").read_text())
    values = _flatten(doc["/**"]["ros__parameters"])
    assert set(values) == set(P.SPECS)
    for name, value in values.items():
        assert value == P.SPECS[name].default, (
            f"{name}: YAML {value!r} != declared default {P.SPECS[name].default!r}"
        )
        assert P.validate(name, value) is None


def test_node_params_dataclass_covers_every_parameter():
    assert {f.name for f in fields(P.NodeParams)} == {
        s.name.replace(".", "_") for s in P.PARAMETERS
    }
    params = P.NodeParams.from_values({"output.overlay_alpha": 0.25})
    assert params.output_overlay_alpha == 0.25 and params.model_backend == "onnxruntime"


def test_the_default_backend_is_onnxruntime_in_the_table_and_the_yaml():
    from t2g_core.inference import DEFAULT_BACKEND

    doc = yaml.safe_load((REPO / "config" / "t2g.yaml").read_text())
    assert doc["/**"]["ros__parameters"]["model"]["backend"] == "onnxruntime" == DEFAULT_BACKEND
    assert P.SPECS["model.backend"].default == DEFAULT_BACKEND
    assert P.SPECS["model.device"].default == "cpu"


@pytest.mark.parametrize(
    "backend, device, expected, warns",
    [
        ("onnxruntime", "cpu", "onnxruntime", False),
        ("torch", "cpu", "torch", False),
        ("torch", "cuda:1", "torch", False),
        ("onnxruntime", "cuda", "torch", True),
        ("onnxruntime", "cuda:0", "torch", True),
    ],
)
def test_a_cuda_device_runs_on_torch_with_a_warning(backend, device, expected, warns):
    chosen = P.NodeParams.from_values(
        {"model.backend": backend, "model.device": device, "model.precision": "fp32"}
    )
    resolved, warning = P.resolve_backend(chosen)
    assert resolved.model_backend == expected and resolved.model_device == device
    assert (warning is not None) == warns
    if warns:
        assert device in warning and "using model.backend torch" in warning


@pytest.mark.parametrize(
    "backend, device, precision",
    [("onnxruntime", "cpu", "int8"), ("torch", "cpu", "fp32"), ("onnxruntime", "cuda", "fp32")],
)
def test_the_default_int8_runs_fp32_where_the_backend_is_torch(backend, device, precision):
    chosen = P.NodeParams.from_values({"model.backend": backend, "model.device": device})
    assert chosen.model_precision == "int8"  # the default
    resolved, warning = P.resolve_backend(chosen)
    assert resolved.model_precision == precision
    assert (precision == "fp32") == (
        warning is not None and "model.precision int8 is the onnxruntime backend's" in warning
    )


@pytest.mark.parametrize(
    "name, value, reason",
    [
        ("output.overlay_alpha", 1.5, "<= 1.0"),
        ("output.overlay_alpha", float("nan"), "finite"),
        ("output.grid_rows", 0, ">= 1"),
        ("output.grid_rows", 2.0, "must be int"),
        ("model.backend", "tensorrt", "one of"),
        ("model.device", "gpu0", "cpu, cuda or cuda:N"),
        ("input.reliability", "sometimes", "one of"),
        ("output.color", "yes", "must be bool"),
    ],
)
def test_bad_values_are_rejected_with_a_reason(name, value, reason):
    message = P.validate(name, value)
    assert message is not None and name in message and reason in message


def test_good_values_and_foreign_parameters_pass():
    assert P.validate("output.overlay_alpha", 1) is None  # an int where a float is declared is fine
    assert P.validate("model.device", "cuda:1") is None
    assert P.validate("use_sim_time", True) is None  # not ours: rclpy validates it


def test_descriptors_carry_type_range_choices_and_read_only():
    from rcl_interfaces.msg import ParameterType

    rows = P.descriptor(P.SPECS["output.grid_rows"])
    assert rows.type == ParameterType.PARAMETER_INTEGER and not rows.floating_point_range
    assert (rows.integer_range[0].from_value, rows.integer_range[0].to_value) == (1, 255)
    alpha = P.descriptor(P.SPECS["output.overlay_alpha"])
    assert (alpha.floating_point_range[0].from_value, alpha.floating_point_range[0].to_value) == (
        0.0,
        1.0,
    )
    backend = P.descriptor(P.SPECS["model.backend"])
    assert "one of: torch, onnxruntime" in backend.description
    # Fixed while configured, by the node: a descriptor's read_only could never be corrected after a
    # configure refused the value.
    assert not backend.read_only and "read-only while configured" in backend.description
    assert not P.descriptor(P.SPECS["output.color"]).integer_range  # no range for a bool
    memory = P.descriptor(P.SPECS["model.memory_length"])
    assert memory.integer_range[0].from_value == 1 and P.SPECS["model.memory_length"].default == 4


def test_command_line_values_are_typed_as_rcl_types_them():
    argv = [
        "t2g_node",
        "-p",
        "model.threads:=9",  # before --ros-args: not a ROS argument
        "--ros-args",
        "--params-file",
        "x.yaml",
        "-p",
        "model.threads:=two",
        "--param",
        "input.max_clock_offset_s:=1e9",
        "-p",
        "output.color:=false",
        "-p",
        "model.checkpoint:='12'",
        "-p",
        "not.ours:=1",
        "-r",
        "__ns:=/x",
    ]
    assert P.command_line_values(argv) == {
        "model.threads": "two",
        "input.max_clock_offset_s": 1e9,
        "output.color": False,
        "model.checkpoint": "12",
    }


def test_unknown_names_are_named_with_the_closest_known_one():
    found = P.unknown_names(
        ["model.thread", "model.threads", "use_sim_time", "qos_overrides./x.reliability", "zzz"]
    )
    assert found == ["model.thread (did you mean model.threads?)", "zzz"]
