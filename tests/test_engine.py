"""The comparison engine (stability/engine.py) on synthetic per-seed statistics, through each of
its callers' paths: the gate's sequential rule flags a planted regression at the first block,
passes a harmless change and keeps its family-wise false-alarm rate on simulated null
comparisons where an uncorrected rule does not; every verdict word has a case that produces it
(worse, better, within minimal effect, no detectable change, identical, not measured, undecided),
including ties and statistics undefined on some seeds; the speed verdict and the suite's claims
decide through the same engine."""

from __future__ import annotations

import numpy as np
import pytest

from seqsetvae.stability.ab.speed import SpeedDesign, round_order, speed_verdict
from seqsetvae.stability.engine import (
    BETTER,
    IDENTICAL,
    SAME,
    UNDECIDED,
    UNMEASURED,
    WITHIN,
    WORSE,
    Design,
    compare,
    compare_fixed,
    holm_adjusted,
)
from seqsetvae.stability.statistics import STATISTICS, VARIABILITY


def gate(ref, tree, seeds, design):
    """The gate's call: every statistic, the gating ones as the family."""
    return compare(ref, tree, seeds, design, STATISTICS)

DESIGN = Design(block=6, max_seeds=18)
# typical magnitudes of each statistic (positive for ratio scales), and per-seed noise: log SD
# for ratios, SD for differences
CENTRE = {"within_run_noise": 0.004, "between_seed_spread": 0.9, "final_probe_loss": 0.9,
          "probe_drop": 0.18, "valid_auroc": 0.85, "active_fraction": 0.9, "kl_per_dim": 0.12,
          "shuffle_gap": 0.15, "grad_spike_ratio": 3.0, "grad_growth": 1.1,
          "clipped_fraction": 0.05, "max_applied_norm": 0.8}


def side(rng, n, noise, shift=None, common=None):
    """Per-seed values of every statistic: a seed effect shared by both sides (``common``)
    plus this side's own noise, scaled by ``noise``; ``shift``: key -> change in the worse
    direction (log units for ratios, plain units for differences)."""
    values = {}
    for s in STATISTICS:
        own = rng.normal(0, noise, n)
        base = common[s.key] if common is not None else 0.0
        move = s.sign * (shift or {}).get(s.key, 0.0)
        if s.scale == "difference":
            values[s.key] = list(CENTRE[s.key] + base + own + move)
        else:
            values[s.key] = list(CENTRE[s.key] * np.exp(base + own + move))
    return values


def pair(rng, n=18, noise=0.05, shift=None):
    common = {s.key: rng.normal(0, 0.1, n) for s in STATISTICS}
    return ({"cfg": side(rng, n, noise, common=common)},
            {"cfg": side(rng, n, noise, shift, common=common)}, list(range(n)))


def verdicts(outcome) -> dict[str, str]:
    return {row["key"]: row["verdict"] for row in outcome["configs"]["cfg"]["statistics"]}


def test_holm_adjusted_p_values():
    adjusted = holm_adjusted([0.01, 0.04, 0.03, 0.005])
    assert adjusted == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert np.isnan(holm_adjusted([0.01, np.nan])[1])
    # Bonferroni would reject only the smallest at 0.05 / 4; Holm steps down to the next
    assert (adjusted < 0.05).sum() == 2


def test_a_clear_regression_stops_at_the_first_block():
    ref, tree, seeds = pair(np.random.default_rng(0), shift={"kl_per_dim": 1.0})
    outcome = gate(ref, tree, seeds, DESIGN)
    assert outcome["complete"] and outcome["seeds_used"] == 6
    assert outcome["stop"] == "a statistic is worse"
    assert verdicts(outcome)["kl_per_dim"] == WORSE
    assert outcome["worse"] == [("cfg", "KL per dim")]


def test_the_rule_asks_for_seeds_block_by_block():
    """Given only the first block of a noisy comparison it asks for the next block, and the
    same runs give the same verdict whether they arrive block by block or at once."""
    ref, tree, seeds = pair(np.random.default_rng(1), noise=0.3)
    first = gate({"cfg": {k: v[:6] for k, v in ref["cfg"].items()}},
                 {"cfg": {k: v[:6] for k, v in tree["cfg"].items()}}, seeds[:6], DESIGN)
    assert first == {"complete": False, "next_seeds": 12, "seeds_used": 6, "pending": ["cfg"]}
    whole = gate(ref, tree, seeds, DESIGN)
    assert whole["complete"] and whole["seeds_used"] > 6
    prefix = whole["seeds_used"]
    again = gate({"cfg": {k: v[:prefix] for k, v in ref["cfg"].items()}},
                 {"cfg": {k: v[:prefix] for k, v in tree["cfg"].items()}}, seeds[:prefix],
                 DESIGN)
    assert verdicts(again) == verdicts(whole)


