"""The statistics behind the stability suite, on inputs whose answer is known (the comparison
engine has its own tests: test_engine.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from seqsetvae.diagnostics import (
    analyze_gradients,
    analyze_loss_components,
    analyze_parameter_distributions,
    generate_diagnostic_report,
)
from seqsetvae.model import build_model
from seqsetvae.stability import (
    active_units,
    gradient_report,
    learning_report,
    mutual_information,
    posterior_health,
    within_run_noise,
)
from seqsetvae.stability.golden import GOLDEN_METRICS, compare_golden, diff_lines

from .factories import random_batch, small_config


def test_within_run_noise_ignores_warmup_level_and_smooth_trend():
    rng = np.random.default_rng(0)
    steps = np.arange(60)
    noise = rng.normal(scale=0.01, size=60)
    curve = 1.0 + 0.5 * np.exp(-steps / 15)  # a learning curve's bend
    with_trend = within_run_noise(curve + noise, warmup_steps=5)
    assert with_trend == pytest.approx(within_run_noise(noise, 5), rel=0.15)
    assert within_run_noise(curve + noise + 7, 5) == pytest.approx(with_trend)
    assert within_run_noise(curve + 3 * noise, 5) > 2.5 * with_trend
    spiky = np.r_[[100.0, 50.0, 20.0, 10.0, 5.0], curve[5:] + noise[5:]]
    assert within_run_noise(spiky, 5) == pytest.approx(with_trend)  # warm-up is not counted
    assert within_run_noise(np.r_[curve[:30], [np.inf] * 30], 5) == np.inf


def test_active_units_threshold():
    mu = torch.zeros(100, 3)
    mu[:, 0] = torch.linspace(-1, 1, 100)  # variance ~0.34: active
    mu[:, 1] = torch.linspace(-0.1, 0.1, 100)  # variance ~0.0034: inactive
    assert active_units(mu).tolist() == [True, False, False]


def test_mutual_information_is_zero_for_identical_posteriors_and_large_for_distinct_ones():
    gen = torch.Generator().manual_seed(0)
    same = mutual_information(torch.zeros(128, 4), torch.zeros(128, 4), gen)
    distinct = mutual_information(torch.randn(128, 4, generator=gen) * 10,
                                  torch.full((128, 4), -6.0), gen)
    assert abs(same) < 0.05
    assert distinct > 0.9 * math.log(128)


def test_posterior_health_of_a_fresh_model():
    torch.manual_seed(0)
    model = build_model(10, small_config())
    health = posterior_health(model, random_batch(B=8, S=6, N=5, seed=1), mi_sets=32)
    real_sets = int(random_batch(B=8, S=6, N=5, seed=1).set_mask.sum())
    assert 0 <= health.active_fraction <= 1 and health.mi_sets == min(32, real_sets)
    assert health.latent_dim == 8 and math.isfinite(health.shuffle_gap)


def test_gradient_report():
    r = gradient_report([1.0, 2.0, 3.0, float("nan"), 30.0], clip_value=2.5,
                        applied_norms=[1.0, 2.0, 2.5, float("nan"), 2.5])
    assert not r.all_finite and r.nonfinite_steps == 1
    assert r.median == 2.5 and r.spike_ratio == 12.0 and r.clipped_fraction == 0.5
    assert r.max_applied == 2.5 and r.clip_overshoot == 1.0


def test_growth_sees_a_uniformly_exploding_run_that_has_no_spike():
    steady = gradient_report(np.full(60, 0.3), 1.0, warmup_steps=6)
    exploding = gradient_report(0.3 * 1.2 ** np.arange(60), 0.0, warmup_steps=6)
    assert steady.growth == pytest.approx(1.0) and exploding.growth > 100
    assert exploding.clip_overshoot != exploding.clip_overshoot  # NaN: no clip to hold


def test_learning_report_drop_and_rise():
    falling = learning_report([1.0, 0.9, 0.8, 0.82, 0.7], valid_auroc=0.8)
    assert falling.relative_drop == pytest.approx(0.3)
    assert falling.worst_rise == pytest.approx(0.82 / 0.8)
    diverged = learning_report([1.0, 0.5, 2.0, float("nan")])
    assert diverged.worst_rise == np.inf and diverged.relative_drop != diverged.relative_drop


def test_golden_comparison_flags_drift_and_diffs_readably():
    gold = {"preset": "p", "steps": 2, "metrics": {k: [1.0, 2.0] for k in
            GOLDEN_METRICS}}
    same = {**gold, "metrics": {k: [v[0] * (1 + 1e-7), v[1]] for k, v in gold["metrics"].items()}}
    assert compare_golden(gold, same) == []
    drift = {**gold, "metrics": {**gold["metrics"], "recon": [1.0, 2.01]}}
    problems = compare_golden(gold, drift)
    assert len(problems) == 1 and problems[0].startswith("recon step 2")
    assert any("recon" in line and "2 -> 2.01" in line for line in diff_lines(gold, drift))


def test_diagnostics_global_norm_is_the_true_l2_norm_and_findings_name_fields():
    torch.manual_seed(0)
    cfg = small_config()
    model = build_model(10, cfg)
    out = model(random_batch(seed=2), step=1)
    out.loss.backward()
    grads = analyze_gradients(model)
    true = torch.linalg.vector_norm(torch.cat([p.grad.flatten() for p in model.parameters()
                                               if p.grad is not None]))
    assert grads["global_norm"] == pytest.approx(true.item(), rel=1e-5)
    losses = analyze_loss_components(out)
    assert sum(losses["shares"].values()) == pytest.approx(1.0)
    params = analyze_parameter_distributions(model)
    assert set(params) >= {"set_encoder", "transformer", "head"}
    report = generate_diagnostic_report(model, grads, losses, params, config=cfg,
                                        grad_norm_history=[1.0] * 10)
    tight = [f for f in report.findings if "too tight" in f.recommendation]
    assert tight and "`gradient_clip_val`" in tight[0].recommendation
    assert "diagnostic report" in str(report)
