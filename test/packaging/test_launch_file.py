"""The launch file is a standard ROS 2 Python launch file.

launch/launch_ros are not installable from PyPI here, so the file is checked statically; the real
launch test runs wherever launch_ros imports (a full ROS 2 install).
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest

LAUNCH_FILE = Path(__file__).resolve().parents[2] / "launch" / "t2g.launch.py"
ARGUMENTS = {"namespace", "params_file", "image_topic", "compressed", "use_sim_time", "log_level", "rviz"}


def _tree() -> ast.Module:
    return ast.parse(LAUNCH_FILE.read_text(), filename=str(LAUNCH_FILE))


def test_launch_file_parses_and_defines_generate_launch_description():
    functions = {n.name: n for n in _tree().body if isinstance(n, ast.FunctionDef)}
    assert "generate_launch_description" in functions
    assert not functions["generate_launch_description"].args.args, "must take no arguments"


def test_launch_file_declares_the_documented_arguments_and_runs_the_node():
    tree = _tree()
    declared = {c.args[0].value for c in ast.walk(tree) if isinstance(c, ast.Call)
                and getattr(c.func, "id", None) == "DeclareLaunchArgument"}
    assert declared == ARGUMENTS
    strings = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    assert {"t2g_ros", "t2g_node", "t2g.yaml", "t2g.rviz"} <= strings
    imported = {a.name for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom)) for a in n.names}
    forbidden = {"subprocess", "os", "eval"} & imported
    assert not forbidden, f"launch files must not shell out or eval: {forbidden}"


def test_launch_description_builds_with_launch_ros():
    pytest.importorskip("launch_ros")
    spec = importlib.util.spec_from_file_location("t2g_launch", LAUNCH_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    from launch import LaunchDescription
    from launch.actions import DeclareLaunchArgument

    description = module.generate_launch_description()
    assert isinstance(description, LaunchDescription)
    names = {e.name for e in description.entities if isinstance(e, DeclareLaunchArgument)}
    assert names == ARGUMENTS
