"""SeqSetVAE contract: batched == per-set loop, invariances, finiteness, shapes, loss scales."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from seqsetvae.data.collate import Batch
from seqsetvae.model import build_model
from seqsetvae.model.contract import output_problems
from seqsetvae.model.losses import focal_loss, gaussian_kl_per_dim

from .factories import random_batch, small_config
from .reference import reference_forward

SETTINGS = settings(max_examples=20, deadline=None)


def make_model(cfg=None, num_variables=10, seed=0):
    torch.manual_seed(seed)
    return build_model(num_variables, cfg or small_config()).eval()


def with_fields(batch: Batch, **changes) -> Batch:
    return dataclasses.replace(batch, **changes)


@pytest.mark.parametrize("preset_name", ["baseline", "optimized", "conservative"])
def test_batched_equals_per_set_loop_reference(preset_name):
    model = make_model(small_config(preset_name))
    batch = random_batch(B=4, S=6, N=5, seed=1)
    with torch.no_grad():
        fast, slow = model(batch), reference_forward(model, batch)
    real = batch.set_mask
    torch.testing.assert_close(fast.logits, slow.logits, atol=1e-5, rtol=0)
    torch.testing.assert_close(fast.mu[real], slow.mu[real], atol=1e-5, rtol=0)
    torch.testing.assert_close(fast.logvar[real], slow.logvar[real], atol=1e-5, rtol=0)
    ev = batch.event_mask
    torch.testing.assert_close(fast.recon_pred[ev], slow.recon_pred[ev], atol=1e-5, rtol=0)
    for name in ("loss", "recon", "kl", "cls"):
        torch.testing.assert_close(getattr(fast, name), getattr(slow, name), atol=1e-5, rtol=0)


@SETTINGS
@given(seed=st.integers(0, 10_000), B=st.integers(1, 3), S=st.integers(1, 5), N=st.integers(1, 5))
def test_event_permutation_inside_a_set_changes_nothing(seed, B, S, N):
    model, batch = make_model(), random_batch(B, S, N, seed=seed)
    g = torch.Generator().manual_seed(seed)
    B, S, N = batch.var_idx.shape
    perm = torch.stack([torch.randperm(N, generator=g) for _ in range(B * S)]).view(B, S, N)
    shuffled = with_fields(batch, **{k: torch.gather(getattr(batch, k), 2, perm)
                                     for k in ("var_idx", "values", "event_mask")})
    with torch.no_grad():
        a, b = model(batch), model(shuffled)
    torch.testing.assert_close(a.logits, b.logits, atol=1e-5, rtol=0)
    torch.testing.assert_close(a.loss, b.loss, atol=1e-5, rtol=0)
    torch.testing.assert_close(a.mu[batch.set_mask], b.mu[batch.set_mask], atol=1e-5, rtol=0)


@SETTINGS
@given(seed=st.integers(0, 10_000), extra_sets=st.integers(0, 3), extra_events=st.integers(0, 3))
def test_extra_padding_changes_nothing(seed, extra_sets, extra_events):
    model, batch = make_model(), random_batch(2, 4, 3, seed=seed)

    def pad(t, value=0):
        return torch.nn.functional.pad(t, (0, extra_events, 0, extra_sets), value=value)

    padded = Batch(var_idx=pad(batch.var_idx), values=pad(batch.values, 7.0),
                   event_mask=pad(batch.event_mask, False),
                   set_mask=torch.nn.functional.pad(batch.set_mask, (0, extra_sets), value=False),
                   times=torch.nn.functional.pad(batch.times, (0, extra_sets), value=99.0),
                   labels=batch.labels)
    with torch.no_grad():
        a, b = model(batch), model(padded)
    torch.testing.assert_close(a.logits, b.logits, atol=1e-5, rtol=0)
    torch.testing.assert_close(a.loss, b.loss, atol=1e-5, rtol=0)


@SETTINGS
@given(seed=st.integers(0, 10_000), B=st.integers(1, 4), S=st.integers(1, 6), N=st.integers(1, 6),
       train=st.booleans())
def test_output_contract_for_any_small_shape(seed, B, S, N, train):
    model = make_model().train(train)
    batch = random_batch(B, S, N, seed=seed)
    out = model(batch, step=3)
    assert output_problems(out, batch, model.cfg.latent_dim, dtype=torch.float32) == []
    assert out.kl >= 0 and out.cls >= 0 and out.recon >= 0
    out.loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_empty_sets_single_events_and_empty_patients_are_finite():
    model = make_model().train()
    batch = random_batch(B=3, S=1, N=1, seed=3)  # length-1 sequences of single-event sets
    assert torch.isfinite(model(batch).loss)
    # patient 1 has no events at all; patient 2 has an empty set in the middle
    empty = with_fields(batch, event_mask=batch.event_mask.clone(), set_mask=batch.set_mask.clone())
    empty.event_mask[1] = False
    empty.set_mask[1] = False
    out = model(empty)
    assert out.logits.shape == (3,) and torch.isfinite(out.logits).all()
    assert torch.isfinite(out.loss)


@given(mu=st.floats(-20, 20), logvar=st.floats(-30, 30))
def test_kl_is_non_negative(mu, logvar):
    assert gaussian_kl_per_dim(torch.tensor(mu), torch.tensor(logvar)) >= -1e-6


@given(logit=st.floats(-50, 50), label=st.sampled_from([0.0, 1.0]), alpha=st.floats(0, 1),
       gamma=st.floats(0, 5))
def test_focal_loss_is_non_negative(logit, label, alpha, gamma):
    assert focal_loss(torch.tensor([logit]), torch.tensor([label]), alpha, gamma) >= 0


def test_focal_alpha_weights_the_positive_class():
    logits, pos, neg = torch.zeros(1), torch.ones(1), torch.zeros(1)
    assert focal_loss(logits, pos, 0.9, 2.0) > focal_loss(logits, neg, 0.9, 2.0)
    assert focal_loss(logits, pos, 0.1, 2.0) < focal_loss(logits, neg, 0.1, 2.0)


def test_value_at_the_mean_keeps_the_variable_identity():
    """The original multiplied embeddings by the value, so a z-scored 0 erased the variable."""
    model = make_model()
    x = model.embed_events(torch.tensor([1, 2]), torch.zeros(2))
    assert not torch.allclose(x[0], x[1])


def test_posterior_mean_in_eval_and_sample_in_train():
    model, batch = make_model(), random_batch(seed=4)
    with torch.no_grad():
        ev = model.eval()(batch)
        tr = model.train()(batch)
    torch.testing.assert_close(ev.z, ev.mu)
    assert not torch.allclose(tr.z, tr.mu)


def test_no_future_leakage_in_the_causal_transformer():
    model = make_model()
    batch = random_batch(B=1, S=6, N=3, seed=5, min_sets=6)
    with torch.no_grad():
        h = model.sequence(model(batch).z, batch.times)
        z2 = model(batch).z.clone()
        z2[:, 4:] += 5.0  # change the future
        h2 = model.sequence(z2, batch.times)
    torch.testing.assert_close(h[:, :4], h2[:, :4])
    assert not torch.allclose(h[:, 4:], h2[:, 4:])


def test_beta_warms_up_with_optimizer_steps():
    model = make_model(small_config(beta=0.1, beta_warmup_steps=10))
    assert model.beta_at(0) == 0.0
    assert model.beta_at(5) == pytest.approx(0.05)
    assert model.beta_at(50) == pytest.approx(0.1)
    assert model.beta_at(None) == pytest.approx(0.1)
