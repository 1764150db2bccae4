"""Property 3: bounded gradients (finite pre-clip norms, spike ratio, clipped fraction)."""

from __future__ import annotations

import pytest
from thresholds import MAX_CLIPPED_FRACTION, clip_findings, gradient_findings


def _record(record_figure, dataset, config, traces):
    for t in traces:
        g = t.gradients
        record_figure(f"gradients/{dataset}/{config}", f"seed {t.seed}",
                      f"median {g.median:.3g}, max {g.max:.3g}, spike {g.spike_ratio:.2f}, "
                      f"clipped {g.clipped_fraction:.0%} at {g.clip_value}")


@pytest.mark.parametrize("config", ["optimized", "baseline"])
def test_gradients_stay_finite_without_spikes(dataset, config, runs, record_figure):
    traces = runs(dataset, config)
    _record(record_figure, dataset, config, traces)
    failures = {t.seed: gradient_findings(t.gradients) for t in traces}
    failures = {seed: f for seed, f in failures.items() if f}
    assert not failures, f"gradient contract broken for {config} on {dataset}: {failures}"


def test_optimized_clip_value_is_not_too_tight(dataset, runs):
    failures = {t.seed: clip_findings(t.gradients) for t in runs(dataset, "optimized")}
    failures = {seed: f for seed, f in failures.items() if f}
    assert not failures, failures


def test_guide_claim_baseline_clip_is_too_tight(dataset, runs):
    """The guide says clip 0.2 is too strict: most baseline steps should be clipped."""
    fractions = [t.gradients.clipped_fraction for t in runs(dataset, "baseline")]
    assert min(fractions) > MAX_CLIPPED_FRACTION, fractions


def test_control_high_lr_unclipped_is_flagged(runs, record_figure):
    from conftest import CONTROL_SEEDS

    traces = runs("synthetic", "exploding", seeds=CONTROL_SEEDS)
    for t in traces:
        record_figure("gradients/control", f"seed {t.seed}", gradient_findings(t.gradients))
    assert all(gradient_findings(t.gradients) for t in traces)


def test_control_a_tight_clip_is_flagged():
    from seqsetvae.stability import gradient_report

    report = gradient_report([0.5, 0.4, 0.6, 0.3, 0.1], clip_value=0.2)
    assert report.clipped_fraction == 0.8 > MAX_CLIPPED_FRACTION
    assert any("too tight" in f for f in clip_findings(report))
