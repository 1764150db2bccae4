"""Property 1: the optimized config has lower loss variability than the baseline (paired seeds)."""

from __future__ import annotations

from thresholds import ALPHA


def test_optimized_has_lower_loss_variability_than_baseline(dataset, variability, record_figure):
    result = variability(dataset, "optimized", "baseline")
    record_figure(f"variance/{dataset}", "optimized vs baseline", result.verdict)
    record_figure(f"variance/{dataset}", "per-seed ratios", [round(r, 3) for r in result.ratios])
    assert len(result.seeds) >= 6
    assert result.p_value < ALPHA and result.ci_high < 1.0, result.verdict


def test_control_a_noisier_config_is_not_called_less_variable(variability, record_figure):
    """Positive control: 10x the baseline LR must not pass as 'less variable than baseline'."""
    from conftest import CONTROL_SEEDS

    result = variability("synthetic", "noisier", "baseline", seeds=CONTROL_SEEDS)
    record_figure("variance/control", "noisier vs baseline", result.verdict)
    assert not result.supported, result.verdict
    assert result.ratio > 1.0, result.verdict
