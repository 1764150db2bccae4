"""Every model and loss field of the config changes the forward result.

The original code ignored beta and weight_decay; this test makes a silently ignored knob a failure.
Optimisation fields are covered by tests/test_trainer.py (test_optimisation_field_changes_the_run).
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

from seqsetvae.config import LossConfig, ModelConfig
from seqsetvae.model import build_model

from .factories import random_batch, small_config

ALTERNATIVES = {
    # model
    "model_dim": 48, "latent_dim": 12, "levels": 1, "num_inducing": 6, "set_heads": 2,
    "transformer_layers": 2, "transformer_heads": 4, "ff_dim": 96, "dropout": 0.3,
    "logvar_bound": 0.001, "time_scale_minutes": 1.0,
    # loss
    "beta": 0.5, "free_bits": 0.5, "beta_warmup_steps": 10, "use_focal_loss": False,
    "focal_alpha": 0.6, "focal_gamma": 0.5, "recon_weight": 2.0, "cls_weight": 2.0,
    "recon_clip": 0.5,
}


def test_every_model_and_loss_field_is_covered():
    names = {f.name for cls in (ModelConfig, LossConfig) for f in dataclasses.fields(cls)}
    assert names == set(ALTERNATIVES)


def forward_fingerprint(cfg) -> torch.Tensor:
    torch.manual_seed(0)
    model = build_model(10, cfg).train()  # train mode so dropout counts
    batch = random_batch(B=3, S=4, N=5, seed=7)
    torch.manual_seed(1)
    out = model(batch, step=5)
    return torch.cat([out.loss.detach().view(1), out.logits.detach(),
                      out.logvar.detach().flatten()[:8]])


@pytest.mark.parametrize("field", sorted(ALTERNATIVES))
def test_field_changes_the_forward_result(field):
    base = small_config("baseline")
    assert base.to_flat()[field] != ALTERNATIVES[field]
    a = forward_fingerprint(base)
    b = forward_fingerprint(base.replace(**{field: ALTERNATIVES[field]}))
    assert a.shape != b.shape or not torch.equal(a, b), f"{field} did not change the forward pass"
