"""Property 2: no posterior collapse (active units, KL per dim, z-shuffle intervention)."""

from __future__ import annotations

import pytest
from thresholds import collapse_findings


@pytest.mark.parametrize("config", ["optimized", "baseline"])
def test_no_posterior_collapse(dataset, config, runs, record_figure):
    traces = runs(dataset, config)
    for t in traces:
        h = t.posterior
        record_figure(f"posterior/{dataset}/{config}", f"seed {t.seed}",
                      f"AU {h.active_units}/{h.latent_dim}, KL/dim {h.kl_per_dim_mean:.4f}, "
                      f"MI {h.mutual_information:.3f} (M={h.mi_sets}), "
                      f"shuffle gap {h.shuffle_gap_relative:+.2%}")
    failures = {t.seed: collapse_findings(t.posterior) for t in traces}
    failures = {seed: f for seed, f in failures.items() if f}
    assert not failures, f"posterior collapse in {config} on {dataset}: {failures}"


def test_control_a_collapse_prone_config_is_flagged(runs, record_figure):
    from conftest import CONTROL_SEEDS

    traces = runs("synthetic", "collapse_prone", seeds=CONTROL_SEEDS)
    for t in traces:
        record_figure("posterior/control", f"seed {t.seed}", collapse_findings(t.posterior))
        assert collapse_findings(t.posterior), t.posterior
