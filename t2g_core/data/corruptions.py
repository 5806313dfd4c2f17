"""Weather and noise corruptions (PyPI ``imagecorruptions==1.1.2``) for the domain-shift protocol.

``imagecorruptions`` 1.1.2 predates numpy 2 and scikit-image 0.20, and this module shims it once, at first
use, so that no import of ``t2g_core`` needs scikit-image:

- ``np.float_`` (removed in numpy 2; ``fog`` uses it) is set to ``np.float64`` if missing;
- ``skimage.filters.gaussian`` dropped ``multichannel=`` for ``channel_axis=``; the library's reference to it
  (``imagecorruptions.corruptions.gaussian``, used by ``glass_blur`` and ``gaussian_blur``) is wrapped to
  translate the keyword;
- the library imports ``resource_filename`` from ``pkg_resources`` (gone from recent setuptools, absent from
  Python >= 3.12 venvs); while it is imported, a minimal stand-in is provided unless ``pkg_resources`` is
  already loaded.

The library draws from numpy's global random state; :func:`corrupt` can seed it for one call and restores it.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import inspect
import sys
import types
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

WEATHER_CORRUPTIONS = ("fog", "frost", "snow", "spatter")


def corrupt(image: np.ndarray, name: str, severity: int, *, seed: int | None = None) -> np.ndarray:
    """Apply one ``imagecorruptions`` corruption.

    Args:
        image: (H, W, 3) uint8 RGB, H and W >= 32.
        name: a corruption of ``imagecorruptions.get_corruption_names('all')``, e.g. one of
            :data:`WEATHER_CORRUPTIONS`.
        severity: 1..5.
        seed: if given, seeds numpy's global random state for this call (and restores it after), so the same
            seed gives the same corrupted image.
    Returns:
        (H, W, 3) uint8 RGB.
    """
    library = _load_imagecorruptions()
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be (H, W, 3) uint8, got {image.dtype} {image.shape}")
    if min(image.shape[:2]) < 32:
        raise ValueError(f"image must be at least 32x32 pixels, got {image.shape[:2]}")
    names = library.get_corruption_names("all")
    if name not in names:
        raise ValueError(f"corruption {name!r} is not one of {names}")
    if severity not in (1, 2, 3, 4, 5):
        raise ValueError(f"severity must be an integer in 1..5, got {severity!r}")
    with _seeded_global_random(seed):
        out = library.corrupt(image, severity=int(severity), corruption_name=name)
    return np.ascontiguousarray(out, dtype=np.uint8)


@functools.cache
def _load_imagecorruptions() -> types.ModuleType:
    if not hasattr(np, "float_"):
        np.float_ = np.float64
    with warnings.catch_warnings():
        # Its own imports warn about deprecated scipy/setuptools namespaces; nothing for a caller to act on.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        with _pkg_resources_stand_in():
            library = importlib.import_module("imagecorruptions")
            module = importlib.import_module("imagecorruptions.corruptions")
    if "multichannel" not in inspect.signature(module.gaussian).parameters:
        module.gaussian = _gaussian_multichannel_compat(module.gaussian)
    return library


def _gaussian_multichannel_compat(gaussian: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
    """Wrap scikit-image's ``gaussian`` so that ``multichannel=True/False`` means ``channel_axis=-1/None``."""

    @functools.wraps(gaussian)
    def wrapped(image, *args, multichannel=None, **kwargs):
        if multichannel is not None and "channel_axis" not in kwargs:
            kwargs["channel_axis"] = -1 if multichannel else None
        return gaussian(image, *args, **kwargs)

    return wrapped


def _resource_filename(package: str, resource: str) -> str:
    """``pkg_resources.resource_filename`` for a file beside an importable module."""
    return str(Path(importlib.import_module(package).__file__).parent / resource)


@contextlib.contextmanager
def _pkg_resources_stand_in() -> Iterator[None]:
    if "pkg_resources" in sys.modules:
        yield
        return
    stand_in = types.ModuleType("pkg_resources")
    stand_in.resource_filename = _resource_filename
    sys.modules["pkg_resources"] = stand_in
    try:
        yield
    finally:
        # Only the library's own import needed it; leave no fake module behind for other code to find.
        if sys.modules.get("pkg_resources") is stand_in:
            del sys.modules["pkg_resources"]


@contextlib.contextmanager
def _seeded_global_random(seed: int | None) -> Iterator[None]:
    if seed is None:
        yield
        return
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)
