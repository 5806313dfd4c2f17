"""t2g_ros.launcher: the node's command line (as the demo, soak, node-rates and the node tests start
it) and stopping a process as Ctrl-C does. The node itself runs in test/ros and test/demo."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from t2g_ros.launcher import node_command, start_node, stop_node


def test_command_orders_params_file_then_parameters_then_remaps():
    args = node_command(
        "/ns",
        params_file=Path("config/t2g.yaml"),
        parameters={
            "model.checkpoint": Path("/c.pt"),
            "input.compressed": True,
            "model.threads": 1,
        },
        remaps={"image/compressed": "/ns/camera/compressed"},
        ros_args=("--log-level", "warn"),
    )
    assert args[:6] == [sys.executable, "-m", "t2g_ros.node", "--ros-args", "-r", "__ns:=/ns"]
    rest = args[6:]
    assert rest[:2] == ["--params-file", "config/t2g.yaml"]
    assert rest[2:4] == ["--log-level", "warn"]
    assert rest[4:] == [
        "-p",
        "model.checkpoint:=/c.pt",
        "-p",
        "input.compressed:=true",
        "-p",
        "model.threads:=1",
        "-r",
        "image/compressed:=/ns/camera/compressed",
    ]


def test_stop_node_interrupts_and_returns_the_exit_code(tmp_path):
    script = "import time\ntry:\n    time.sleep(60)\nexcept KeyboardInterrupt:\n    raise SystemExit(7)\n"
    ready = tmp_path / "ready"
    code = f"open({str(ready)!r}, 'w').close()\n" + script
    proc = subprocess.Popen([sys.executable, "-c", code])
    while not ready.exists() and proc.poll() is None:
        time.sleep(0.01)
    assert stop_node(proc) == 7
    assert stop_node(proc) == 7  # already exited: its code again


def test_start_node_writes_the_log_file(tmp_path):
    log = tmp_path / "logs" / "node.log"
    proc = start_node("/t2g_launcher_test", parameters={"model.checkpoint": "/absent.pt"}, log=log)
    proc.wait(timeout=120)
    assert (
        proc.returncode != 0 and log.read_text()
    )  # the node refuses a missing checkpoint, saying so
