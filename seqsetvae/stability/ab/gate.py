"""Statistic by statistic, seed by seed: is the working tree worse than REF?

Every statistic is one the stability suite computes, read off the same RunTrace by the same
library functions. Each has a direction (which way is worse) and a minimal effect, the smallest
change that counts as worse: a real but tiny change is not a regression a reviewer should be
stopped by.

Per statistic and look, the per-seed changes ("worse" direction positive: log ratios for
positive quantities, differences for fractions and AUROC) get a one-sided paired t-test; under a
change that leaves training alike in distribution both sides of a seed are exchangeable, so
these changes are symmetric about zero and the t-test keeps its level (heavy tails only make it
conservative). Unlike an exact signed-rank test, whose smallest p with 6 seeds is 1/64, it can
resolve the small levels a family-wise correction asks for. The gating statistics are corrected
together (Holm) and looked at block by block (sequential.Design):

* worse: Holm-adjusted p below the look's alpha and the estimated change reaches the minimal
  effect;
* within minimal effect: the worse end of the one-sided confidence bound stays below the
  minimal effect, so no number of further seeds would make it a regression that counts;
* better: the mirror image of worse (reported; it does not gate);
* no detectable change: undecided when the seeds ran out (read it with its resolution);
* undecided: the gate stopped early because another statistic was worse;
* identical: every seed's value is exactly equal.

The between-seed spread is a statistic of the whole seed set, not of each seed; it is reported
with its own test (paired absolute deviations from each side's median) and a bootstrap CI of
the SD ratio, but does not gate (see the README's gate calibration for why).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

from ..runs import Profile, RunTrace
from ..variability import bootstrap_values, one_sided_t_tests, within_run_noise
from .sequential import Design, holm_adjusted

WORSE, BETTER, WITHIN, SAME, UNDECIDED, IDENTICAL, UNMEASURED = (
    "worse", "better", "within minimal effect", "no detectable change",
    "undecided (the gate stopped on a worse statistic)", "identical", "not measured")
DECIDED = {WORSE, WITHIN, IDENTICAL, UNMEASURED}
CONFIDENCE = 0.95  # the two-sided interval the report shows
STOP_WORSE = "a statistic is worse"


@dataclass(frozen=True)
class Statistic:
    key: str
    label: str
    value: Callable[[RunTrace, Profile], float]
    worse: str  # "higher" or "lower": the direction that counts against the working tree
    scale: str  # "ratio", "difference" or "spread" (between seeds, not per seed)
    min_effect: float  # a ratio (1.10, 0.80) or a signed difference (+0.10, -0.02)
    percent: bool = False  # a fraction, printed in percent (differences in points)
    gates: bool = True  # part of the family whose worse verdict fails the gate

    @property
    def sign(self) -> int:
        return 1 if self.worse == "higher" else -1

    def worse_by(self, change: float) -> float:
        """How far ``change`` goes in the worse direction, in the scale's natural units (log
        ratio or difference); negative for a change for the better."""
        if self.scale == "difference" or math.isnan(change):
            return self.sign * change
        return self.sign * math.log(change) if change > 0 else -self.sign * math.inf

    def natural(self, worse_units: float) -> float:
        """The inverse of worse_by: a worse-direction amount back in the statistic's units."""
        if self.scale == "difference":
            return self.sign * worse_units
        return math.exp(self.sign * worse_units)