def test_a_harmless_change_passes_and_is_decided_early():
    ref, tree, seeds = pair(np.random.default_rng(2), noise=0.005)
    outcome = gate(ref, tree, seeds, DESIGN)
    assert not outcome["worse"] and outcome["seeds_used"] == 6
    assert outcome["stop"] == "every statistic decided"
    assert {v for k, v in verdicts(outcome).items() if k != "between_seed_spread"} == {WITHIN}


def test_an_identical_side_is_identical():
    ref, _, seeds = pair(np.random.default_rng(3))
    outcome = gate(ref, ref, seeds, DESIGN)
    assert set(verdicts(outcome).values()) == {IDENTICAL} and outcome["seeds_used"] == 6


def test_a_consistent_change_below_the_minimal_effect_is_not_worse():
    """Every seed 1% noisier: significant, but under the x1.10 that counts."""
    ref, tree, seeds = pair(np.random.default_rng(4), noise=0.001,
                            shift={"within_run_noise": np.log(1.01)})
    v = verdicts(gate(ref, tree, seeds, DESIGN))
    assert v["within_run_noise"] == WITHIN


def test_better_is_reported_not_gated():
    ref, tree, seeds = pair(np.random.default_rng(5), shift={"final_probe_loss": -0.3})
    outcome = gate(ref, tree, seeds, DESIGN)
    assert verdicts(outcome)["final_probe_loss"] == BETTER and not outcome["worse"]


def false_alarm_rates(comparisons: int, rng) -> tuple[float, float]:
    """Simulated harmless changes with heavy-tailed, correlated noise: the share of
    comparisons the gate calls worse, and the share the old rule (every statistic tested at
    0.05 on the first 6 seeds) would have called worse on the same data."""
    gate_alarms = old_alarms = 0
    for _ in range(comparisons):
        n = DESIGN.max_seeds
        common = {s.key: rng.normal(0, 0.1, n) for s in STATISTICS}
        noise = rng.standard_t(3, (2, n)) * 0.05  # shared by every statistic: correlated
        sides = []
        for k in range(2):
            values = side(rng, n, 0.02, common=common)
            for s in STATISTICS:
                v = np.asarray(values[s.key])
                values[s.key] = list(v + noise[k] if s.scale == "difference"
                                     else v * np.exp(noise[k]))
            sides.append({"cfg": values})
        outcome = gate(sides[0], sides[1], list(range(n)), DESIGN)
        gate_alarms += bool(outcome["worse"])
        old = gate({"cfg": {k: v[:6] for k, v in sides[0]["cfg"].items()}},
                   {"cfg": {k: v[:6] for k, v in sides[1]["cfg"].items()}}, list(range(6)),
                   Design(block=6, max_seeds=6, alpha=0.05 * 11))  # no correction at all
        old_alarms += bool(old["worse"])
    return gate_alarms / comparisons, old_alarms / comparisons


@pytest.mark.slow
def test_family_wise_false_alarm_rate_on_simulated_harmless_changes():
    gate_rate, uncorrected = false_alarm_rates(300, np.random.default_rng(6))
    # 300 comparisons: a true 5% rate would exceed 8% with probability below 1%
    assert gate_rate <= 0.08, gate_rate
    assert uncorrected > 0.10, f"control: the uncorrected rule must false-alarm ({uncorrected})"


def test_speed_verdict_sees_a_slower_step_and_not_noise():
    rng = np.random.default_rng(7)
    ref = 1.0 + rng.normal(0, 0.02, 6)
    design = SpeedDesign()
    assert speed_verdict(ref, ref * 1.3 + rng.normal(0, 0.02, 6), design)["verdict"] == WORSE
    assert speed_verdict(ref * 1.3, ref, design)["verdict"] == BETTER
    same = speed_verdict(ref, 1.0 + rng.normal(0, 0.02, 6), design)
    assert same["verdict"] == WITHIN and same["resolution"] >= design.min_effect
    noisy = speed_verdict(ref, ref * np.array([1.4, 0.7, 1.4, 0.7, 1.4, 0.7]), design)
    assert noisy["verdict"] == SAME and noisy["resolution"] > design.min_effect


def test_round_order_mirrors_each_pair_of_turns():
    assert round_order(4) == [0, 1, 1, 0, 0, 1, 1, 0]


REF_NOISE = [0.010, 0.020, 0.015, 0.012, 0.030]


def one_statistic(key: str, ref: list[float], tree: list[float]) -> str:
    """The verdict on statistic ``key`` in one look of 5 seeds, every other statistic equal."""
    base = side(np.random.default_rng(8), len(ref), 0.05)
    ref_side, tree_side = dict(base), dict(base)
    ref_side[key], tree_side[key] = ref, tree
    outcome = gate({"cfg": ref_side}, {"cfg": tree_side}, list(range(len(ref))),
                   Design(block=5, max_seeds=5))
    return verdicts(outcome)[key]


