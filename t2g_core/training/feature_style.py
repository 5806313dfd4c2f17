"""Style randomisation of frozen-backbone maps: mix and perturb their channel statistics.

The bank holds a fixed set of augmented views; re-styling their maps at every step gives the decoder
new "domains" for free. Shallow backbone channels' means and standard deviations carry much of an
image's style (colour, contrast, haze, texture; MixStyle, Zhou et al. 2021; DSU, Li et al. 2022).
For a clip pair r with frames f (C channels, maps at stride s), with per-channel statistics taken over
all of the pair's frames and pixels:

    μ_r, σ_r                                      (C,)
    μ'_r = λ μ_r + (1 - λ) μ_p + ε_μ · noise · std_batch(μ)       p another pair, λ ~ Beta(a, a)
    σ'_r = (λ σ_r + (1 - λ) σ_p + ε_σ · noise · std_batch(σ)).clamp(min=0.1 σ_r)
    f'   = (f - μ_r) / σ_r · σ'_r + μ'_r          ε ~ N(0, 1) per channel

The same affine map applies to every frame of the pair, so a clip stays a plausible video (a per-frame
draw would teach the temporal modules that style flickers).
"""

from __future__ import annotations

import numpy as np
import torch

from .config import FeatureStyleConfig

_EPS = 1e-5


def restyle_levels(
    levels: dict[int, torch.Tensor],
    frame_pairs: torch.Tensor,
    *,
    num_pairs: int,
    rng: np.random.Generator,
    config: FeatureStyleConfig,
) -> dict[int, torch.Tensor]:
    """Re-style the maps of the pairs drawn with probability ``config.prob``.

    Args:
        levels: ``{stride: (N, C, h, w)}`` float32 maps of N distinct bank frames.
        frame_pairs: (N,) int64, the clip pair (0..num_pairs-1) each frame belongs to.
        num_pairs: B.
        rng: the trainer's generator (draws: which pairs, partners, λ, ε).
        config: the strides and ranges.

    Returns:
        ``levels`` with the chosen strides replaced by re-styled copies (others untouched).
    """
    chosen = rng.random(num_pairs) < config.prob
    if num_pairs < 2 or not chosen.any():
        return levels
    partners = (np.arange(num_pairs) + rng.integers(1, num_pairs, num_pairs)) % num_pairs
    lam = torch.from_numpy(rng.beta(config.mix_alpha, config.mix_alpha, num_pairs)).float()
    onehot = torch.nn.functional.one_hot(frame_pairs, num_pairs).float()  # (N, B)
    frames_per_pair = onehot.sum(0).clamp(min=1)  # (B,)
    out = dict(levels)
    for stride in config.strides:
        maps = levels[stride]
        n, c = maps.shape[:2]
        pixel_mean = maps.mean(dim=(2, 3))  # (N, C)
        pixel_sq = maps.pow(2).mean(dim=(2, 3))
        mean = onehot.T @ pixel_mean / frames_per_pair[:, None]  # (B, C)
        std = (onehot.T @ pixel_sq / frames_per_pair[:, None] - mean.pow(2)).clamp(min=_EPS).sqrt()
        noise_mean = torch.from_numpy(rng.standard_normal((num_pairs, c))).float()
        noise_std = torch.from_numpy(rng.standard_normal((num_pairs, c))).float()
        spread_mean = mean.std(dim=0, keepdim=True) * config.noise  # (1, C)
        spread_std = std.std(dim=0, keepdim=True) * config.noise
        new_mean = lam[:, None] * mean + (1 - lam[:, None]) * mean[partners]
        new_mean = new_mean + noise_mean * spread_mean
        new_std = lam[:, None] * std + (1 - lam[:, None]) * std[partners]
        new_std = torch.maximum(new_std + noise_std * spread_std, 0.1 * std)
        keep = torch.from_numpy(~chosen)
        new_mean = torch.where(keep[:, None], mean, new_mean)
        new_std = torch.where(keep[:, None], std, new_std)
        scale = (new_std / std)[frame_pairs]  # (N, C)
        shift = (new_mean - mean * new_std / std)[frame_pairs]
        out[stride] = maps * scale[:, :, None, None] + shift[:, :, None, None]
    return out