STATISTICS = (
    Statistic("within_run_noise", "within-run noise",
              lambda r, p: within_run_noise(r.probe, p.warmup_steps), "higher", "ratio", 1.10),
    Statistic("between_seed_spread", "between-seed spread (final probe loss)",
              lambda r, p: r.learning.final, "higher", "spread", 1.10, gates=False),
    Statistic("final_probe_loss", "final probe loss", lambda r, p: r.learning.final, "higher",
              "ratio", 1.02),
    Statistic("probe_drop", "probe loss drop", lambda r, p: r.learning.relative_drop, "lower",
              "difference", -0.02, percent=True),
    Statistic("valid_auroc", "validation AUROC", lambda r, p: r.learning.valid_auroc, "lower",
              "difference", -0.02),
    Statistic("active_fraction", "active units", lambda r, p: r.posterior.active_fraction,
              "lower", "difference", -0.10, percent=True),
    Statistic("kl_per_dim", "KL per dim", lambda r, p: r.posterior.kl_per_dim_mean, "lower",
              "ratio", 0.80),
    Statistic("shuffle_gap", "shuffle gap", lambda r, p: r.posterior.shuffle_gap_relative,
              "lower", "difference", -0.01, percent=True),
    Statistic("grad_spike_ratio", "gradient spike ratio", lambda r, p: r.gradients.spike_ratio,
              "higher", "ratio", 1.25),
    Statistic("grad_growth", "gradient growth", lambda r, p: r.gradients.growth, "higher",
              "ratio", 1.25),
    Statistic("clipped_fraction", "clipped steps", lambda r, p: r.gradients.clipped_fraction,
              "higher", "difference", 0.10, percent=True),
    Statistic("max_applied_norm", "largest applied gradient norm",
              lambda r, p: r.gradients.max_applied, "higher", "ratio", 1.25),
)
BY_KEY = {s.key: s for s in STATISTICS}


@dataclass
class Change:
    """One statistic at one look, working tree against REF."""

    effect: float  # ratio or difference
    ci_low: float  # two-sided CONFIDENCE interval of the effect
    ci_high: float
    p_worse: float  # one-sided, H1: the working tree is worse
    p_better: float
    pairs: int  # seeds the test used (pairs where the statistic is defined on both sides)
    worse_bound: float  # one-sided upper bound of the worse-direction change (worse_by units)
    resolution: float  # the smallest worse change detectable at this look (natural units)


def same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def summary_value(stat: Statistic, values: list[float]) -> float:
    """What the table shows per side: the median over seeds, or for the spread the SD."""
    v = np.asarray(values, float)
    v = v[~np.isnan(v)]
    if not len(v):
        return float("nan")
    if stat.scale == "spread":
        return float(np.std(v, ddof=1)) if len(v) > 1 else float("nan")
    return float(np.median(v))


def usable_pairs(stat: Statistic, tree, ref) -> tuple[np.ndarray, np.ndarray]:
    t, r = np.asarray(tree, float), np.asarray(ref, float)
    keep = ~np.isnan(t) & ~np.isnan(r)
    if stat.scale == "ratio":  # both positive, and not both infinite (no defined ratio)
        keep &= (t > 0) & (r > 0) & ~(np.isinf(t) & np.isinf(r))
    return t[keep], r[keep]


def per_seed_worse(stat: Statistic, t: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Each seed's change in the worse direction; for the spread, the paired difference of
    absolute deviations from each side's median (a paired Brown-Forsythe comparison)."""
    if stat.scale == "spread":
        return stat.sign * (np.abs(t - np.median(t)) - np.abs(r - np.median(r)))
    if stat.scale == "ratio":
        # a diverged run (infinite value) counts as a large change instead of breaking the test
        return stat.sign * np.clip(np.log(t / r), -50.0, 50.0)
    return stat.sign * (t - r)


def measure(stat: Statistic, tree, ref, design: Design, family: int,
            n_resamples: int = 9999) -> Change | None:
    """The change of one statistic over the seeds given; ``family``: the gating statistics
    corrected together at each look (it sets the level at which the resolution is stated)."""
    t, r = usable_pairs(stat, tree, ref)
    n = len(t)
    if n < (3 if stat.scale == "spread" else 2):
        return None
    w = per_seed_worse(stat, t, r)
    mean, se, p_worse, p_better = one_sided_t_tests(w)
    level = design.alpha_per_look() / max(family, 1)
    if stat.scale == "spread":
        return spread_change(stat, t, r, n, p_worse, p_better, design, level, n_resamples)
    half = stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1) * se
    bound = mean + stats.t.ppf(1 - design.futility, n - 1) * se
    detectable = (stats.t.ppf(1 - level, n - 1) + stats.t.ppf(design.power, n - 1)) * se
    ends = sorted(stat.natural(x) for x in (mean - half, mean + half))
    return Change(stat.natural(mean), ends[0], ends[1], p_worse, p_better, n, bound,
                  stat.natural(max(detectable, stat.worse_by(stat.min_effect))))


