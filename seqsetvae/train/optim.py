"""AdamW with parameter groups and the warm-up + cosine learning-rate schedule."""

from __future__ import annotations

import math

import torch
from torch import nn


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Decay only the weight matrices of Linear layers; norms, biases, embeddings, inducing points
    and pooling seeds are not shrunk towards zero."""
    decay_ids = {id(m.weight) for m in model.modules() if isinstance(m, nn.Linear)}
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (decay if id(p) in decay_ids else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0}]


FUSED_DEVICES = ("cpu", "cuda")  # where torch ships a fused AdamW kernel (CPU since 2.4)


def build_optimizer(model: nn.Module, cfg) -> torch.optim.AdamW:
    """AdamW with one fused kernel for every parameter on CPU and CUDA (the foreach kernels
    launch per tensor group and cost more than the update itself at these sizes), foreach
    kernels on other devices; never a Python loop per tensor. Build it after the model is on its
    device."""
    o = cfg.optim
    groups = param_groups(model, o.weight_decay)
    fused = all(p.device.type in FUSED_DEVICES for g in groups for p in g["params"])
    return torch.optim.AdamW(groups, lr=o.lr, fused=fused, foreach=None if fused else True)


def lr_factor(step: int, warmup_steps: int, total_steps: int, min_ratio: float) -> float:
    """Linear warm-up to 1 over ``warmup_steps``, then cosine decay to ``min_ratio`` at the end."""
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    span = max(total_steps - warmup_steps, 1)
    progress = min(max(step - warmup_steps, 0) / span, 1.0)
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def build_scheduler(optimizer, cfg, total_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    o = cfg.optim
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, o.warmup_steps, total_steps, o.min_lr_ratio))
