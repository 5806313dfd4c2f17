"""Stride-4 detail path: sharpens the stride-8 logits with the backbone's stride-4 map.

Poles, signs and fences are one or two stride-8 cells wide, so a stride-8 prediction blurs them into
their surroundings. The frozen backbone's stride-4 map still resolves them. Per frame (cached with the
frame's features, one backbone pass):

    D = GN(W_d f4)                                   (N, c, H/4, W/4)

and per decoded frame, from its (fused) stride-8 embedding E and logits Y:

    Z   = up(Y)                                      (N, K, H/4, W/4)  bilinear
    P   = up(W_e E)                                  (N, c, H/4, W/4)
    R   = Block(ReLU(GN(W_in [D; P; Z])))            Block = the pixel decoder's separable 3x3 block
    out = Z + W_out R                                (N, K, H/4, W/4)

``W_out`` starts at zero, so a model warm-started from one without the detail path predicts exactly
what it did (upsampled) at step 0 and learns only the residual. All convolutions but the depthwise one
are 1x1; at 480x360 the path costs about 0.1 GFLOP.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .pixel_decoder import SeparableBlock

DETAIL_STRIDE = 4


class DetailRefiner(nn.Module):
    """Residual stride-4 refinement of stride-8 logits.

    Args:
        in_channels: C_4, channels of the backbone's stride-4 map.
        dim: d, channels of the stride-8 pixel embedding.
        num_classes: K.
        channels: c, width of the projected detail features and of the refinement.
    """

    def __init__(self, *, in_channels: int, dim: int, num_classes: int, channels: int) -> None:
        super().__init__()
        self.project_detail = nn.Sequential(
            nn.Conv2d(in_channels, channels, kernel_size=1, bias=False), nn.GroupNorm(8, channels)
        )
        self.project_embedding = nn.Conv2d(dim, channels, kernel_size=1, bias=False)
        self.mix = nn.Sequential(
            nn.Conv2d(2 * channels + num_classes, channels, kernel_size=1, bias=False),
            nn.GroupNorm(8, channels),
            nn.ReLU(inplace=True),
            SeparableBlock(dim=channels),
        )
        self.out = nn.Conv2d(channels, num_classes, kernel_size=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def encode(self, features4: torch.Tensor) -> torch.Tensor:
        """The per-frame part: (N, C_4, h4, w4) backbone map -> (N, c, h4, w4) detail features D."""
        return self.project_detail(features4)

    def forward(
        self, logits: torch.Tensor, embedding: torch.Tensor, detail: torch.Tensor
    ) -> torch.Tensor:
        """Refine one frame batch.

        Args:
            logits: (N, K, h8, w8) the decoder's stride-8 logits Y.
            embedding: (N, d, h8, w8) the pixel embedding they were decoded from (fused when fusing).
            detail: (N, c, h4, w4) the frames' ``encode`` output D.

        Returns:
            (N, K, h4, w4) refined logits.
        """
        size = detail.shape[-2:]
        coarse = F.interpolate(logits, size=size, mode="bilinear", align_corners=False)
        context = F.interpolate(
            self.project_embedding(embedding), size=size, mode="bilinear", align_corners=False
        )
        return coarse + self.out(self.mix(torch.cat([detail, context, coarse], dim=1)))
