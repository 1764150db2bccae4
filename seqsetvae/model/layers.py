"""Set Transformer blocks (Lee et al. 2019) with pre-norm residuals and key-padding masks.

Learned inducing points and pooling seeds are the same for every set, so they enter MAB with a
batch of 1: their norm and query projection run once per call instead of once per set (about 6%
of a training step's FLOPs at the default sizes), and only views are expanded to the batch.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class MAB(nn.Module):
    """Multihead attention block: queries x attend to keys y, then a feed-forward, both residual."""

    def __init__(self, dim: int, heads: int, dropout: float):
        super().__init__()
        if dim % heads:
            raise ValueError(f"model_dim {dim} is not divisible by set_heads {heads}")
        self.heads, self.dropout = heads, dropout
        self.norm_q, self.norm_kv = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.norm_ff = nn.LayerNorm(dim)
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.out = nn.Linear(dim, dim)
        self.ff = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, y: torch.Tensor, key_mask: torch.Tensor | None = None):
        """x [M, Q, D] queries, y [M, K, D] keys, key_mask [M, K] bool (True = real). Either x
        or y may have batch 1 (learned seeds, shared keys): it is projected once and broadcast."""
        m = max(x.shape[0], y.shape[0])
        nq, d = x.shape[1], x.shape[2]
        h, dh = self.heads, d // self.heads
        q = self.q(self.norm_q(x)).view(x.shape[0], nq, h, dh).transpose(1, 2)
        # one [.., K, 2, H, dh] view splits k and v exactly as chunk(2, -1) would, without
        # copies; unbind (not kv[0], kv[1]) so backward stacks the grads instead of zero-filling
        kv = self.kv(self.norm_kv(y)).view(y.shape[0], -1, 2, h, dh).permute(2, 0, 3, 1, 4)
        k, v = kv.unbind(0)
        q, k, v = q.expand(m, -1, -1, -1), k.expand(m, -1, -1, -1), v.expand(m, -1, -1, -1)
        mask = None if key_mask is None else key_mask[:, None, None, :]
        attn = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0)
        x = x + self.drop(self.out(attn.transpose(1, 2).reshape(m, nq, d)))
        return x + self.drop(self.ff(self.norm_ff(x)))


class ISAB(nn.Module):
    """Induced set attention: m learned inducing points summarise the set, the set reads them back.
    Cost is O(N * m) instead of O(N^2)."""

    def __init__(self, dim: int, heads: int, num_inducing: int, dropout: float):
        super().__init__()
        self.inducing = nn.Parameter(torch.randn(1, num_inducing, dim) / math.sqrt(dim))
        self.summarise = MAB(dim, heads, dropout)
        self.broadcast = MAB(dim, heads, dropout)

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor) -> torch.Tensor:
        h = self.summarise(self.inducing, x, key_mask)  # batch-1 queries: projected once
        return self.broadcast(x, h)


class PMA(nn.Module):
    """Pooling by multihead attention onto one learned seed (fixed, not redrawn per call)."""

    def __init__(self, dim: int, heads: int, dropout: float):
        super().__init__()
        self.seed = nn.Parameter(torch.randn(1, 1, dim) / math.sqrt(dim))
        self.mab = MAB(dim, heads, dropout)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor) -> torch.Tensor:
        return self.norm(self.mab(self.seed, x, key_mask)[:, 0])


class TimeEncoding(nn.Module):
    """Sinusoidal features of log1p(minutes / scale): hours to years stay distinguishable and
    nothing saturates (the original fed raw minutes into a tanh-like layer)."""

    def __init__(self, dim: int, scale_minutes: float, num_freqs: int = 16):
        super().__init__()
        self.scale = scale_minutes
        self.register_buffer("freqs", torch.logspace(-1, 1.5, num_freqs), persistent=False)
        self.proj = nn.Linear(2 * num_freqs, dim)

    def forward(self, minutes: torch.Tensor) -> torch.Tensor:
        tau = torch.log1p(minutes.clamp_min(0) / self.scale)[..., None] * self.freqs
        return self.proj(torch.cat([tau.sin(), tau.cos()], dim=-1))
