"""Spatio-Temporal Memory Decoder: the shared queries read a memory of the last T frames, then predict masks.

Memory. Each frame contributes tokens M (its pixel-decoder maps at ``memory_strides``, flattened) with a
2-D sine position encoding plus a learned level embedding, P. A memory frame seen Δt seconds before the
frame being decoded (Δt ≤ 0, in seconds, never a frame index, so any frame rate or stride works) gets
a temporal encoding τ(Δt) = Linear([sin(ω_i Δt), cos(ω_i Δt)]_i) with log-spaced periods 2π/ω_i,
plus, with ``past_encoding``, the past-frame term δ(Δt) = W_δ(φ(Δt) - φ(0)) + b_δ [Δt < 0] (φ the same
sines and cosines; W_δ, b_δ start at zero): it is zero for the current frame by construction, so a
temporal stage that trains only δ changes how past frames are read and never the per-frame decoding.
Layer l attends to

    K_l = (M + P + τ(Δt)) Wk_l + bk_l,      V_l = (M + τ(Δt)) Wv_l + bv_l

over the tokens of all memory frames at once (one softmax across frames and levels). (M + P) Wk_l and
M Wv_l do not depend on the frame being decoded, so ``project_memory`` computes them once per frame and
the caller caches them; τ(Δt) Wk_l and τ(Δt) Wv_l are one vector each per memory frame, added at
decode time.

Layers (Mask2Former order, post-norm), q_0 = S (the shared Stability Queries):

    q = LN(q + CrossAttn(q, K_l, V_l));  q = LN(q + SelfAttn(q));  q = LN(q + FFN(q))

Prediction from any q (shared head): q̂ = LN(q), class logits c = Linear(q̂) ∈ R^{Q×(K+1)} (last slot =
no object), mask logits m_q(x) = MLP(q̂)_q · E(x) with E the frame's stride-8 pixel embedding, and

    p_k(x) ∝ Σ_q softmax(c_q)_k σ(m_q(x)),    sem_logits_k(x) = log(Σ_q softmax(c_q)_k σ(m_q(x)) + eps)

so softmax(sem_logits) is the class distribution. No optical flow and no explicit correspondence:
frames are related only through attention of the shared queries.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .size_cache import SizeCache

_EPS = 1e-6


def sine_position_encoding(h: int, w: int, dim: int, *, device: torch.device) -> torch.Tensor:
    """DETR-style 2-D sine encoding of normalised pixel-centre coordinates.

    Returns:
        (h * w, dim) float32; the first dim/2 channels encode y, the rest x, each as [sin, cos] pairs.
    """
    quarter = dim // 4
    freqs = 10000.0 ** (
        -torch.arange(quarter, device=device, dtype=torch.float32) / quarter
    )  # (dim/4,)
    ys = (torch.arange(h, device=device, dtype=torch.float32) + 0.5) / h * 2 * math.pi
    xs = (torch.arange(w, device=device, dtype=torch.float32) + 0.5) / w * 2 * math.pi
    ang_y = ys[:, None] * freqs  # (h, dim/4)
    ang_x = xs[:, None] * freqs  # (w, dim/4)
    enc_y = torch.cat([ang_y.sin(), ang_y.cos()], dim=-1)[:, None, :].expand(h, w, 2 * quarter)
    enc_x = torch.cat([ang_x.sin(), ang_x.cos()], dim=-1)[None, :, :].expand(h, w, 2 * quarter)
    return torch.cat([enc_y, enc_x], dim=-1).reshape(h * w, 4 * quarter)  # (h*w, dim)


class TimeEncoding(nn.Module):
    """τ(Δt): sinusoidal features of a time offset in seconds, then a linear map to d.

    Args:
        dim: d.
        num_frequencies: F periods, log-spaced in [min_period_s, max_period_s].
    """

    def __init__(
        self, *, dim: int, num_frequencies: int, min_period_s: float, max_period_s: float
    ) -> None:
        super().__init__()
        periods = torch.logspace(
            math.log10(min_period_s), math.log10(max_period_s), num_frequencies
        )
        # Derived from the config, so not saved in checkpoints.
        self.register_buffer("omega", 2 * math.pi / periods, persistent=False)
        self.proj = nn.Linear(2 * num_frequencies, dim)

    def forward(self, offsets_s: torch.Tensor) -> torch.Tensor:
        """(N, M) float offsets in seconds -> (N, M, d)."""
        angles = offsets_s[..., None].float() * self.omega  # (N, M, F)
        return self.proj(torch.cat([angles.sin(), angles.cos()], dim=-1))


class PastEncoding(nn.Module):
    """δ(Δt) = W_δ(φ(Δt) - φ(0)) + b_δ [Δt < 0]: zero at Δt = 0 and, at the start, everywhere.

    Args:
        time_encoding: τ, whose frequencies φ uses.
        dim: d.
    """

    def __init__(self, time_encoding: TimeEncoding, *, dim: int) -> None:
        super().__init__()
        # τ's frequencies (derived from the config, so not saved in checkpoints).
        self.register_buffer("omega", time_encoding.omega.clone(), persistent=False)
        self.proj = nn.Linear(2 * len(self.omega), dim, bias=False)
        self.past_bias = nn.Parameter(torch.zeros(dim))
        nn.init.zeros_(self.proj.weight)

    def forward(self, offsets_s: torch.Tensor) -> torch.Tensor:
        """(N, M) float offsets in seconds (<= 0) -> (N, M, d)."""
        angles = offsets_s[..., None].float() * self.omega  # (N, M, F)
        features = torch.cat([angles.sin(), angles.cos() - 1.0], dim=-1)  # φ(Δt) - φ(0)
        past = (offsets_s < 0).to(features.dtype)[..., None]  # (N, M, 1)
        return self.proj(features) + past * self.past_bias


@dataclass(frozen=True)
class StackedMemory:
    """The memory frames of N decoded frames as the attention reads them, one tensor per decoder layer.

    Attributes:
        keys: per layer (N, M, h, d/h, L_tok): frame m's keys split into h heads and transposed for the
            score product (``MemoryCrossAttention.split_heads``).
        values: per layer (N, M, h, L_tok, d/h).
    """

    keys: tuple[torch.Tensor, ...]
    values: tuple[torch.Tensor, ...]

    @property
    def num_frames(self) -> int:
        """M, the memory frames."""
        return self.keys[0].shape[1]


class MemoryCrossAttention(nn.Module):
    """Multi-head attention of the queries to the memory of several frames (one softmax across them).

    The memory is read frame by frame, never concatenated: with s_ml the scaled score of token l of
    frame m and b_m = q·τ(Δt_m)Wk / √(d/h) its frame's time term (one number per frame, head and
    query), the attention weight exp(s_ml + b_m - C) / Z factors into exp(s_ml - c_m), a softmax
    numerator within the frame (c_m = max_l s_ml), times u_m = exp(c_m + b_m - C) with
    C = max_m (c_m + b_m), and the output is

        Σ_m u_m (Σ_l exp(s_ml - c_m) V_ml + r_m τ(Δt_m)Wv) / Σ_m u_m r_m,   r_m = Σ_l exp(s_ml - c_m).

    So τ only touches (M, h, Q) tensors, and frames stored apart (the onnxruntime ring buffer, layer by
    layer) are read in place: this is softmax attention over the concatenated memory, reordered.
    """

    def __init__(self, *, dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(dim, dim)
        self.v = nn.Linear(dim, dim)
        self.out = nn.Linear(dim, dim)

    def project(self, tokens: torch.Tensor, pos: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-frame part of keys and values: ((M + P) Wk + bk, M Wv + bv), each (N, L, d)."""
        return self.k(tokens + pos), self.v(tokens)

    def split_heads(
        self, keys: torch.Tensor, values: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, L, d) keys and values of one frame -> keys (N, h, d/h, L), values (N, h, L, d/h)."""
        n, length, d = keys.shape
        heads = self.num_heads
        return (
            keys.reshape(n, length, heads, d // heads).permute(0, 2, 3, 1),
            values.reshape(n, length, heads, d // heads).transpose(1, 2),
        )

    def forward(
        self,
        queries: torch.Tensor,
        keys: torch.Tensor,
        values: torch.Tensor,
        time_embedding: torch.Tensor,
    ) -> torch.Tensor:
        """Attend over all memory frames.

        Args:
            queries: (N, Q, d).
            keys: (N, M, h, d/h, L) and values: (N, M, h, L, d/h), one layer of a ``StackedMemory``.
            time_embedding: (N, M, d), τ(Δt) of each memory frame.

        Returns:
            (N, Q, d).
        """
        n, num_q, d = queries.shape
        heads = self.num_heads
        head_dim = d // heads
        q = self.q(queries).reshape(n, num_q, heads, head_dim).transpose(1, 2)  # (N, h, Q, d/h)
        q = (q * head_dim**-0.5)[:, None]  # (N, 1, h, Q, d/h), scaled as in softmax(qk^T / √(d/h))
        key_shift = F.linear(time_embedding, self.k.weight).reshape(n, -1, heads, head_dim, 1)
        value_shift = F.linear(time_embedding, self.v.weight).reshape(n, -1, heads, 1, head_dim)
        scores = q @ keys  # (N, M, h, Q, L) = s_ml
        frame_max = scores.amax(dim=-1, keepdim=True)  # (N, M, h, Q, 1) = c_m
        weights = torch.exp(scores - frame_max)
        frame_sum = weights.sum(dim=-1, keepdim=True)  # (N, M, h, Q, 1) = r_m
        frame_logit = frame_max + q @ key_shift  # c_m + b_m
        frame_weight = torch.exp(frame_logit - frame_logit.amax(dim=1, keepdim=True))  # u_m
        read = weights @ values + frame_sum * value_shift  # (N, M, h, Q, d/h)
        out = (frame_weight * read).sum(dim=1) / (frame_weight * frame_sum).sum(dim=1)
        return self.out(out.transpose(1, 2).reshape(n, num_q, d))  # (N, Q, d)


class MemoryDecoderLayer(nn.Module):
    """Cross-attention to memory, self-attention, FFN; each residual and post-LayerNorm."""

    def __init__(self, *, dim: int, num_heads: int, ffn_dim: int) -> None:
        super().__init__()
        self.cross_attn = MemoryCrossAttention(dim=dim, num_heads=num_heads)
        self.self_attn = nn.MultiheadAttention(dim, num_heads, batch_first=True)
        self.ffn = nn.Sequential(
            nn.Linear(dim, ffn_dim), nn.ReLU(inplace=True), nn.Linear(ffn_dim, dim)
        )
        self.norm_cross = nn.LayerNorm(dim)
        self.norm_self = nn.LayerNorm(dim)
        self.norm_ffn = nn.LayerNorm(dim)

    def forward(
        self,
        queries: torch.Tensor,
        keys: torch.Tensor,
        values: torch.Tensor,
        time_embedding: torch.Tensor,
    ) -> torch.Tensor:
        """(N, Q, d) queries -> (N, Q, d); memory arguments as ``MemoryCrossAttention.forward``."""
        q = self.norm_cross(queries + self.cross_attn(queries, keys, values, time_embedding))
        q = self.norm_self(q + self.self_attn(q, q, q, need_weights=False)[0])
        return self.norm_ffn(q + self.ffn(q))


class SemanticHead(nn.Module):
    """Queries + pixel embedding -> per-class log-probability map (module doc, "Prediction")."""

    def __init__(self, *, dim: int, num_classes: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.classes = nn.Linear(dim, num_classes + 1)
        self.mask_mlp = nn.Sequential(
            nn.Linear(dim, dim),
            nn.ReLU(inplace=True),
            nn.Linear(dim, dim),
            nn.ReLU(inplace=True),
            nn.Linear(dim, dim),
        )

    def forward(self, queries: torch.Tensor, pixel_embedding: torch.Tensor) -> torch.Tensor:
        """
        Args:
            queries: (N, Q, d).
            pixel_embedding: (N, d, h, w).

        Returns:
            sem_logits: (N, K, h, w) float32, log of the unnormalised class scores.
        """
        q = self.norm(queries)
        class_probs = self.classes(q).softmax(dim=-1)[..., :-1]  # (N, Q, K), no-object slot dropped
        n, d, h, w = pixel_embedding.shape
        masks = (self.mask_mlp(q) @ pixel_embedding.reshape(n, d, h * w)).sigmoid()  # (N, Q, h*w)
        scores = class_probs.transpose(1, 2) @ masks  # (N, K, h*w)
        return torch.log(scores + _EPS).reshape(n, -1, h, w)  # (N, K, h, w)


class MemoryDecoder(nn.Module):
    """Decode frames from a memory of cached per-frame keys/values.

    Args:
        dim: d.
        num_classes: K.
        num_layers: L.
        num_heads: attention heads (divides d).
        ffn_dim: FFN hidden width.
        memory_strides: pixel-decoder strides whose tokens form the memory, in this order.
        num_frequencies, min_period_s, max_period_s: the time encoding τ.
        past_encoding: also add δ(Δt) (``PastEncoding``).
    """

    def __init__(
        self,
        *,
        dim: int,
        num_classes: int,
        num_layers: int,
        num_heads: int,
        ffn_dim: int,
        memory_strides: Sequence[int],
        num_frequencies: int,
        min_period_s: float,
        max_period_s: float,
        past_encoding: bool = False,
    ) -> None:
        super().__init__()
        self.memory_strides = tuple(memory_strides)
        # N(0, 1) init as Mask2Former's nn.Embedding level embedding.
        self.level_embed = nn.Parameter(torch.randn(len(self.memory_strides), dim))
        self.time_encoding = TimeEncoding(
            dim=dim,
            num_frequencies=num_frequencies,
            min_period_s=min_period_s,
            max_period_s=max_period_s,
        )
        self.past_encoding = PastEncoding(self.time_encoding, dim=dim) if past_encoding else None
        self.layers = nn.ModuleList(
            MemoryDecoderLayer(dim=dim, num_heads=num_heads, ffn_dim=ffn_dim)
            for _ in range(num_layers)
        )
        self.head = SemanticHead(dim=dim, num_classes=num_classes)
        # (h*w, d) position encoding per map size; derived, never saved.
        self._sine_encoding = SizeCache(sine_position_encoding)

    def project_memory(
        self, fused: dict[int, torch.Tensor]
    ) -> tuple[tuple[torch.Tensor, ...], tuple[torch.Tensor, ...]]:
        """Per-frame memory keys and values of every layer (independent of the frame being decoded).

        Args:
            fused: ``{stride: (N, d, h_s, w_s)}`` pixel-decoder maps of N frames.

        Returns:
            keys, values: one (N, L_tok, d) tensor per decoder layer; L_tok = Σ_s h_s * w_s over
            ``memory_strides``.
        """
        tokens, pos = [], []
        for level, stride in enumerate(self.memory_strides):
            _, d, h, w = fused[stride].shape
            tokens.append(fused[stride].flatten(2).transpose(1, 2))  # (N, h*w, d)
            pos.append(self._sine_encoding(h, w, d, device=fused[stride].device))
            pos[-1] = pos[-1] + self.level_embed[level]
        tokens_all = torch.cat(tokens, dim=1)  # (N, L_tok, d)
        pos_all = torch.cat(pos, dim=0)  # (L_tok, d)
        projected = [layer.cross_attn.project(tokens_all, pos_all) for layer in self.layers]
        return tuple(k for k, _ in projected), tuple(v for _, v in projected)

    def split_heads(
        self, keys: Sequence[torch.Tensor], values: Sequence[torch.Tensor]
    ) -> tuple[tuple[torch.Tensor, ...], tuple[torch.Tensor, ...]]:
        """One frame's ``project_memory`` output in the attention's layout.

        Returns:
            keys (N, h, d/h, L_tok) and values (N, h, L_tok, d/h), one of each per layer.
        """
        split = [
            layer.cross_attn.split_heads(k, v)
            for layer, k, v in zip(self.layers, keys, values, strict=True)
        ]
        return tuple(k for k, _ in split), tuple(v for _, v in split)

    def stack_memory(
        self,
        memory_keys: Sequence[Sequence[torch.Tensor]],
        memory_values: Sequence[Sequence[torch.Tensor]],
    ) -> StackedMemory:
        """M frames' ``project_memory`` outputs (per frame, per layer (N, L_tok, d)) stacked per layer."""
        split = [self.split_heads(k, v) for k, v in zip(memory_keys, memory_values, strict=True)]
        return StackedMemory(
            keys=tuple(torch.stack(layer, dim=1) for layer in zip(*(k for k, _ in split))),
            values=tuple(torch.stack(layer, dim=1) for layer in zip(*(v for _, v in split))),
        )

    def forward(
        self,
        *,
        queries: torch.Tensor,
        pixel_embedding: torch.Tensor,
        memory: StackedMemory,
        offsets_s: torch.Tensor,
        with_aux: bool,
    ) -> list[torch.Tensor]:
        """Decode N frames.

        Args:
            queries: (Q, d) the shared Stability Queries, the initial decoder queries.
            pixel_embedding: (N, d, h, w) stride-8 embedding of the frames being decoded.
            memory: the M memory frames (``stack_memory``).
            offsets_s: (N, M) float, time of each memory frame minus time of the decoded frame, seconds.
            with_aux: also predict from the initial queries and every intermediate layer.

        Returns:
            sem_logits (N, K, h, w) per prediction: [q_0, q_1, ..., q_{L-1}, q_L] with ``with_aux``,
            else [q_L]; the last one is the output.
        """
        time_embedding = self.time_encoding(offsets_s)  # (N, M, d)
        if self.past_encoding is not None:
            time_embedding = time_embedding + self.past_encoding(offsets_s)
        q = queries.expand(pixel_embedding.shape[0], -1, -1)  # (N, Q, d)
        predictions = [self.head(q, pixel_embedding)] if with_aux else []
        for index, layer in enumerate(self.layers):
            q = layer(q, memory.keys[index], memory.values[index], time_embedding)
            if with_aux or index == len(self.layers) - 1:
                predictions.append(self.head(q, pixel_embedding))
        return predictions
