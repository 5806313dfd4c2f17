"""Frozen backbones and their registry.

A new backbone (e.g. a DINOv2 ViT read from a local weights file) is one new module with a
``FrozenBackbone`` subclass plus one entry in ``BACKBONES``; out-of-tree code (tests, plugins) can add
entries with the ``register_backbone`` decorator instead. A builder takes ``weights: str | None`` as
its only (keyword) argument.
"""

from __future__ import annotations

from collections.abc import Callable

from .base import STRIDES, FrozenBackbone
from .efficientnet_lite import EfficientNetLite, build_efficientnet_lite0, build_efficientnet_lite2

BackboneBuilder = Callable[..., FrozenBackbone]

BACKBONES: dict[str, BackboneBuilder] = {
    "efficientnet_lite0": build_efficientnet_lite0,
    "efficientnet_lite2": build_efficientnet_lite2,
}


def register_backbone(name: str) -> Callable[[BackboneBuilder], BackboneBuilder]:
    """Decorator adding ``builder(*, weights: str | None) -> FrozenBackbone`` to ``BACKBONES`` as ``name``.

    Raises:
        ValueError: ``name`` is already registered.
    """

    def add(builder: BackboneBuilder) -> BackboneBuilder:
        if name in BACKBONES:
            raise ValueError(f"backbone {name!r} is already registered")
        BACKBONES[name] = builder
        return builder

    return add


def build_backbone(name: str, *, weights: str | None = None) -> FrozenBackbone:
    """Build the registered backbone ``name``, frozen, with its weights loaded (nothing is downloaded).

    Raises:
        ValueError: ``name`` is not registered.
    """
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; registered: {sorted(BACKBONES)}")
    return BACKBONES[name](weights=weights)


__all__ = [
    "BACKBONES",
    "STRIDES",
    "EfficientNetLite",
    "FrozenBackbone",
    "build_backbone",
    "register_backbone",
]
