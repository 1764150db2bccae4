"""Set Transformer blocks (Lee et al. 2019) with pre-norm residuals and key-padding masks.

Learned inducing points and pooling seeds are the same for every set, so they enter MAB with a
batch of 1: their norm and query projection run once per call instead of once per set, and
their attention scores are one product per head over the keys of every set.

Per-event work (norms, projections, feed-forward) runs on the real events only (``Packing``);
attention runs on the padded [sets, slots] grid, where the key mask hides the padding. Padding
rows never reach a real output, so this changes the rounding of a few sums and nothing else;
dropout draws its noise for the real rows only.

Dropout (``dropout``, ``Dropout``) takes four 16-bit lanes from each 64-bit random word instead
of one random number per element: an element is dropped when its lane falls below a threshold,
so the drop probability is p rounded to a multiple of 2^-16, and the kept elements are scaled by
the inverse of the keep probability actually used, which keeps the mask's mean exactly 1
(``seqsetvae.stability.checks.dropout_problems`` asserts the resulting unbiasedness).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class Packing:
    """Where the real slots of M padded sets of N slots are: the rows of a padded [M, N, C]
    tensor that hold an event, in its memory order."""

    def __init__(self, key_mask: torch.Tensor):
        self.key_mask = key_mask  # [M, N] bool, True = real
        self.sets, self.slots = key_mask.shape
        self.index = key_mask.reshape(-1).nonzero().squeeze(1)

    def pack(self, padded: torch.Tensor) -> torch.Tensor:
        """[M, N, C] -> [R, C], the real rows."""
        return padded.reshape(-1, padded.shape[-1]).index_select(0, self.index)

    def pad(self, rows: torch.Tensor) -> torch.Tensor:
        """[R, C] -> [M, N, C], zeros in the padding slots."""
        padded = rows.new_zeros(self.sets * self.slots, rows.shape[-1])
        return padded.index_copy(0, self.index, rows).view(self.sets, self.slots, -1)


LANES = 1 << 16  # a dropout lane is a 16-bit integer: 65536 equally likely values


def keep_mask(shape: torch.Size | tuple[int, ...], p: float, device) -> tuple[torch.Tensor, float]:
    """(keep, scale): a bool mask keeping each element with probability 1 - p' and the inverse
    of that probability, where p' is p rounded to a multiple of 2^-16 (below 1)."""
    dropped = min(round(p * LANES), LANES - 1)
    numel = math.prod(shape)
    words = torch.empty(-(-numel // 4), dtype=torch.int64, device=device).random_(-2**63, None)
    lanes = words.view(torch.int16)[:numel].view(shape)  # uniform over [-2^15, 2^15)
    return lanes >= dropped - LANES // 2, LANES / (LANES - dropped)


def dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Inverted dropout: x * keep / (1 - p'), with E[output] = x exactly (see ``keep_mask``)."""
    if not training or p == 0:
        return x
    keep, scale = keep_mask(x.shape, p, x.device)
    if x.dtype in (torch.float32, torch.float64):  # the scale exact in the mask: one product
        return x * keep.to(x.dtype).mul_(scale)
    return (x * keep).mul_(scale)  # scaled in fp32 arithmetic, not by a rounded 16-bit factor


class Dropout(nn.Module):
    """nn.Dropout's role with ``dropout``'s mask."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


# CPU softmax kernels run whole SIMD vectors fast and a remainder slowly, and a set has a few
# events, an ISAB a few inducing points: rows are padded to a multiple of one AVX512 vector
SOFTMAX_WIDTH = 16


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
              key_mask: torch.Tensor | None, dropout_p: float) -> torch.Tensor:
    """softmax(q k^T / sqrt(dh)) v with padding keys masked and dropout on the weights.

    The steps of F.scaled_dot_product_attention's reference path, in fp32 as that path computes
    bf16 and fp16 inputs, with ``dropout`` on the weights; its CPU kernels cost far more per
    call than the arithmetic at a few events per set. q [1 or M, H, Q, dh] (1: queries shared
    by every set), k, v [M, H, K, dh], key_mask [M, K] (True = real); returns [M, H, Q, dh] in
    q's dtype."""
    dtype = q.dtype
    with torch.autocast(q.device.type, enabled=False):
        q, k, v = q.float() * q.shape[-1] ** -0.5, k.float(), v.float()
        if q.shape[0] == 1 < k.shape[0]:  # shared queries: one product per head, no expansion
            scores = torch.einsum("hqd,mhkd->mhqk", q[0], k)
        else:
            scores = q @ k.transpose(-2, -1)
        if key_mask is not None:
            scores = scores.masked_fill(~key_mask[:, None, None, :], -math.inf)
        keys = scores.shape[-1]  # padded with -inf (weight 0) to whole vectors, then cut back
        width = -(-keys // SOFTMAX_WIDTH) * SOFTMAX_WIDTH
        weights = F.pad(scores, (0, width - keys), value=-math.inf).softmax(dim=-1)[..., :keys]
        weights = dropout(weights, dropout_p, dropout_p > 0)
        return (weights @ v).to(dtype)


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
        self.drop = Dropout(dropout)

    def forward(self, x: torch.Tensor, y: torch.Tensor, key_mask: torch.Tensor | None = None,
                x_at: Packing | None = None, y_at: Packing | None = None) -> torch.Tensor:
        """x: queries [M, Q, D], or [1, Q, D] shared by every set (learned seeds), or the real
        rows [R, D] of padded sets that ``x_at`` locates; y: keys, likewise (``y_at``);
        key_mask [M, K] bool (True = real). Returns x's shape ([M, Q, D] for shared queries)."""
        h, d = self.heads, x.shape[-1]
        q = self.q(self.norm_q(x))
        q = (q if x_at is None else x_at.pad(q)).unflatten(-1, (h, d // h)).transpose(1, 2)
        kv = self.kv(self.norm_kv(y))
        kv = kv if y_at is None else y_at.pad(kv)
        # one [.., K, 2, H, dh] view splits k and v exactly as chunk(2, -1) would, without
        # copies; unbind (not kv[0], kv[1]) so backward stacks the grads instead of zero-filling
        k, v = kv.unflatten(-1, (2, h, d // h)).permute(2, 0, 3, 1, 4).unbind(0)
        attn = attention(q, k, v, key_mask, self.dropout if self.training else 0.0)
        attn = attn.transpose(1, 2).flatten(2)  # [M, Q, D]
        if x_at is None:
            x = x + self.drop(self.out(attn))
            return x + self.drop(self.ff(self.norm_ff(x)))
        x = x + self.drop(self.out(x_at.pack(attn)))
        return x + self.drop(self.ff(self.norm_ff(x)))


class ISAB(nn.Module):
    """Induced set attention: m learned inducing points summarise the set, the set reads them back.
    Cost is O(N * m) instead of O(N^2)."""

    def __init__(self, dim: int, heads: int, num_inducing: int, dropout: float):
        super().__init__()
        self.inducing = nn.Parameter(torch.randn(1, num_inducing, dim) / math.sqrt(dim))
        self.summarise = MAB(dim, heads, dropout)
        self.broadcast = MAB(dim, heads, dropout)

    def forward(self, rows: torch.Tensor, at: Packing) -> torch.Tensor:
        """rows [R, D]: the real events that ``at`` locates in their sets."""
        h = self.summarise(self.inducing, rows, at.key_mask, y_at=at)  # [M, m, D]
        return self.broadcast(rows, h, x_at=at)


class PMA(nn.Module):
    """Pooling by multihead attention onto one learned seed (fixed, not redrawn per call)."""

    def __init__(self, dim: int, heads: int, dropout: float):
        super().__init__()
        self.seed = nn.Parameter(torch.randn(1, 1, dim) / math.sqrt(dim))
        self.mab = MAB(dim, heads, dropout)
        self.norm = nn.LayerNorm(dim)

    def forward(self, rows: torch.Tensor, at: Packing) -> torch.Tensor:
        """rows [R, D] real events -> [M, D], one vector per set."""
        return self.norm(self.mab(self.seed, rows, at.key_mask, y_at=at)[:, 0])


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
