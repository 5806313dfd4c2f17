"""Locate files the project ships (config/, checkpoints/, data/sample/) without the ament index.

They live at the repository root in a source checkout or editable install, and under
``<prefix>/share/t2g_ros`` after ``colcon build`` or a regular ``pip install``. t2g_core cannot ask
ament_index_python (it never imports ROS), so it looks in both places.
"""

from __future__ import annotations

import sys
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent
_SHARE_NAME = "t2g_ros"


def _roots() -> list[Path]:
    # <prefix>/lib/python3.X/site-packages/t2g_core -> <prefix>/share/t2g_ros
    installed_prefix = _PACKAGE_DIR.parents[3] if len(_PACKAGE_DIR.parents) > 3 else None
    roots = [_PACKAGE_DIR.parent]
    if installed_prefix is not None:
        roots.append(installed_prefix / "share" / _SHARE_NAME)
    roots.append(Path(sys.prefix) / "share" / _SHARE_NAME)
    return roots


def shipped_path(*parts: str) -> Path:
    """Path of a shipped file, e.g. ``shipped_path("config", "t2g.yaml")``.

    Raises:
        FileNotFoundError: naming every place looked in.
    """
    candidates = [root.joinpath(*parts) for root in _roots()]
    for candidate in candidates:
        if candidate.exists():
            return candidate
    raise FileNotFoundError(
        f"{'/'.join(parts)} not found; looked in: " + ", ".join(map(str, candidates))
    )
