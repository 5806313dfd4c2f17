"""`colcon build` and `colcon test` of both packages in a temporary workspace, with colcon from PyPI.

This is the check that the files are valid for a real ROS 2 workspace. The workspace holds a copy of the
repository as `src/t2g`; the message package nested inside it needs its own `--paths` entry, since
colcon does not descend into a package's folder (this is the command the README gives ROS users).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# Not copied into the workspace: environments, build outputs and VCS data.
IGNORED = shutil.ignore_patterns(
    ".venv",
    ".git",
    ".t2g_build",
    "build",
    "install",
    "log",
    "__pycache__",
    "*.egg-info",
    ".pytest_cache",
    "artifacts",
    "runs",
    "results",
)


@pytest.mark.slow
def test_colcon_build_and_test_both_packages(tmp_path):
    colcon = Path(sys.prefix) / "bin" / "colcon"
    assert colcon.exists(), "colcon is not installed in this environment (requirements/lock.txt)"
    src = tmp_path / "src" / "t2g"
    shutil.copytree(REPO, src, ignore=IGNORED)
    env = dict(os.environ, CMAKE_PREFIX_PATH=sys.prefix, T2G_EXPECT_INSTALLED="1")
    paths = ["--paths", "src/t2g", "src/t2g/t2g_msgs"]

    def colcon_run(*args: str) -> str:
        proc = subprocess.run(
            [str(colcon), *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
        )
        assert proc.returncode == 0, (
            f"colcon {args[0]} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
        )
        return proc.stdout

    listing = colcon_run("list", *paths)
    assert "t2g_msgs" in listing and "t2g_ros" in listing

    colcon_run("build", *paths)
    install = tmp_path / "install"
    assert (install / "t2g_ros" / "share" / "t2g_ros" / "launch" / "t2g.launch.py").is_file()
    assert (install / "t2g_ros" / "lib" / "t2g_ros" / "t2g_node").is_file(), (
        "ros2 run needs lib/<pkg>/<exe>"
    )
    assert list((install / "t2g_msgs").rglob("_class_occupancy.py")), (
        "t2g_msgs generated no Python module"
    )

    # colcon test runs pytest in the installed package's environment; it runs the packaging checks only
    # (the full suite is this very test run, and recursing into it would never end).
    colcon_run("test", *paths, "--pytest-args", "test/packaging/test_package_files.py")
    results = colcon_run("test-result", "--all", "--verbose")
    assert "0 errors, 0 failures" in results, results
    summary = [line for line in results.splitlines() if line.startswith("Summary:")]
    assert summary and not summary[-1].startswith("Summary: 0 tests"), results
