"""The memory ablation: how much of T2G's output its memory changes.

The same checkpoint runs twice on the same frames, with its full memory and with ``memory_length=1``
(which also drops the fused pixel state: every temporal input is off). Two numbers per target and
stride come out of it:

- the changed-label share: pixels whose label differs between the two predictions of the same frame,
  pooled over frames (``sum changed / sum pixels``);
- the flicker ratio ``flicker(full) / flicker(memory 1)``: below 1, the memory steadies the output.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class LabelChange:
    """Pixels whose label differs between two predictions of the same frames.

    Attributes:
        changed: pixels, summed over frames, whose two labels differ.
        pixels: pixels summed over frames.
    """

    changed: int = 0
    pixels: int = 0

    @property
    def rate(self) -> float:
        return self.changed / self.pixels if self.pixels else float("nan")

    def merge(self, other: LabelChange) -> LabelChange:
        return LabelChange(self.changed + other.changed, self.pixels + other.pixels)


def label_change(preds_a: Iterable[np.ndarray], preds_b: Iterable[np.ndarray]) -> LabelChange:
    """Count the pixels whose label differs between ``preds_a[t]`` and ``preds_b[t]``, over all t.

    Args:
        preds_a, preds_b: L arrays (H, W) of class ids each, the same frames in the same order.

    Raises:
        ValueError: the sequences differ in length, or a pair differs in shape.
    """
    preds_a, preds_b = list(preds_a), list(preds_b)
    if len(preds_a) != len(preds_b):
        raise ValueError(
            f"{len(preds_a)} predictions against {len(preds_b)}: compare the same frames"
        )
    result = LabelChange()
    for t, (a, b) in enumerate(zip(preds_a, preds_b)):
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape:
            raise ValueError(f"frame {t}: predictions of shapes {a.shape} and {b.shape}")
        result.changed += int(np.count_nonzero(a != b))
        result.pixels += a.size
    return result


def flicker_ratio(full: float | None, memory1: float | None) -> float:
    """``full / memory1``; NaN when either is missing or ``memory1`` is 0."""
    if (
        full is None
        or memory1 is None
        or not np.isfinite(full)
        or not np.isfinite(memory1)
        or memory1 <= 0
    ):
        return float("nan")
    return full / memory1


def ablation_entry(
    *,
    full: str,
    memory1: str,
    changed: dict[int, LabelChange],
    flicker_full: dict[int, float],
    flicker_memory1: dict[int, float],
) -> dict[str, Any]:
    """The ``memory_ablation`` entry of a target in ``results.json`` (schema in ``runner``).

    Args:
        full, memory1: the two contenders' names.
        changed: stride -> changed labels between them.
        flicker_full, flicker_memory1: stride -> flicker rate of each.
    """
    return {
        "full": full,
        "memory1": memory1,
        "per_stride": [
            {
                "stride": stride,
                "changed": change.rate,
                "changed_pixels": change.changed,
                "pixels": change.pixels,
                "flicker_full": flicker_full[stride],
                "flicker_memory1": flicker_memory1[stride],
                "flicker_ratio": flicker_ratio(flicker_full[stride], flicker_memory1[stride]),
            }
            for stride, change in changed.items()
        ],
    }
