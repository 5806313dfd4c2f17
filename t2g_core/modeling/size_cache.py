"""Tensors that depend only on a map's size (position encodings): computed once per size, reused.

The sizes are plain ints: call ``int()`` on traced sizes. The ONNX exporter traces the model at its
fixed input size after one eager call, so an exported graph holds these tensors as constants (which
onnxruntime folds into whatever else depends only on weights) instead of recomputing them every frame.
"""

from __future__ import annotations

from collections.abc import Callable

import torch


class SizeCache:
    """``make(*size, device=device)`` memoised on ``(size, device)``.

    Args:
        make: ``(*ints, device=...) -> Tensor``, a pure function of its arguments.
    """

    def __init__(self, make: Callable[..., torch.Tensor]) -> None:
        self._make = make
        self._cache: dict[tuple[tuple[int, ...], str], torch.Tensor] = {}

    def __call__(self, *size: int, device: torch.device) -> torch.Tensor:
        key = (tuple(int(s) for s in size), str(device))
        if key not in self._cache:
            self._cache[key] = self._make(*key[0], device=device)
        return self._cache[key]
