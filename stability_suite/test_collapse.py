"""Property 2: no posterior collapse (active units, KL per dim, z-shuffle intervention), on
trained runs only; an untrained model and a collapse-prone config must both be flagged."""

from __future__ import annotations

import pytest
import torch
from stability_support import CONTROL_SEEDS, MAIN_CONFIGS, run_config
from test_learning import require_learned

from seqsetvae.model import build_model
from seqsetvae.stability import posterior_health
from seqsetvae.stability.runs import probe_batch
from seqsetvae.stability.verdicts import (
    MIN_ACTIVE_FRACTION,
    MIN_SHUFFLE_GAP,
    collapse_findings,
    control_margin,
)


def _describe(h) -> str:
    return (f"AU {h.active_units}/{h.latent_dim}, KL/dim {h.kl_per_dim_mean:.4f}, "
            f"MI {h.mutual_information:.3f} (M={h.mi_sets}), shuffle gap "
            f"{h.shuffle_gap_relative:+.2%}")


def _margin(h) -> float:
    """How clearly a control is flagged: its best-separated collapse statistic."""
    return max(control_margin(h.active_fraction, MIN_ACTIVE_FRACTION, upper=False),
               control_margin(h.shuffle_gap_relative, MIN_SHUFFLE_GAP, upper=False))


@pytest.mark.parametrize("config", MAIN_CONFIGS)
def test_no_posterior_collapse(dataset, config, runs, record_figure):
    traces = runs(dataset, config)
    require_learned(traces, dataset)
    for t in traces:
        record_figure(f"posterior/{dataset}/{config}", f"seed {t.seed}", _describe(t.posterior))
    failures = {t.seed: collapse_findings(t.posterior) for t in traces}
    assert not any(failures.values()), f"posterior collapse in {config} on {dataset}: {failures}"


def test_control_a_collapse_prone_config_is_flagged(runs, record_figure):
    for t in runs("synthetic", "collapse_prone", seeds=CONTROL_SEEDS):
        found, margin = collapse_findings(t.posterior), _margin(t.posterior)
        record_figure("posterior/control collapse_prone", f"seed {t.seed}",
                      f"{_describe(t.posterior)}; margin {margin:.1f}x")
        assert found and margin >= 2, (t.seed, found, margin)


@pytest.mark.parametrize("config", MAIN_CONFIGS)
def test_control_an_untrained_model_is_flagged(dataset, config, settings, load_dataset,
                                               record_figure):
    """At initialisation nothing is encoded yet: the collapse checks must not pass."""
    train, valid = load_dataset(dataset)
    probe = probe_batch(valid, settings["profile"].probe_patients, settings["device"])
    for seed in settings["profile"].seeds:
        torch.manual_seed(seed)
        model = build_model(len(train.variables), run_config(config, settings))
        h = posterior_health(model.to(settings["device"]), probe, seed=seed)
        found, margin = collapse_findings(h), _margin(h)
        record_figure(f"posterior/control untrained/{dataset}/{config}", f"seed {seed}",
                      f"{_describe(h)}; margin {margin:.1f}x")
        assert found and margin >= 2, (seed, found, margin)
