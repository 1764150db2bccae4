"""Property 1: the guide's claim that the optimized config's loss varies less than the
baseline's, in both readings, on paired seeds; a 2x-LR control must not pass as less variable.

Both readings are one Holm family of the comparison engine (statistics.variability_claims, the
same call `seqsetvae compare` makes). Where the claim was measured not to hold, the test asserts
the finding instead (known_findings): it fails if the claim starts to hold or the ratio leaves
the recorded band."""

from __future__ import annotations

import pytest
from known_findings import known_finding
from stability_support import MAIN_CONFIGS
from test_learning import require_learned

from seqsetvae.stability.engine import BETTER, describe
from seqsetvae.stability.statistics import variability_claims

READINGS = {"within_run": "within_run_noise", "between_seed": "between_seed_spread"}
MIN_PAIRS = 6  # DESIGN.md: at least 6 paired seeds behind a variance verdict


def claim(reading: str, candidate, reference, profile) -> dict:
    row = variability_claims(candidate, reference, profile)[READINGS[reading]]
    assert row["measured"] and row["pairs"] >= MIN_PAIRS, describe(row)
    return row


@pytest.mark.parametrize("reading", READINGS)
def test_optimized_has_lower_loss_variability_than_baseline(dataset, reading, runs, settings,
                                                           record_figure):
    optimized, baseline = (runs(dataset, name) for name in MAIN_CONFIGS)
    for traces in (optimized, baseline):
        require_learned(traces, dataset)
    row = claim(reading, optimized, baseline, settings["profile"])
    record_figure(f"variance/{dataset}/{reading}", "optimized vs baseline", describe(row))
    record_figure(f"variance/{dataset}/{reading}", "per seed (optimized, baseline)",
                  [(round(c, 5), round(r, 5)) for c, r in zip(row["candidate_values"],
                                                              row["reference_values"])])
    finding = known_finding(settings["profile"].name, f"{reading}/{dataset}",
                            settings["precision"])
    if finding is None:
        assert row["verdict"] == BETTER, describe(row)
    else:
        assert row["verdict"] != BETTER, f"known finding no longer holds: {describe(row)}"
        assert finding.low <= row["effect"] <= finding.high, (
            f"known finding moved out of its band {finding.low}-{finding.high}: {describe(row)}")


@pytest.mark.parametrize("reading", READINGS)
def test_control_a_noisier_config_is_not_called_less_variable(reading, runs, settings,
                                                              record_figure):
    """2x the baseline learning rate, on the same (>= 6) seeds: a config that still learns but
    takes larger steps must never come out as 'less variable' than the baseline."""
    seeds = settings["profile"].seeds
    noisier, baseline = runs("synthetic", "noisier", seeds), runs("synthetic", "baseline", seeds)
    require_learned(noisier, "synthetic")
    row = claim(reading, noisier, baseline, settings["profile"])
    record_figure(f"variance/control/{reading}", "noisier vs baseline", describe(row))
    assert row["verdict"] != BETTER, describe(row)
    if reading == "within_run":  # the statistic must see the larger steps, not just "no claim"
        assert row["effect"] > 1.0, describe(row)