def spread_change(stat, t, r, n, p_worse, p_better, design, level, n_resamples) -> Change:
    """The SD ratio with a paired bootstrap CI (percentiles of the resampled log ratios)."""
    def log_sd_ratio(i):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(np.std(t[i], axis=1, ddof=1) / np.std(r[i], axis=1, ddof=1))

    logs = bootstrap_values(log_sd_ratio, n, n_resamples, random_state=0)
    tail = (1 - CONFIDENCE) / 2
    lo, hi = np.quantile(logs, [tail, 1 - tail])
    worse_logs = stat.sign * logs
    spread = float(np.std(worse_logs))
    detectable = (stats.norm.ppf(1 - level) + stats.norm.ppf(design.power)) * spread
    ratio = float(np.std(t, ddof=1) / np.std(r, ddof=1)) if np.std(r) > 0 else math.inf
    return Change(ratio, float(np.exp(lo)), float(np.exp(hi)), p_worse, p_better, n,
                  float(np.quantile(worse_logs, 1 - design.futility)),
                  stat.natural(max(detectable, stat.worse_by(stat.min_effect))))


def statistic_values(traces: list[RunTrace], profile: Profile) -> dict[str, list[float]]:
    """Every statistic's per-seed values of one side's runs (in seed order), computed once."""
    return {s.key: [float(s.value(t, profile)) for t in traces] for s in STATISTICS}


def statistic_row(stat: Statistic, ref_values: list[float], tree_values: list[float],
                  seeds: list[int], design: Design, family: int) -> dict:
    """One statistic over the given seeds of both sides."""
    identical = all(same(a, b) for a, b in zip(tree_values, ref_values))
    change = None if identical else measure(stat, tree_values, ref_values, design, family)
    return {"key": stat.key, "label": stat.label, "worse_when": stat.worse, "scale": stat.scale,
            "min_effect": stat.min_effect, "percent": stat.percent, "gates": stat.gates,
            "seeds": seeds, "ref_values": ref_values, "tree_values": tree_values,
            "differences": [b - a for a, b in zip(ref_values, tree_values)],
            "ref_summary": summary_value(stat, ref_values),
            "tree_summary": summary_value(stat, tree_values),
            "identical": identical, "measured": change is not None,
            **(asdict(change) if change else {})}


def decide(stat: Statistic, row: dict, adjusted_worse: float, alpha: float) -> str | None:
    """The verdict this look settles for ``stat``, or None while it is undecided."""
    if row["identical"]:
        return IDENTICAL
    if not row["measured"]:
        return UNMEASURED
    needed = stat.worse_by(stat.min_effect)
    if adjusted_worse < alpha and stat.worse_by(row["effect"]) >= needed:
        return WORSE
    if row["worse_bound"] < needed:
        return WITHIN
    return None


def better(stat: Statistic, row: dict, adjusted_better: float, alpha: float) -> bool:
    return (row["measured"] and adjusted_better < alpha
            and -stat.worse_by(row["effect"]) >= stat.worse_by(stat.min_effect))


