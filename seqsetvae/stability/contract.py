"""Label and output-shape contract (DESIGN.md 7.4): each function returns a list of problems."""

from __future__ import annotations

import torch


def label_problems(labels: torch.Tensor, num_patients: int) -> list[str]:
    problems = []
    if labels.shape != (num_patients,):
        problems.append(f"labels: shape {tuple(labels.shape)}, expected ({num_patients},) "
                        "(one per patient)")
    bad = ~((labels == 0) | (labels == 1))
    if bad.any():
        idx = bad.nonzero().flatten()[:5].tolist()
        problems.append(f"labels: values outside {{0, 1}} at batch positions {idx}: "
                        f"{labels.flatten()[idx].tolist()}")
    return problems


def output_problems(out, batch, latent_dim: int) -> list[str]:
    """Shapes, dtypes and finiteness of every tensor the model returns."""
    b, s, n = batch.var_idx.shape
    expected = {"logits": (b,), "mu": (b, s, latent_dim), "logvar": (b, s, latent_dim),
                "z": (b, s, latent_dim), "recon_pred": (b, s, n), "kl_per_dim": (latent_dim,),
                "loss": (), "recon": (), "kl": (), "kl_objective": (), "cls": ()}
    problems = []
    for name, shape in expected.items():
        t = getattr(out, name, None)
        if not isinstance(t, torch.Tensor):
            problems.append(f"{name}: missing")
            continue
        if tuple(t.shape) != shape:
            problems.append(f"{name}: shape {tuple(t.shape)}, expected {shape}")
        if not t.is_floating_point():
            problems.append(f"{name}: dtype {t.dtype}, expected floating point")
        elif not torch.isfinite(t).all():
            problems.append(f"{name}: {int((~torch.isfinite(t)).sum())} non-finite value(s)")
    return problems


def gradient_problems(model: torch.nn.Module) -> list[str]:
    return [f"grad of {name}: non-finite" for name, p in model.named_parameters()
            if p.grad is not None and not torch.isfinite(p.grad).all()]


def contract_problems(model, batch, step: int | None = None) -> list[str]:
    """Run one forward/backward and collect every contract violation."""
    model.zero_grad(set_to_none=True)
    problems = label_problems(batch.labels, batch.var_idx.shape[0])
    out = model(batch, step=step)
    problems += output_problems(out, batch, model.cfg.latent_dim)
    if torch.isfinite(out.loss):
        out.loss.backward()
        problems += gradient_problems(model)
    model.zero_grad(set_to_none=True)
    return problems
