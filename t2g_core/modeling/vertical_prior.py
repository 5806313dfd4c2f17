"""A vertical-position prior for the per-pixel embedding: where in the picture a pixel is.

In a driving scene the sky is above and the road below. Nothing else in the head knows a pixel's height:
the mask logits are a query embedding dotted with the pixel embedding E(x), which depends on appearance
only, so a smooth mid-bright region reads as road wherever it is. The prior adds a learned function of
the row's normalised height to the embedding (equivalent to coordinate channels into the embedding's
1x1 convolution):

    E'(x, y) = E(x, y) + W γ(y),    γ(y) = [y, sin(2^i π y), cos(2^i π y)]_{i < F},
    y = 2 (row + 0.5) / h - 1 ∈ (-1, 1)

so every mask query gets its own smooth preference over the image height (``m_q(x) = MLP(q) · E'(x)``
has the term ``MLP(q) · W γ(y)``). It reads the height only, never the width: the scene is left-right
symmetric (training flips it). W starts at zero, so a model warm-started from weights without the
prior computes exactly what it did.
"""

from __future__ import annotations

import math
from functools import partial

import torch
from torch import nn

from .size_cache import SizeCache


def height_features(h: int, num_frequencies: int, *, device: torch.device) -> torch.Tensor:
    """γ(y) of the centres of ``h`` rows.

    Returns:
        (1 + 2F, h) float32.
    """
    y = (torch.arange(h, device=device, dtype=torch.float32) + 0.5) / h * 2 - 1  # (h,)
    angles = y[None] * (math.pi * 2.0 ** torch.arange(num_frequencies, device=device))[:, None]
    return torch.cat([y[None], angles.sin(), angles.cos()])  # (1 + 2F, h)


class VerticalPrior(nn.Module):
    """(N, d, h, w) -> (N, d, h, w), the embedding plus W γ(row height).

    Args:
        dim: d.
        num_frequencies: F.
    """

    def __init__(self, *, dim: int, num_frequencies: int) -> None:
        super().__init__()
        self.num_frequencies = num_frequencies
        self.proj = nn.Linear(1 + 2 * num_frequencies, dim, bias=False)
        self._rows = SizeCache(partial(height_features, num_frequencies=num_frequencies))
        nn.init.zeros_(self.proj.weight)  # identity at the start (warm starts keep their outputs)

    def forward(self, embedding: torch.Tensor) -> torch.Tensor:
        rows = self._rows(embedding.shape[-2], device=embedding.device)  # (1 + 2F, h)
        prior = self.proj(rows.T).T  # (d, h)
        return embedding + prior[None, :, :, None]
