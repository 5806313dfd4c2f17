"""Feature-space style randomisation: one affine map per clip pair, drawn reproducibly."""

from __future__ import annotations

import numpy as np
import torch

from t2g_core.training.config import FeatureStyleConfig
from t2g_core.training.feature_style import restyle_levels


def _levels(n: int = 6) -> dict[int, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    # Each frame has its own channel offsets so the pairs' statistics differ.
    return {
        s: torch.randn(n, 5, 8, 8, generator=g) * (1 + torch.arange(n)[:, None, None, None])
        + torch.arange(n)[:, None, None, None]
        for s in (4, 8, 16, 32)
    }


PAIRS = torch.tensor([0, 0, 1, 1, 2, 2])


def test_probability_zero_changes_nothing():
    levels = _levels()
    out = restyle_levels(
        levels,
        PAIRS,
        num_pairs=3,
        rng=np.random.default_rng(0),
        config=FeatureStyleConfig(prob=0.0),
    )
    assert all(torch.equal(out[s], levels[s]) for s in levels)


def test_every_frame_of_a_pair_gets_the_same_affine_map_and_other_strides_stay():
    levels = _levels()
    config = FeatureStyleConfig(prob=1.0, strides=(4, 8), noise=0.5)
    out = restyle_levels(levels, PAIRS, num_pairs=3, rng=np.random.default_rng(1), config=config)
    assert torch.equal(out[16], levels[16]) and torch.equal(out[32], levels[32])
    for s in (4, 8):
        assert not torch.allclose(out[s], levels[s])
        for pair in range(3):
            a, b = (PAIRS == pair).nonzero().flatten().tolist()
            # Fit out = scale * in + shift per channel on frame a; it must reproduce frame b.
            x, y = levels[s][a].flatten(1), out[s][a].flatten(1)  # (C, P)
            scale = ((x - x.mean(1, keepdim=True)) * (y - y.mean(1, keepdim=True))).sum(1) / (
                (x - x.mean(1, keepdim=True)).square().sum(1)
            )
            shift = y.mean(1) - scale * x.mean(1)
            predicted = levels[s][b] * scale[:, None, None] + shift[:, None, None]
            assert torch.allclose(predicted, out[s][b], atol=1e-3)


def test_the_same_generator_state_gives_the_same_styles():
    config = FeatureStyleConfig(prob=0.7)
    first = restyle_levels(
        _levels(), PAIRS, num_pairs=3, rng=np.random.default_rng(5), config=config
    )
    again = restyle_levels(
        _levels(), PAIRS, num_pairs=3, rng=np.random.default_rng(5), config=config
    )
    assert all(torch.equal(first[s], again[s]) for s in first)


def test_mixing_moves_a_pairs_statistics_towards_its_partner():
    """With no noise and two pairs, each new channel mean lies between the two pairs' means."""
    levels = _levels(4)
    pairs = torch.tensor([0, 0, 1, 1])
    config = FeatureStyleConfig(prob=1.0, strides=(8,), noise=0.0)
    out = restyle_levels(levels, pairs, num_pairs=2, rng=np.random.default_rng(2), config=config)
    before = [levels[8][pairs == p].mean(dim=(0, 2, 3)) for p in (0, 1)]
    after = [out[8][pairs == p].mean(dim=(0, 2, 3)) for p in (0, 1)]
    low, high = torch.minimum(*before), torch.maximum(*before)
    for mean in after:
        assert bool(((mean >= low - 1e-4) & (mean <= high + 1e-4)).all())
