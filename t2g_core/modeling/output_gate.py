"""The output gate: a learned temporal filter of the class probabilities that starts as the tuned EMA.

A one-line EMA of a per-frame model's probabilities, ``p̄_t = α p_t + (1 - α) p̄_{t-1}``, was steadier
than every learned temporal path this project trained from scratch. The gate therefore contains that EMA
as its starting point and learns only where to deviate from it, per pixel, from the evidence a constant
cannot see:

    p_t   = softmax(z_t)                                 the decoded frame's class probabilities
    φ_t   = [ a, c_t, c̄_{t-1}, Δ_t, τ_t ]                per pixel of the output, with
        a       = Σ_k p_t,k p̄_{t-1,k}                    agreement of the frame with the filtered past
        c_t     = max_k p_t,k,  c̄_{t-1} = max_k p̄_{t-1,k} confidences
        Δ_t     = mean_c |E_t - E_{t-1}| / (mean_c |E_t| + mean_c |E_{t-1}| + ε)
                                                         image change: the relative change of the
                                                         stride-8 pixel embedding (bilinear to the output)
        τ_t     = log(max(|t - t_prev|, 1 ms) / 40 ms)   the time since the past (0 at 25 fps)
    g_t   = σ( logit(α) + Conv1x1(ReLU(Conv3x3(φ_t))) )  the weight of the new frame, per pixel
    p̄_t   = g_t p_t + (1 - g_t) p̄_{t-1}
    out_t = log(max(p̄_t, 1e-12))                         softmax(out_t) = p̄_t

The last 1x1 convolution starts at zero (weights and bias), so at the start g_t = α everywhere and the
gated model is exactly the per-frame model followed by the EMA; training can only move it from there
(e.g. trust the new frame where the image changed or the past disagrees with a confident frame, hold
the past where the image is still). There is no past at the first frame, after a reset and with a
memory of one frame (``modeling.causal``): then p̄_t = p_t and the output is the decoded logits.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

NUM_EVIDENCE = 5  # channels of φ
_FRAME_S = 0.04  # τ = 0 at this time step (25 fps)
_EPS = 1e-6
_MIN_PROB = 1e-12


def probabilities_to_logits(probs: torch.Tensor) -> torch.Tensor:
    """log(max(p, 1e-12)): logits whose softmax is ``probs`` (a distribution over dim 1)."""
    return probs.clamp_min(_MIN_PROB).log()


class OutputGate(nn.Module):
    """Learned per-pixel blend of the new class probabilities with the filtered past.

    Args:
        init_alpha: α, the new frame's weight at the start (the tuned EMA's).
        hidden: channels of the head's hidden layer.
    """

    def __init__(self, *, init_alpha: float, hidden: int) -> None:
        super().__init__()
        self.register_buffer(
            "alpha_logit", torch.tensor(math.log(init_alpha / (1 - init_alpha))), persistent=False
        )
        self.evidence = nn.Conv2d(NUM_EVIDENCE, hidden, kernel_size=3, padding=1)
        self.weight = nn.Conv2d(hidden, 1, kernel_size=1)
        nn.init.zeros_(self.weight.weight)  # g = α at the start: the EMA exactly
        nn.init.zeros_(self.weight.bias)

    def gate(
        self,
        probs: torch.Tensor,
        past_probs: torch.Tensor,
        embedding: torch.Tensor,
        past_embedding: torch.Tensor,
        offset_s: torch.Tensor,
    ) -> torch.Tensor:
        """g_t, the new frame's weight.

        Args:
            probs, past_probs: (N, K, h, w) p_t and p̄_{t-1}.
            embedding, past_embedding: (N, d, h8, w8) E_t and E_{t-1}.
            offset_s: (N,) time of the past minus the current time, seconds (<= 0).

        Returns:
            (N, 1, h, w) in (0, 1).
        """
        agreement = (probs * past_probs).sum(1, keepdim=True)
        confidence = probs.amax(1, keepdim=True)
        past_confidence = past_probs.amax(1, keepdim=True)
        change = (embedding - past_embedding).abs().mean(1, keepdim=True) / (
            embedding.abs().mean(1, keepdim=True)
            + past_embedding.abs().mean(1, keepdim=True)
            + _EPS
        )
        if change.shape[-2:] != probs.shape[-2:]:
            change = F.interpolate(
                change, size=probs.shape[-2:], mode="bilinear", align_corners=False
            )
        elapsed = torch.log(offset_s.abs().clamp_min(1e-3) / _FRAME_S).to(probs.dtype)
        elapsed = elapsed[:, None, None, None].expand_as(agreement)
        evidence = torch.cat([agreement, confidence, past_confidence, change, elapsed], dim=1)
        return torch.sigmoid(self.alpha_logit + self.weight(F.relu(self.evidence(evidence))))

    def forward(
        self,
        logits: torch.Tensor,
        past_probs: torch.Tensor,
        embedding: torch.Tensor,
        past_embedding: torch.Tensor,
        offset_s: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One filtered step.

        Args:
            logits: (N, K, h, w) z_t, the decoded frame's logits.
            past_probs: (N, K, h, w) p̄_{t-1}.
            embedding, past_embedding: (N, d, h8, w8) E_t and E_{t-1}.
            offset_s: (N,) float, time of the past minus the current time, seconds (<= 0).

        Returns:
            out_t (N, K, h, w), the filtered logits, and p̄_t (N, K, h, w), the next state.
        """
        probs = logits.softmax(1)
        weight = self.gate(probs, past_probs, embedding, past_embedding, offset_s)
        filtered = weight * probs + (1 - weight) * past_probs
        return probabilities_to_logits(filtered), filtered
