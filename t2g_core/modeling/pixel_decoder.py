"""Light FPN that fuses the three modulated levels into multi-scale maps and a stride-8 pixel embedding.

    F32 = Block(Y32)
    F16 = Block(Y16 + up(F32))
    F8  = Block(Y8  + up(F16))
    E   = Conv1x1(F8)                     per-pixel embedding the mask embeddings are dotted with

Block = depthwise 3x3 -> GN -> pointwise 1x1 -> GN -> ReLU: 3x3 context at about 1/9 the cost of a
dense 3x3 conv at width d. ``up`` is bilinear to the finer map's exact size (odd sizes round up).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class SeparableBlock(nn.Module):
    """Depthwise-separable 3x3 block, (N, d, h, w) -> (N, d, h, w)."""

    def __init__(self, *, dim: int) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(dim, dim, kernel_size=3, padding=1, groups=dim, bias=False),
            nn.GroupNorm(8, dim),
            nn.Conv2d(dim, dim, kernel_size=1, bias=False),
            nn.GroupNorm(8, dim),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class PixelDecoder(nn.Module):
    """Top-down fusion of modulated features at strides 32, 16, 8.

    Args:
        dim: d, channels of inputs, outputs and the pixel embedding.
    """

    def __init__(self, *, dim: int) -> None:
        super().__init__()
        self.blocks = nn.ModuleDict({str(s): SeparableBlock(dim=dim) for s in (32, 16, 8)})
        self.embed = nn.Conv2d(dim, dim, kernel_size=1)

    def forward(
        self, levels: dict[int, torch.Tensor]
    ) -> tuple[dict[int, torch.Tensor], torch.Tensor]:
        """Fuse one frame batch.

        Args:
            levels: ``{s: (N, d, h_s, w_s)}`` for s in (8, 16, 32), the modulated features.

        Returns:
            fused: ``{s: (N, d, h_s, w_s)}``, the FPN maps (memory tokens come from these);
            pixel_embedding: (N, d, h_8, w_8).
        """
        fused = {32: self.blocks["32"](levels[32])}
        for coarse, fine in ((32, 16), (16, 8)):
            size = tuple(int(s) for s in levels[fine].shape[-2:])  # constant in an export
            up = F.interpolate(fused[coarse], size=size, mode="bilinear", align_corners=False)
            fused[fine] = self.blocks[str(fine)](levels[fine] + up)
        return fused, self.embed(fused[8])
