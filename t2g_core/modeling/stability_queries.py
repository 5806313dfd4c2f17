"""Stability Queries: Q learnable anchors shared by every frame that summarise and modulate pixel features.

For one frame and one tapped backbone level l with features F_l (C_l x h x w), P = h * w pixels:

    X   = GN(Conv1x1(F_l)) flattened            X ∈ R^{P×d}   (projection to the common width d)
    X̄   = LN(X)
    A   = softmax_P( S Wq (X̄ Wk)^T / √d )       A ∈ R^{Q×P}   (each query attends over the pixels)
    U   = A X̄ Wv                                 U ∈ R^{Q×d}   (per-query summaries of this frame)
    B   = softmax_Q( X̄ Rq (U Rk)^T / √d )        B ∈ R^{P×Q}   (each pixel reads the summaries back)
    Y   = X + B U Rv Ro + bo                     Y ∈ R^{P×d}   (modulated features, residual)

S ∈ R^{Q×d} is one parameter shared by all frames and all levels (and it initialises the decoder's
queries); Wq, Wk, Wv, Rq, Rk, Rv, Ro (d×d, bias-free) and bo are per level. Because the same anchors
summarise every frame, the modulation Y − X is a smooth function of a few global summaries, which is
what keeps it consistent from frame to frame.

Cost: the products are evaluated as (S Wq Wk^T) X̄^T, (A X̄) Wv and X̄ (U Rk Rq^T)^T, so a level costs
O(P·Q·d) instead of O(P·d²) — 3 matmuls of 2700×32×128 at stride 8 for a 480x360 frame.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class LevelModulation(nn.Module):
    """Projection, query summary and read-back of one backbone level (the equations in the module doc).

    Args:
        in_channels: C_l, channels of the backbone map.
        dim: d.
    """

    def __init__(self, *, in_channels: int, dim: int) -> None:
        super().__init__()
        self.proj = nn.Sequential(nn.Conv2d(in_channels, dim, kernel_size=1), nn.GroupNorm(8, dim))
        self.norm = nn.LayerNorm(dim)
        self.wq = nn.Linear(dim, dim, bias=False)
        self.wk = nn.Linear(dim, dim, bias=False)
        self.wv = nn.Linear(dim, dim, bias=False)
        self.rq = nn.Linear(dim, dim, bias=False)
        self.rk = nn.Linear(dim, dim, bias=False)
        self.rv = nn.Linear(dim, dim, bias=False)
        self.ro = nn.Linear(dim, dim)
        self.scale = 1.0 / math.sqrt(dim)

    def forward(self, features: torch.Tensor, queries: torch.Tensor) -> torch.Tensor:
        """Modulate one level.

        Args:
            features: (N, C_l, h, w) backbone map.
            queries: (Q, d) the shared Stability Queries S.

        Returns:
            (N, d, h, w) modulated features Y.
        """
        x = self.proj(features)  # (N, d, h, w)
        n, d, h, w = (int(size) for size in x.shape)  # constants in an export at a fixed size
        x = x.flatten(2).transpose(1, 2)  # (N, P, d)
        xn = self.norm(x)
        # nn.Linear computes v @ W.T, so (S Wq)(X̄ Wk)^T = wq(S) @ Wk.weight @ X̄^T.
        query_keys = self.wq(queries) @ self.wk.weight  # (Q, d)
        attn = torch.softmax(query_keys @ xn.transpose(1, 2) * self.scale, dim=-1)  # (N, Q, P)
        summaries = self.wv(attn @ xn)  # (N, Q, d)  = U
        summary_keys = (
            self.rk(summaries) @ self.rq.weight
        )  # (N, Q, d)  so X̄ Rq (U Rk)^T = X̄ @ this^T
        read = torch.softmax(
            xn @ summary_keys.transpose(1, 2) * self.scale, dim=-1
        )  # (N, P, Q)  = B
        y = x + read @ self.ro(
            self.rv(summaries)
        )  # (N, P, d); rows of B sum to 1, so bo passes through
        return y.transpose(1, 2).reshape(n, d, h, w)  # (N, d, h, w)


class StabilityQueries(nn.Module):
    """The shared queries S and one ``LevelModulation`` per backbone stride.

    Args:
        in_channels: backbone ``out_channels``, ``{stride: C_stride}``.
        dim: d.
        num_queries: Q.
    """

    def __init__(self, *, in_channels: dict[int, int], dim: int, num_queries: int) -> None:
        super().__init__()
        # Unit-variance init as nn.Embedding (Mask2Former's query features): distinct anchors from step 0.
        self.queries = nn.Parameter(torch.randn(num_queries, dim))
        self.levels = nn.ModuleDict(
            {
                str(s): LevelModulation(in_channels=c, dim=dim)
                for s, c in sorted(in_channels.items())
            }
        )

    def forward(self, features: dict[int, torch.Tensor]) -> dict[int, torch.Tensor]:
        """Modulate every level of a frame batch.

        Args:
            features: ``{stride: (N, C_stride, h_s, w_s)}`` from the frozen backbone.

        Returns:
            ``{stride: (N, d, h_s, w_s)}`` modulated features.
        """
        return {s: self.levels[str(s)](f, self.queries) for s, f in features.items()}
