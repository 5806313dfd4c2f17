"""Choosing the EMA weight of the per-frame + EMA baseline on CamVid val (never on test).

Criterion: among the candidate weights whose val mIoU is at most ``max_miou_drop`` below the unsmoothed
per-frame model's (alpha 1.0), take the one with the highest val VC_n; ties go to the larger alpha (less
smoothing, so less lag behind the scene). Alpha 1.0 itself always qualifies, so a choice always exists.
A baseline tuned this way is the strongest EMA that does not buy its stability with accuracy, which is
the comparison T2G has to win.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class AlphaScore:
    """Val scores of one EMA weight: ``alpha`` 1.0 is the unsmoothed per-frame model.

    Attributes:
        alpha: weight of the new frame, in (0, 1].
        miou: val mIoU in 0..1 (NaN if nothing was scored).
        vc: val VC_n in 0..1 (NaN if the run is shorter than n).
    """

    alpha: float
    miou: float
    vc: float


@dataclass(frozen=True)
class EmaTuning:
    """Result of :func:`tune_ema_alpha`: the chosen ``alpha``, the reference and every candidate scored."""

    alpha: float
    reference: AlphaScore
    candidates: tuple[AlphaScore, ...]
    max_miou_drop: float
    vc_window: int

    @property
    def criterion(self) -> str:
        return (
            f"max val VC_{self.vc_window} subject to val mIoU >= mIoU(alpha=1) - {self.max_miou_drop * 100:g} points; "
            "ties to the larger alpha"
        )


def select_alpha(
    reference: AlphaScore, candidates: Sequence[AlphaScore], *, max_miou_drop: float
) -> float:
    """The weight the criterion picks (see the module docstring); NaN scores never win."""
    floor = reference.miou - max_miou_drop
    best = reference
    for cand in candidates:
        # Written as `not >=` so that a NaN reference mIoU lets no candidate through.
        if not math.isfinite(cand.vc) or not cand.miou >= floor:
            continue
        better = (
            not math.isfinite(best.vc)
            or cand.vc > best.vc
            or (cand.vc == best.vc and cand.alpha > best.alpha)
        )
        if better:
            best = cand
    return best.alpha


def tune_ema_alpha(
    score: Callable[[float | None], tuple[float, float]],
    *,
    alphas: Sequence[float],
    max_miou_drop: float,
    vc_window: int,
) -> EmaTuning:
    """Score the unsmoothed model and every candidate weight, then apply :func:`select_alpha`.

    Args:
        score: runs the per-frame model on the val run with ``ema_alpha`` (None = no EMA) and returns
            ``(miou, vc)`` in 0..1.
        alphas: candidate weights in (0, 1).
    """
    reference = AlphaScore(1.0, *score(None))
    candidates = tuple(AlphaScore(float(a), *score(float(a))) for a in alphas)
    alpha = select_alpha(reference, candidates, max_miou_drop=max_miou_drop)
    return EmaTuning(alpha, reference, candidates, max_miou_drop, vc_window)
