"""Loss terms. Each is normalised so the three are on comparable scales at initialisation."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def gaussian_kl_per_dim(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, 1)) elementwise; >= 0 up to rounding."""
    return 0.5 * (mu.square() + logvar.exp() - 1.0 - logvar)


def free_bits_kl(kl_per_dim: torch.Tensor, free_bits: float) -> torch.Tensor:
    """Sum over dims of max(free_bits, batch-averaged KL of that dim) (Kingma et al. 2016).
    ``kl_per_dim`` is already averaged over the batch: shape [latent]."""
    return torch.clamp(kl_per_dim, min=free_bits).sum()


def focal_loss(logits: torch.Tensor, labels: torch.Tensor, alpha: float,
               gamma: float) -> torch.Tensor:
    """Binary focal loss (Lin et al. 2017), mean over the batch.

    alpha weighs the positive class (label 1) and 1 - alpha the negative class; gamma > 0
    down-weights examples that are already classified well. gamma = 0, alpha = 0.5 is half BCE.
    """
    ce = F.binary_cross_entropy_with_logits(logits, labels, reduction="none")
    p_true = torch.exp(-ce)
    weight = labels * alpha + (1 - labels) * (1 - alpha)
    return (weight * (1 - p_true).pow(gamma) * ce).mean()


def reconstruction_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor,
                        clip: float) -> torch.Tensor:
    """Mean Huber loss per real event on z-scored values clipped to +-clip: one extreme value
    cannot dominate, and the scale does not grow with set size or sequence length."""
    err = F.huber_loss(pred, target.clamp(-clip, clip), reduction="none", delta=1.0)
    maskf = mask.to(err.dtype)
    return (err * maskf).sum() / maskf.sum().clamp_min(1.0)
