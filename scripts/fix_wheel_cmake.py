"""Rewrite the wheel builder's hard-coded include paths in the ROS wheels' exported CMake files.

The PyPI ``ros-*`` wheels ship ``share/*/cmake/*rosidl_generator_py*Export.cmake`` files whose
``INTERFACE_INCLUDE_DIRECTORIES`` point at the build machine's Python
(``/opt/python/cp311-cp311/include/python3.11``) and numpy include folders. CMake refuses imported
targets with non-existent include paths, so building any message package against the wheels fails
until those paths name this interpreter's headers. The rewrite is idempotent and touches only files
under the given prefix (the virtual environment).

Usage: python scripts/fix_wheel_cmake.py [PREFIX]   (default: sys.prefix)
"""

from __future__ import annotations

import re
import sys
import sysconfig
from pathlib import Path

import numpy

# Any '/opt/python/<tag>/...' path: the Python include dir or a numpy include dir under site-packages.
_PY_INCLUDE = re.compile(r"/opt/python/cp\d+-cp\d+t?/include/python3\.\d+t?")
_NUMPY_INCLUDE = re.compile(
    r"/opt/python/cp\d+-cp\d+t?/lib/python3\.\d+t?/site-packages/numpy/(?:_core/|core/)?include"
)


def rewrite(text: str) -> str:
    """Return ``text`` with the wheel builder's include paths replaced by this interpreter's."""
    text = _NUMPY_INCLUDE.sub(numpy.get_include(), text)
    return _PY_INCLUDE.sub(sysconfig.get_paths()["include"], text)


def main(prefix: Path) -> int:
    changed = 0
    for path in sorted((prefix / "share").glob("*/cmake/*Export*.cmake")):
        text = path.read_text()
        new = rewrite(text)
        if new != text:
            path.write_text(new)
            changed += 1
    leftovers = [
        str(p)
        for p in (prefix / "share").glob("*/cmake/*.cmake")
        if "/opt/python/" in p.read_text()
    ]
    if leftovers:
        print(
            "fix_wheel_cmake: unhandled /opt/python paths remain in:\n  " + "\n  ".join(leftovers),
            file=sys.stderr,
        )
        return 1
    print(f"fix_wheel_cmake: rewrote {changed} file(s) under {prefix}/share")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(sys.prefix)))
