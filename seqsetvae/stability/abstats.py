"""Statistic by statistic, seed by seed: is the working tree worse than REF?

Every statistic is one the stability suite computes, read off the same RunTrace by
the same library functions. Each has a direction (which way is worse) and a minimal effect, the
smallest change that counts as worse: a real but tiny change is not a regression a reviewer
should be stopped by. The verdict per statistic:

* identical: every seed's value is exactly equal;
* worse: the seeds agree (one-sided Wilcoxon signed-rank test, H1 "worse", p < alpha), the 95%
  paired bootstrap CI of the change excludes no change, and the estimated change reaches the
  minimal effect;
* better: the mirror image of worse;
* no detectable change: anything else.

Positive quantities compare by per-seed ratios (geometric mean, through `compare_paired`),
fractions and AUROC by per-seed differences (mean); the between-seed spread by `compare_spread`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats

from .runs import Profile, RunTrace
from .variability import (
    compare_paired,
    compare_spread,
    min_attainable_p,
    paired_bootstrap_ci,
    within_run_noise,
)

WORSE, BETTER, SAME, IDENTICAL, UNMEASURED = (
    "worse", "better", "no detectable change", "identical", "not measured")


@dataclass(frozen=True)
class Statistic:
    key: str
    label: str
    value: Callable[[RunTrace, Profile], float]
    worse: str  # "higher" or "lower": the direction that counts against the working tree
    scale: str  # "ratio", "difference" or "spread" (between seeds, not per seed)
    min_effect: float  # a ratio (1.10, 0.80) or a signed difference (+0.10, -0.02)
    percent: bool = False  # a fraction, printed in percent (differences in points)
    timing: bool = False  # wall-clock speed: never exactly equal, so not part of "identical"

    @property
    def sign(self) -> int:
        return 1 if self.worse == "higher" else -1

    def worse_by(self, change: float) -> float:
        """How far ``change`` goes in the worse direction, in the scale's natural units (log
        ratio or difference); negative for a change for the better."""
        if self.scale == "difference" or math.isnan(change):
            return self.sign * change
        return self.sign * math.log(change) if change > 0 else -self.sign * math.inf


STATISTICS = (
    Statistic("within_run_noise", "within-run noise",
              lambda r, p: within_run_noise(r.probe, p.warmup_steps), "higher", "ratio", 1.10),
    Statistic("between_seed_spread", "between-seed spread (final probe loss)",
              lambda r, p: r.learning.final, "higher", "spread", 1.10),
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
    Statistic("steps_per_second", "steps per second", lambda r, p: r.steps_per_second, "lower",
              "ratio", 0.80, timing=True),
)


@dataclass
class Change:
    effect: float  # ratio or difference, working tree against REF
    ci_low: float
    ci_high: float
    p_worse: float  # one-sided, H1: the working tree is worse
    p_better: float
    pairs: int  # seeds the test used (pairs where the statistic is defined on both sides)


def same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def compare_statistic(stat: Statistic, ref: list[RunTrace], tree: list[RunTrace],
                      profile: Profile, alpha: float) -> dict:
    seeds = [r.seed for r in ref]
    if seeds != [r.seed for r in tree]:
        raise ValueError("both sides must have run the same seeds")
    ref_values = [float(stat.value(r, profile)) for r in ref]
    tree_values = [float(stat.value(r, profile)) for r in tree]
    identical = all(same(a, b) for a, b in zip(tree_values, ref_values))
    change = None if identical else measure(stat, tree_values, ref_values, seeds)
    return {"key": stat.key, "label": stat.label, "worse_when": stat.worse, "scale": stat.scale,
            "min_effect": stat.min_effect, "percent": stat.percent, "timing": stat.timing,
            "seeds": seeds, "ref_values": ref_values, "tree_values": tree_values,
            "differences": [b - a for a, b in zip(ref_values, tree_values)],
            "ref_summary": summary_value(stat, ref_values),
            "tree_summary": summary_value(stat, tree_values),
            "identical": identical, **(vars(change) if change else {}),
            "min_attainable_p": min_attainable_p(change.pairs if change else len(seeds)),
            "verdict": IDENTICAL if identical else decide(stat, change, alpha)}


def summary_value(stat: Statistic, values: list[float]) -> float:
    """What the table shows per side: the median over seeds, or for the spread the SD."""
    v = np.asarray(values, float)
    v = v[~np.isnan(v)]
    if not len(v):
        return float("nan")
    if stat.scale == "spread":
        return float(np.std(v, ddof=1)) if len(v) > 1 else float("nan")
    return float(np.median(v))


def measure(stat: Statistic, tree: list[float], ref: list[float], seeds: list[int]
            ) -> Change | None:
    t, r = np.asarray(tree, float), np.asarray(ref, float)
    keep = ~np.isnan(t) & ~np.isnan(r)
    if stat.scale == "ratio":  # both positive, and not both infinite (no defined ratio)
        keep &= (t > 0) & (r > 0) & ~(np.isinf(t) & np.isinf(r))
    if keep.sum() < (3 if stat.scale == "spread" else 2):
        return None
    t, r, kept = t[keep], r[keep], [s for s, k in zip(seeds, keep) if k]
    test = {"ratio": ratio_tests, "spread": spread_tests, "difference": difference_tests}
    p_higher, p_lower, effect, lo, hi = test[stat.scale](t, r, kept)
    p_worse, p_better = (p_higher, p_lower) if stat.worse == "higher" else (p_lower, p_higher)
    return Change(effect, lo, hi, p_worse, p_better, int(keep.sum()))


def ratio_tests(t, r, seeds) -> tuple[float, float, float, float, float]:
    """p that t is higher, p that t is lower, the ratio t / r and its CI. The library tests one
    direction ("candidate lower"), so each direction is one call with the sides in turn."""
    lower = compare_paired(t.tolist(), r.tolist(), seeds)
    higher = compare_paired(r.tolist(), t.tolist(), seeds)
    return higher.p_value, lower.p_value, lower.ratio, lower.ci_low, lower.ci_high


def spread_tests(t, r, seeds) -> tuple[float, float, float, float, float]:
    lower = compare_spread(t.tolist(), r.tolist(), seeds)
    higher = compare_spread(r.tolist(), t.tolist(), seeds)
    return higher.p_value, lower.p_value, lower.ratio, lower.ci_low, lower.ci_high


def difference_tests(t, r, seeds, n_resamples: int = 9999, confidence: float = 0.95
                     ) -> tuple[float, float, float, float, float]:
    """The same paired machinery as `compare_paired`, on differences instead of log ratios, for
    fractions and AUROC (bounded, and often zero on one side)."""
    d = t - r
    moved = bool(np.any(d != 0))
    p_higher = float(stats.wilcoxon(d, alternative="greater").pvalue) if moved else 1.0
    p_lower = float(stats.wilcoxon(d, alternative="less").pvalue) if moved else 1.0
    lo, hi = paired_bootstrap_ci(lambda i: d[i].mean(), len(d), n_resamples, confidence, 0)
    return p_higher, p_lower, float(d.mean()), lo, hi


def decide(stat: Statistic, change: Change | None, alpha: float) -> str:
    if change is None:
        return UNMEASURED
    effect = stat.worse_by(change.effect)
    bounds = sorted(stat.worse_by(x) for x in (change.ci_low, change.ci_high))
    needed = stat.worse_by(stat.min_effect)
    if change.p_worse < alpha and bounds[0] > 0 and effect >= needed:
        return WORSE
    if change.p_better < alpha and bounds[1] < 0 and effect <= -needed:
        return BETTER
    return SAME


def compare_config(ref: list, tree: list, profile: Profile, alpha: float) -> dict:
    """Every statistic of one config; ``ref`` and ``tree``: SideRuns in seed order."""
    ref_traces, tree_traces = [r.trace for r in ref], [r.trace for r in tree]
    statistics = [compare_statistic(s, ref_traces, tree_traces, profile, alpha)
                  for s in STATISTICS]
    return {"statistics": statistics,
            "numerically_identical": all(a.fingerprint == b.fingerprint
                                         for a, b in zip(ref, tree)),
            "config_changes": config_changes(ref[0].config, tree[0].config)}


def config_changes(ref: dict, tree: dict) -> list[dict]:
    """Resolved config fields that differ between the sides (a preset edited by the change)."""
    return [{"field": k, "ref": ref.get(k), "tree": tree.get(k)}
            for k in sorted(set(ref) | set(tree)) if ref.get(k) != tree.get(k)]
