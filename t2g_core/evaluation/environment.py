"""Where and when a run happened, read from the machine (never typed by hand): CPU, cores, versions, commit."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
from pathlib import Path

from ..cpuinfo import cpu_model


def usable_cores() -> int:
    """Cores this process may run on (what ``nproc`` prints)."""
    return len(os.sched_getaffinity(0))


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages, rounded to 0.01 (other jobs sharing the cores)."""
    return [round(x, 2) for x in os.getloadavg()]


def describe_machine() -> dict[str, object]:
    """CPU model, usable cores and the load average now: what every benchmark report states."""
    return {"cpu": cpu_model(), "cores": usable_cores(), "load_average": load_average()}


def measured_on(date: str, machine: dict[str, object]) -> str:
    """``Measured <date> on <cpu> (<n> cores), load average at start [..]``: a report's first words,
    from :func:`describe_machine`'s dictionary."""
    return (
        f"Measured {date} on {machine['cpu']} ({machine['cores']} cores), load average at start "
        f"{machine['load_average']}"
    )


def git_commit(repo: str | Path) -> str:
    """HEAD of the repository at ``repo``, with ``-dirty`` when tracked files differ; ``unknown`` if no git."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=repo,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=repo,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{head}-dirty" if dirty else head


def utc_now() -> str:
    """The date and time now, UTC, to the minute (``2026-11-21 14:05 UTC``)."""
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")


def describe_run(repo: str | Path) -> dict[str, object]:
    """Date (UTC), machine and software of this run, as builtins for the results file."""
    import torch

    return {
        "date_utc": utc_now(),
        "cpu": cpu_model(),
        "nproc": usable_cores(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "git_commit": git_commit(repo),
    }
