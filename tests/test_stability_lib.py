"""The statistics behind the stability suite, on inputs whose answer is known."""

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
    compare_paired,
    gradient_report,
    mutual_information,
    posterior_health,
    step_change_sd,
)
from seqsetvae.stability.golden import compare_golden, diff_lines

from .factories import random_batch, small_config


def test_step_change_sd_ignores_warmup_and_level():
    probe = [100.0, 50.0, 1.0, 2.0, 1.0, 2.0, 1.0]
    assert step_change_sd(probe, warmup_steps=2) == pytest.approx(np.std([1, -1, 1, -1], ddof=1))
    assert step_change_sd(np.array(probe) + 7, 2) == pytest.approx(step_change_sd(probe, 2))


def test_paired_comparison_supports_a_clear_reduction_and_rejects_the_reverse():
    rng = np.random.default_rng(0)
    ref = rng.uniform(1, 2, 8)
    lower = ref * rng.uniform(0.3, 0.5, 8)
    good = compare_paired(lower, ref, list(range(8)), ("new", "old"))
    assert good.supported and good.p_value == pytest.approx(1 / 256) and good.ci_high < 1
    assert "supported" in good.verdict and "NOT" not in good.verdict
    bad = compare_paired(ref, lower, list(range(8)), ("old", "new"))
    assert not bad.supported and bad.ratio > 1 and "NOT supported" in bad.verdict


def test_paired_comparison_needs_pairs():
    with pytest.raises(ValueError, match="same seeds"):
        compare_paired([1.0, 2.0], [1.0], [0, 1])


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
    r = gradient_report([1.0, 2.0, 3.0, float("nan"), 30.0], clip_value=2.5)
    assert not r.all_finite and r.nonfinite_steps == 1
    assert r.median == 2.5 and r.spike_ratio == 12.0 and r.clipped_fraction == 0.5


def test_golden_comparison_flags_drift_and_diffs_readably():
    gold = {"preset": "p", "steps": 2, "metrics": {k: [1.0, 2.0] for k in
            ("loss", "recon", "kl", "kl_objective", "cls", "grad_norm")}}
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