def gate(ref: dict[str, dict[str, list[float]]], tree: dict[str, dict[str, list[float]]],
         seeds: list[int], design: Design) -> dict:
    """The sequential verdict over the seeds run so far. ``ref``, ``tree``: config label ->
    statistic key -> per-seed values (statistic_values), for ``seeds`` on both sides.

    Walks the design's looks over prefixes of the seeds, so the same runs always give the same
    verdict whether they were run block by block or all at once. ``complete`` is False when the
    rule has not stopped and the next look needs more seeds than have run: run them and call
    again."""
    gating = [(name, s) for name in ref for s in STATISTICS if s.gates]
    settled: dict[tuple, tuple[str, int]] = {}  # (config, key) -> (verdict, seeds at the look)
    alpha, outcome = design.alpha_per_look(), None
    for n in design.looks():
        if n > len(seeds):
            return {"complete": False, "next_seeds": n, "seeds_used": len(seeds)}
        rows = {(name, s.key): statistic_row(s, ref[name][s.key][:n], tree[name][s.key][:n],
                                             seeds[:n], design, len(gating))
                for name in ref for s in STATISTICS}
        adjusted = holm(rows, gating, "p_worse")
        for name, s in gating:
            if (name, s.key) not in settled:
                verdict = decide(s, rows[(name, s.key)], adjusted[(name, s.key)], alpha)
                if verdict is not None:
                    settled[(name, s.key)] = (verdict, n)
        if any(v == WORSE for v, _ in settled.values()):
            outcome = STOP_WORSE
        elif len(settled) == len(gating):
            outcome = "every gating statistic decided"
        elif n == design.max_seeds:
            outcome = "seed cap reached"
        if outcome:
            return result(ref, rows, adjusted, settled, gating, design, n, outcome)
    raise AssertionError("the last look is the seed cap")


def holm(rows: dict, gating: list, field: str) -> dict:
    """Holm-adjusted ``field`` p-values over the gating family (untestable entries stay NaN)."""
    keys = [(name, s.key) for name, s in gating]
    return dict(zip(keys, holm_adjusted([rows[k].get(field, np.nan) for k in keys])))


def result(ref, rows, adjusted, settled, gating, design, seeds, stop) -> dict:
    """The gate's outcome at its last look: per config, every statistic's row with its verdict,
    Holm-adjusted p-values and the seeds at which it was decided."""
    alpha = design.alpha_per_look()
    adjusted_better = holm(rows, gating, "p_better")
    configs = {}
    for name in ref:
        statistics = []
        for s in STATISTICS:
            row = dict(rows[(name, s.key)])
            verdict, decided_at = settled.get((name, s.key), (None, None))
            # outside the family (spread): the same rule at the raw p, shown but never gating
            p_adj = adjusted.get((name, s.key), row.get("p_worse", np.nan))
            p_adj_better = adjusted_better.get((name, s.key), row.get("p_better", np.nan))
            if not s.gates:
                verdict = decide(s, row, p_adj, alpha)
            if verdict in (None, WITHIN) and better(s, row, p_adj_better, alpha):
                verdict = BETTER
            undecided = UNDECIDED if stop == STOP_WORSE else SAME
            row.update(verdict=verdict or undecided, decided_at=decided_at,
                       p_worse_adjusted=p_adj, p_better_adjusted=p_adj_better)
            statistics.append(row)
        configs[name] = {"statistics": statistics}
    worse = [(name, row["label"]) for name, c in configs.items() for row in c["statistics"]
             if row["gates"] and row["verdict"] == WORSE]
    return {"complete": True, "seeds_used": seeds, "stop": stop, "design": asdict(design),
            "looks": design.looks(),
            "alpha_per_look": alpha, "family": len(gating), "worse": worse, "configs": configs}


def config_changes(ref: dict, tree: dict) -> list[dict]:
    """Resolved config fields that differ between the sides (a preset edited by the change)."""
    return [{"field": k, "ref": ref.get(k), "tree": tree.get(k)}
            for k in sorted(set(ref) | set(tree)) if ref.get(k) != tree.get(k)]