@pytest.mark.parametrize(("factor", "expected"), [
    (1.0, IDENTICAL),
    (1.3, WORSE),  # every seed 30% noisier
    (1.05, WITHIN),  # every seed agrees, but the change is below the minimum
    (1 / 1.3, BETTER),
])
def test_a_ratio_statistic_is_worse_only_beyond_its_minimal_effect(factor, expected):
    assert one_statistic("within_run_noise", REF_NOISE, [v * factor for v in REF_NOISE]) \
        == expected


def test_seeds_that_disagree_are_no_detectable_change():
    mixed = [v * f for v, f in zip(REF_NOISE, (1.5, 0.7, 1.5, 0.7, 1.5))]
    assert one_statistic("within_run_noise", REF_NOISE, mixed) == SAME


@pytest.mark.parametrize(("shift", "expected"), [(-0.25, WORSE), (-0.05, WITHIN),
                                                 (0.25, BETTER)])
def test_a_difference_statistic_counts_the_direction_that_is_worse(shift, expected):
    ref = [0.6, 0.7, 0.65, 0.7, 0.75]
    tree = [v + shift + 0.001 * i for i, v in enumerate(ref)]
    assert one_statistic("active_fraction", ref, tree) == expected


def test_a_tie_on_some_seeds_is_not_a_change():
    """Half the seeds exactly equal, the others moving both ways: no verdict either way."""
    tree = [REF_NOISE[0], REF_NOISE[1] * 1.4, REF_NOISE[2], REF_NOISE[3] / 1.4, REF_NOISE[4]]
    assert one_statistic("within_run_noise", REF_NOISE, tree) == SAME


def test_a_statistic_undefined_on_some_seeds_uses_the_seeds_where_it_is_defined():
    ref = [0.6, 0.7, 0.65, 0.7, 0.75, 0.8]
    tree = [v - 0.25 + 0.001 * i for i, v in enumerate(ref)]
    tree[1] = ref[4] = float("nan")  # e.g. an AUROC where a split had one class
    rows = compare_fixed({"valid_auroc": ref}, {"valid_auroc": tree}, range(6),
                         (STATISTICS[4],))
    assert rows["valid_auroc"]["pairs"] == 4 and rows["valid_auroc"]["verdict"] == WORSE
    rows = compare_fixed({"valid_auroc": [float("nan")] * 5 + [0.7]},
                         {"valid_auroc": [0.7] + [float("nan")] * 5}, range(6), (STATISTICS[4],))
    assert rows["valid_auroc"]["verdict"] == UNMEASURED


def test_a_worse_statistic_leaves_the_undecided_ones_undecided():
    ref, tree, seeds = pair(np.random.default_rng(9), noise=0.3, shift={"kl_per_dim": 3.0})
    v = verdicts(gate(ref, tree, seeds, DESIGN))
    assert v["kl_per_dim"] == WORSE and UNDECIDED in v.values()


def test_a_two_sided_design_calls_either_direction_and_halves_the_level():
    rng = np.random.default_rng(10)
    ref = list(1.0 + rng.uniform(0, 1, 6))
    lower = [v * 0.5 * np.exp(rng.normal(0, 0.05)) for v in ref]
    stat = (STATISTICS[0],)
    assert compare_fixed({stat[0].key: ref}, {stat[0].key: lower}, range(6), stat,
                         two_sided=True)[stat[0].key]["verdict"] == BETTER
    assert compare_fixed({stat[0].key: lower}, {stat[0].key: ref}, range(6), stat,
                         two_sided=True)[stat[0].key]["verdict"] == WORSE
    assert Design.fixed(6, two_sided=True).level() == Design.fixed(6).level() / 2


def test_the_suite_claims_are_one_holm_family():
    """Both readings of the variability claim are corrected together: a p-value that passes
    alone can fail beside a second, undecided reading."""
    rng = np.random.default_rng(11)
    ref = {"within_run_noise": list(rng.uniform(1, 2, 6)),
           "between_seed_spread": list(rng.normal(1.0, 0.1, 6))}
    cand = {"within_run_noise": [v * np.exp(rng.normal(-0.2, 0.12)) for v in
                                 ref["within_run_noise"]],
            "between_seed_spread": list(rng.normal(1.0, 0.1, 6))}
    rows = compare_fixed(ref, cand, range(6), VARIABILITY)
    alone = compare_fixed({"within_run_noise": ref["within_run_noise"]},
                          {"within_run_noise": cand["within_run_noise"]}, range(6),
                          VARIABILITY[:1])
    noise, spread = rows["within_run_noise"], rows["between_seed_spread"]
    assert noise["p_better"] == alone["within_run_noise"]["p_better"]
    assert noise["p_better_adjusted"] == pytest.approx(
        min(1.0, max(2 * min(noise["p_better"], spread["p_better"]), noise["p_better"])))
