"""Posterior-collapse metrics: active units, KL per dimension, mutual
information and the z-shuffle intervention gap."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch

from ..model.losses import gaussian_kl_per_dim

ACTIVE_UNIT_THRESHOLD = 0.01  # Burda et al. 2016: Var_x(E[z_d | x]) > 0.01


def real_sets(t: torch.Tensor, set_mask: torch.Tensor) -> torch.Tensor:
    """[B, S, L] -> [M, L] rows of real sets only."""
    return t[set_mask].float()


def active_units(mu: torch.Tensor, threshold: float = ACTIVE_UNIT_THRESHOLD) -> torch.Tensor:
    """Boolean [L]: dimensions whose posterior mean varies across sets. mu is [M, L]."""
    return mu.var(dim=0, unbiased=True) > threshold


def mutual_information(mu: torch.Tensor, logvar: torch.Tensor, generator=None,
                       samples: int = 10) -> float:
    """I(x; z) under the aggregate posterior of these M sets (He et al. 2019 estimator):
    E[log q(z|x)] - E[log q(z)], with q(z) the mixture of the M posteriors, averaged over
    `samples` draws per set. Bounded by log M, so compare values only at a fixed M."""
    m, latent = mu.shape
    neg_entropy = (-0.5 * latent * math.log(2 * math.pi) - 0.5 * (1 + logvar).sum(-1)).mean()
    std = torch.exp(0.5 * logvar)
    log_qz = []
    for _ in range(samples):
        z = mu + std * torch.randn(mu.shape, generator=generator, dtype=mu.dtype)
        # log q(z_i | x_j) for all i, j: [M, M]
        dev = (z[:, None, :] - mu[None, :, :]) / std[None, :, :]
        log_q = -0.5 * (dev.square() + logvar[None] + math.log(2 * math.pi)).sum(-1)
        log_qz.append(torch.logsumexp(log_q, dim=1) - math.log(m))
    return float(neg_entropy - torch.cat(log_qz).mean())


@dataclass
class PosteriorHealth:
    active_units: int
    latent_dim: int
    active_fraction: float
    kl_per_dim_mean: float
    kl_per_dim_max: float
    mutual_information: float
    mi_sets: int  # M used for the MI estimate (MI <= log M)
    shuffle_gap: float  # recon(z shuffled across sets) - recon(z)
    shuffle_gap_relative: float  # gap / recon(z)

    def to_dict(self) -> dict:
        return asdict(self)


@torch.no_grad()
def posterior_health(model, batch, mi_sets: int = 256, seed: int = 0) -> PosteriorHealth:
    """All collapse metrics on one (large) batch, in eval mode (z = posterior mean)."""
    was_training = model.training
    model.eval()
    try:
        out = model(batch)
        mu, logvar = real_sets(out.mu, batch.set_mask), real_sets(out.logvar, batch.set_mask)
        gen = torch.Generator().manual_seed(seed)
        au = active_units(mu)
        kl = gaussian_kl_per_dim(mu, logvar).mean(0)
        pick = torch.randperm(len(mu), generator=gen)[:mi_sets]
        mi = mutual_information(mu[pick].cpu(), logvar[pick].cpu(), gen)
        gap, rel = shuffle_gap(model, batch, out, gen)
    finally:
        model.train(was_training)
    return PosteriorHealth(int(au.sum()), int(au.numel()), float(au.float().mean()),
                           float(kl.mean()), float(kl.max()), mi, int(len(pick)), gap, rel)


@torch.no_grad()
def shuffle_gap(model, batch, out, generator, repeats: int = 5) -> tuple[float, float]:
    """Intervention probe: give every real set another set's latent. If the decoder uses z, the
    reconstruction must get worse; a gap near 0 means z carries no information (collapse).
    Averaged over `repeats` permutations."""
    mask, gaps = batch.set_mask, []
    for _ in range(repeats):
        z = out.z.clone()
        real = z[mask]
        z[mask] = real[torch.randperm(len(real), generator=generator).to(real.device)]
        gaps.append(float(model(batch, z_override=z).recon - out.recon))
    gap = sum(gaps) / len(gaps)
    return gap, gap / max(float(out.recon), 1e-12)
