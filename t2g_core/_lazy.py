"""Package names that load on first use (PEP 562), so importing a package loads no torch."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_exports(package: str, exports: dict[str, str]) -> tuple[Callable[[str], Any], list[str]]:
    """``(__getattr__, __all__)`` for ``package``, whose name ``n`` lives in submodule ``exports[n]``.

    Use as ``__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)`` in the package's ``__init__``.
    """

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f".{exports[name]}", package), name)

    return __getattr__, sorted(exports)
