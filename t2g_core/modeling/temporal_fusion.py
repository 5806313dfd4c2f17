"""Pixel-level spatio-temporal fusion: each pixel of the current frame reads the fused past, locally.

The memory decoder lets past frames reach only the Q global query vectors, which cannot move a class
boundary locally, and that is where flicker lives. This module gives every pixel its own memory: a
recurrent fused stride-8 embedding S_{t-1} that the current frame's embedding E_t reads through a local,
correspondence-free window attention, behind a learned gate. One backbone pass per frame, causal, no
optical flow.

For frame t with embedding E_t (N, d, h, w), the previous fused state S_{t-1} (same shape) and the time
offset Δt = time(S_{t-1}) - time(t) in seconds (Δt < 0):

    q = W_q E_t,   k = W_k S_{t-1},   v = W_v S_{t-1}                (1x1 convs to d_k, d_k, d_v channels)
    a_j(x) = softmax_j( q(x) · k(x + j) / √d_k + b_j ),   j ∈ {-r..r}²  (window k = 2r + 1)
    A(x)   = W_o Σ_j a_j(x) v(x + j)                                    (the past, aligned to x, back to d)
    ρ(x)   = cos(E_t(x), A(x)),   π(x) = max_j a_j(x)                   (agreement, peakedness)
    g(x)   = σ( W_g [q(x); u(x); ρ(x); π(x)] + U_g τ(Δt) + c_g ) · exp(-|Δt| / T_g),   u = Σ_j a_j v(x + j)
    S_t(x) = F_t(x) = E_t(x) + g(x) ⊙ (A(x) - E_t(x))

with the window border replicated, b_j a learned relative-position bias, d_v < d because the window
sum dominates the cost (k² products of (N, d_v, h, w) maps, forward and backward), τ(Δt) the sinusoidal time
features of ``memory_decoder.TimeEncoding``, g per channel, and T_g = softplus(θ) a learned time constant
in seconds. The exp factor makes the gate close on a stale memory whatever the learned part says (a 1 s
gap, a pause); ρ lets it close where past and present disagree (a scene cut, an occlusion, a misalignment
larger than the window). With no state (the first frame, after a reset, memory length 1), F_t = E_t.
F_t replaces E_t in the semantic head and is the next frame's state, so the memory is recurrent: its
reach is not bounded by the window of the query memory.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .memory_decoder import TimeEncoding


class PixelMemoryFusion(nn.Module):
    """Gated local window attention of the current per-pixel embedding to the fused past (module doc).

    Args:
        dim: d, channels of the pixel embedding.
        key_dim: d_k, channels of the attention queries and keys.
        value_dim: d_v, channels of the values summed over the window.
        window: k, odd side of the attention window in stride-8 cells (5: ±16 px at the model input).
        init_time_constant_s: initial T_g; the gate's stale-memory decay exp(-|Δt| / T_g).
        num_frequencies, min_period_s, max_period_s: the time features τ(Δt).
    """

    def __init__(
        self,
        *,
        dim: int,
        key_dim: int,
        value_dim: int,
        window: int,
        init_time_constant_s: float,
        num_frequencies: int,
        min_period_s: float,
        max_period_s: float,
    ) -> None:
        super().__init__()
        if window < 1 or window % 2 == 0:
            raise ValueError(f"window must be an odd int >= 1, got {window}")
        if not init_time_constant_s > 0:
            raise ValueError(f"init_time_constant_s must be > 0, got {init_time_constant_s}")
        self.window = window
        self.key_dim = key_dim
        self.query = nn.Conv2d(dim, key_dim, 1)
        self.key = nn.Conv2d(dim, key_dim, 1)
        self.value = nn.Conv2d(dim, value_dim, 1)
        self.out = nn.Conv2d(value_dim, dim, 1)
        self.position_bias = nn.Parameter(torch.zeros(window * window))
        # The gate reads the current frame and the aligned past through their small projections (q, u):
        # from [E; A] (2d channels) it was the largest matrix product of training.
        self.gate = nn.Conv2d(key_dim + value_dim + 2, dim, 1)
        self.time_encoding = TimeEncoding(
            dim=dim,
            num_frequencies=num_frequencies,
            min_period_s=min_period_s,
            max_period_s=max_period_s,
        )
        # One-hot (k², 1, k, k) kernels: kernel j picks window offset divmod(j, k). A grouped
        # convolution with them stacks the k² shifted copies of a map in one op (``_window``).
        one_hot = torch.eye(window * window).reshape(window * window, 1, window, window)
        self.register_buffer("window_kernels", one_hot, persistent=False)
        # softplus^-1(T0): the learned time constant starts at init_time_constant_s.
        self.time_constant_raw = nn.Parameter(
            torch.tensor(math.log(math.expm1(init_time_constant_s)))
        )

    @property
    def time_constant_s(self) -> torch.Tensor:
        """T_g in seconds (a scalar tensor)."""
        return F.softplus(self.time_constant_raw)

    def forward(
        self, embedding: torch.Tensor, state: torch.Tensor, offset_s: torch.Tensor
    ) -> torch.Tensor:
        """F_t from E_t and S_{t-1}.

        Args:
            embedding: (N, d, h, w) E_t, the current frame's stride-8 pixel embedding.
            state: (N, d, h, w) S_{t-1}, the previous frame's fused embedding.
            offset_s: (N,) float Δt = time of the state minus time of the current frame, seconds (<= 0).

        Returns:
            (N, d, h, w) F_t, also the next state.
        """
        return self.fuse_with_gate(embedding, state, offset_s)[0]

    def fuse_with_gate(
        self, embedding: torch.Tensor, state: torch.Tensor, offset_s: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``forward`` plus the gate g, (N, d, h, w) in [0, 1] (for tests and diagnostics)."""
        if embedding.shape != state.shape:
            raise ValueError(
                f"state {tuple(state.shape)} must match the embedding {tuple(embedding.shape)}"
            )
        n = embedding.shape[0]
        q = _pointwise(self.query, embedding)  # (N, d_k, h, w)
        keys = self._window(_pointwise(self.key, state))  # (N, d_k, k², h, w)
        values = self._window(_pointwise(self.value, state))  # (N, d_v, k², h, w)
        logits = (q[:, :, None] * keys).sum(1) / math.sqrt(self.key_dim)  # (N, k², h, w)
        attention = (logits + self.position_bias[:, None, None]).softmax(dim=1)  # (N, k², h, w)
        read = (attention[:, None] * values).sum(2)  # (N, d_v, h, w), u
        aligned = _pointwise(self.out, read)  # (N, d, h, w), A
        agreement = F.cosine_similarity(embedding, aligned, dim=1, eps=1e-6)[
            :, None
        ]  # (N, 1, h, w)
        peak = attention.amax(dim=1, keepdim=True)  # (N, 1, h, w)
        time_features = self.time_encoding(offset_s.reshape(n, 1).float())[:, 0]  # (N, d)
        gate_logits = _pointwise(self.gate, torch.cat([q, read, agreement, peak], dim=1))
        decay = torch.exp(-offset_s.reshape(n).float().abs() / self.time_constant_s)  # (N,)
        gate = (
            torch.sigmoid(gate_logits + time_features[:, :, None, None])
            * decay[:, None, None, None]
        )
        return embedding + gate * (aligned - embedding), gate

    def _window(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, h, w) -> (N, C, k², h, w): at [:, :, j] the map shifted by window offset
        divmod(j, k) - r, border replicated (one pad and one grouped convolution)."""
        n, c, h, w = (int(size) for size in x.shape)  # constants in an export at a fixed size
        window = self.window
        padded = F.pad(x, (window // 2,) * 4, mode="replicate")
        kernels = self.window_kernels.repeat(c, 1, 1, 1)  # (C k², 1, k, k)
        return F.conv2d(padded, kernels, groups=c).reshape(n, c, window * window, h, w)


def _pointwise(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """A 1x1 ``conv`` as one matrix product: (N, C, h, w) -> (N, O, h, w).

    Same result as ``conv(x)``; on the CPU PyTorch runs 1x1 convolutions of these shapes through its slow
    im2col path, about 5x slower than a GEMM in training (forward and backward).
    """
    n, c, h, w = x.shape
    out = conv.weight[:, :, 0, 0] @ x.reshape(n, c, h * w) + conv.bias[:, None]  # (N, O, h*w)
    return out.reshape(n, -1, h, w)
