"""Property 0: every run the other properties are measured on has learned something.

A collapse or variance verdict on a run that learned nothing proves nothing, so the other
property tests call ``require_learned`` first and error out on such a run."""

from __future__ import annotations

import pytest
from stability_support import CONTROL_SEEDS, MAIN_CONFIGS, has_ground_truth

from seqsetvae.stability.verdicts import (
    MIN_PROBE_DROP,
    MIN_VALID_AUROC,
    control_margin,
    learning_findings,
)


def require_learned(traces, dataset: str) -> None:
    """Raise (an error, not a failure of the property under test) if any run learned nothing."""
    failed = {t.seed: learning_findings(t.learning, has_ground_truth(dataset)) for t in traces}
    failed = {seed: f for seed, f in failed.items() if f}
    if failed:
        raise RuntimeError(f"{traces[0].config_name} on {dataset} did not learn, so its stability "
                           f"properties mean nothing: {failed}")


@pytest.mark.parametrize("config", MAIN_CONFIGS)
def test_it_learns(dataset, config, runs, record_figure):
    traces = runs(dataset, config)
    for t in traces:
        r = t.learning
        record_figure(f"learning/{dataset}/{config}", f"seed {t.seed}",
                      f"probe {r.initial:.4f} -> {r.final:.4f} (drop {r.relative_drop:.1%}), "
                      f"valid AUROC {r.valid_auroc:.3f}, {t.steps_per_second:.1f} steps/s")
    failed = {t.seed: learning_findings(t.learning, has_ground_truth(dataset)) for t in traces}
    assert not any(failed.values()), failed


def test_control_a_frozen_run_is_flagged(runs, record_figure):
    """Learning rate 0: the probe loss cannot fall and AUROC stays at chance."""
    for t in runs("synthetic", "frozen", seeds=CONTROL_SEEDS[:2]):
        found = learning_findings(t.learning, ground_truth=True)
        margin = max(control_margin(t.learning.relative_drop, MIN_PROBE_DROP, upper=False),
                     control_margin(t.learning.valid_auroc - 0.5, MIN_VALID_AUROC - 0.5,
                                    upper=False))
        record_figure("learning/control frozen", f"seed {t.seed}",
                      f"drop {t.learning.relative_drop:.1%}, AUROC {t.learning.valid_auroc:.3f}, "
                      f"margin {margin:.1f}x")
        assert found and margin >= 2, (t.seed, found, margin)
