"""Property 3: bounded gradients (finite pre-clip norms, spike ratio, clipped fraction)."""

from __future__ import annotations

import pytest
from thresholds import MAX_CLIPPED_FRACTION, gradient_findings


@pytest.mark.parametrize("config", ["optimized", "baseline"])
def test_gradients_stay_bounded(dataset, config, runs, record_figure):
    traces = runs(dataset, config)
    for t in traces:
        g = t.gradients
        record_figure(f"gradients/{dataset}/{config}", f"seed {t.seed}",
                      f"median {g.median:.3g}, max {g.max:.3g}, spike {g.spike_ratio:.2f}, "
                      f"clipped {g.clipped_fraction:.0%} at {g.clip_value}")
    failures = {t.seed: gradient_findings(t.gradients) for t in traces}
    failures = {seed: f for seed, f in failures.items() if f}
    assert not failures, f"gradient contract broken for {config} on {dataset}: {failures}"


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
    assert any("too tight" in f for f in gradient_findings(report))
