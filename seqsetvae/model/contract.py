"""The model's output contract: the shape, dtype and finiteness of every tensor ``SeqSetVAE``
returns for a batch. One definition, used by the unit tests, by the stability suite's contract
check on trained models, and by the data validator's model-batch check."""

from __future__ import annotations

import torch

from .seqsetvae import LOSS_TERMS


def expected_shapes(batch, latent_dim: int) -> dict[str, tuple[int, ...]]:
    """Output name -> shape for a batch of B patients, S sets and N events per set."""
    b, s, n = batch.var_idx.shape
    return {"logits": (b,), "mu": (b, s, latent_dim), "logvar": (b, s, latent_dim),
            "z": (b, s, latent_dim), "recon_pred": (b, s, n), "kl_per_dim": (latent_dim,),
            **dict.fromkeys(LOSS_TERMS, ())}


def output_problems(out, batch, latent_dim: int, dtype: torch.dtype | None = None) -> list[str]:
    """Every way ``out`` breaks the contract on ``batch``, as 'name: problem' lines; empty when
    it holds. Each output must be a tensor of its expected shape, floating point (exactly
    ``dtype`` when given; under autocast some outputs are half precision) and finite."""
    problems = []
    for name, shape in expected_shapes(batch, latent_dim).items():
        t = getattr(out, name, None)
        if not isinstance(t, torch.Tensor):
            problems.append(f"{name}: missing")
            continue
        if tuple(t.shape) != shape:
            problems.append(f"{name}: shape {tuple(t.shape)}, expected {shape}")
        if not t.is_floating_point() or (dtype is not None and t.dtype != dtype):
            problems.append(f"{name}: dtype {t.dtype}, expected "
                            f"{dtype if dtype is not None else 'floating point'}")
        elif not torch.isfinite(t).all():
            problems.append(f"{name}: {int((~torch.isfinite(t)).sum())} non-finite value(s)")
    return problems
