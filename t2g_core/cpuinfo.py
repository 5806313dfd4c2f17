"""What ``/proc/cpuinfo`` says of this machine's CPU (model name, instruction-set flags).

Dependency-free, so the export (int8 recipe) and the evaluation (run records) can both read it.
"""

from __future__ import annotations

import platform
from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")


def _cpuinfo_field(key: str, cpuinfo: str | Path) -> str | None:
    """The first non-empty value of ``key`` in ``cpuinfo``; None where the file or the key is absent."""
    try:
        for line in Path(cpuinfo).read_text().splitlines():
            name, _, value = line.partition(":")
            if name.strip() == key and value.strip():
                return value.strip()
    except OSError:
        pass
    return None


def cpu_model(cpuinfo: str | Path = CPUINFO) -> str:
    """The first ``model name`` of ``/proc/cpuinfo``, or ``platform.processor()`` where there is none."""
    return (
        _cpuinfo_field("model name", cpuinfo)
        or platform.processor()
        or platform.machine()
        or "unknown CPU"
    )


def cpu_flags(cpuinfo: str | Path = CPUINFO) -> set[str]:
    """The instruction-set ``flags`` of the first CPU in ``/proc/cpuinfo`` (empty where unknown)."""
    return set((_cpuinfo_field("flags", cpuinfo) or "").split())
