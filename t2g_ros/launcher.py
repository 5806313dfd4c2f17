"""The node in its own process, as the launch file starts it: one launcher for the demo, the soak, the
node-rates benchmark and the node tests.

``start_node`` runs ``python -m t2g_ros.node`` in a namespace, optionally with a parameter file (the
shipped ``config/t2g.yaml`` is what the launch file loads), then ``-p`` parameters and ``-r`` remaps;
``stop_node`` interrupts it as Ctrl-C does and reaps it.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def ros_literal(value: Any) -> str:
    """A parameter value as ``-p name:=value`` spells it (``true``/``false`` for booleans)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def node_command(
    namespace: str,
    *,
    params_file: str | Path | None = None,
    parameters: Mapping[str, Any] | None = None,
    remaps: Mapping[str, str] | None = None,
    ros_args: Sequence[str] = (),
) -> list[str]:
    """The node's command line: ``--params-file`` first, then ``ros_args``, ``-p`` and ``-r``.

    A ``-p`` given later wins over the parameter file, so ``parameters`` override it.
    """
    args = [sys.executable, "-m", "t2g_ros.node", "--ros-args", "-r", f"__ns:={namespace}"]
    if params_file is not None:
        args += ["--params-file", str(params_file)]
    args += list(ros_args)
    for name, value in (parameters or {}).items():
        args += ["-p", f"{name}:={ros_literal(value)}"]
    for source, target in (remaps or {}).items():
        args += ["-r", f"{source}:={target}"]
    return args


def start_node(
    namespace: str,
    *,
    params_file: str | Path | None = None,
    parameters: Mapping[str, Any] | None = None,
    remaps: Mapping[str, str] | None = None,
    ros_args: Sequence[str] = (),
    overrides: Sequence[str] = (),
    log: str | Path | None = None,
    env: Mapping[str, str] | None = None,
) -> subprocess.Popen:
    """Start the node (see :func:`node_command`) and return its process.

    Args:
        namespace: the node's namespace, e.g. a per-run ``/t2g_soak_1a2b3c4d``.
        params_file: a ROS parameter YAML loaded first, e.g. ``shipped_path("config", "t2g.yaml")``.
        parameters: name -> value, each a ``-p name:=value``.
        remaps: topic -> topic, each a ``-r``.
        ros_args: more ``--ros-args`` arguments, before the ``-p``.
        overrides: ``NAME:=VALUE`` strings as a user types them, each a ``-p`` after ``parameters``.
        log: file for the node's stdout and stderr (created with its folder); None: a text pipe,
            read by :func:`stop_node`'s caller from ``proc.stdout``.
        env: the node's environment; None: this process's.
    """
    args = node_command(
        namespace, params_file=params_file, parameters=parameters, remaps=remaps, ros_args=ros_args
    )
    for override in overrides:
        args += ["-p", override]
    environment = dict(env) if env is not None else None
    if log is None:
        return subprocess.Popen(
            args, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
    log = Path(log)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as stream:
        return subprocess.Popen(args, env=environment, stdout=stream, stderr=subprocess.STDOUT)


def stop_node(proc: subprocess.Popen, *, timeout_s: float = 20.0) -> int | None:
    """Interrupt the node as Ctrl-C does (it shuts down cleanly) and reap it.

    Returns:
        Its exit code; None when it did not exit within ``timeout_s`` and was killed.
    """
    if proc.poll() is not None:
        return proc.returncode
    proc.send_signal(signal.SIGINT)
    try:
        return proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return None
