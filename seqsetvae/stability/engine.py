"""The one paired-comparison engine: did statistic S move in direction d by at least m?

Every verdict that compares two sides over paired seeds (or timed rounds) is made here: the
stability suite's claims, `seqsetvae compare` of configs, the before-merge gate of two code
versions and the speed verdict. Nothing else in the package computes a test, a quantile or a
p-value, so two commands never disagree on the same seeds. The method is explained once, in
docs/explanation/statistics.md; this docstring is its summary.

* A Statistic has a key, a direction (which way is *worse*), a scale and a minimal effect.
  Scales: "ratio" (positive quantities, compared through per-seed log ratios, clipped to +-50 so
  a diverged run counts as a large change), "difference" (fractions, AUROC) and "spread" (a
  property of the whole seed set: the paired absolute deviations from each side's median, a
  paired Brown-Forsythe comparison, with the SD ratio as its effect).
* Per statistic, a one-sided paired t-test on the per-seed changes in each direction. Unlike an
  exact signed-rank test (whose smallest p with 6 seeds is 1/64) it resolves the small levels a
  family-wise correction asks for; under a change that leaves training alike in distribution the
  paired changes are symmetric about zero, where the t-test keeps its level.
* A family of statistics is corrected together with Holm's step-down procedure.
* A Design looks after each block of seeds (a fixed seed count is its one-block case) and splits
  the family-wise alpha over the looks (Bonferroni, valid whatever the dependence between looks).
* Verdicts (one set of words for every caller):
  worse / better: significant after Holm in that direction and the estimated change reaches the
  minimal effect; within minimal effect: the worse end of the one-sided (1 - futility) bound
  stays short of the minimal effect, so more seeds could not make it count; no detectable
  change: undecided when the seeds ran out (read it with its resolution, the smallest worse
  change detectable at the design's power); undecided: the sequential design stopped early on a
  worse statistic; identical: every pair exactly equal; not measured: too few usable pairs.
* Intervals: t intervals of the mean paired change (two-sided 95%); for the spread, a percentile
  bootstrap over seeds (pairs resampled together).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

import numpy as np
from scipy import stats

WORSE, BETTER, WITHIN, SAME, UNDECIDED, IDENTICAL, UNMEASURED = (
    "worse", "better", "within minimal effect", "no detectable change",
    "undecided (stopped on a worse statistic)", "identical", "not measured")
VERDICTS = (WORSE, BETTER, WITHIN, SAME, UNDECIDED, IDENTICAL, UNMEASURED)
CONFIDENCE = 0.95  # the two-sided interval reports show
LOG_CLIP = 50.0  # a log ratio beyond this (a diverged run) counts as this large
BOOTSTRAP_RESAMPLES = 9999
STOP_WORSE = "a statistic is worse"


@dataclass(frozen=True)
class Statistic:
    key: str
    label: str
    worse: str  # "higher" or "lower": the direction that counts against the candidate
    scale: str  # "ratio", "difference" or "spread" (between seeds, not per seed)
    min_effect: float  # a ratio (1.10, 0.80) or a signed difference (+0.10, -0.02)
    value: Callable | None = None  # per-run extractor, for callers that read runs
    percent: bool = False  # a fraction, printed in percent (differences in points)
    gates: bool = True  # a member of the corrected family (False: reported at its raw p)

    def __post_init__(self):
        if self.worse not in ("higher", "lower") or \
                self.scale not in ("ratio", "difference", "spread"):
            raise ValueError(f"{self.key}: worse must be higher/lower and scale ratio/"
                             f"difference/spread, got {self.worse!r}, {self.scale!r}")

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


@dataclass(frozen=True)
class Design:
    """Seeds in blocks: look after each block, stop once every family member is decided (or one
    is worse, when ``stop_on_worse``). ``two_sided``: both directions are claims (each tested at
    alpha / 2); otherwise "worse" is the tested direction and "better" is its mirror image."""

    block: int = 6  # seeds per look
    max_seeds: int = 18  # the cap: no look after this many seeds
    alpha: float = 0.05  # family-wise error rate over every family member and look
    futility: float = 0.05  # decided "within minimal effect" at this one-sided confidence
    power: float = 0.80  # the power at which each statistic's resolution is stated
    two_sided: bool = False
    stop_on_worse: bool = True

    def __post_init__(self):
        if self.block < 2 or self.max_seeds < self.block:
            raise ValueError(f"a sequential design needs blocks of at least 2 seeds and a cap of "
                             f"at least one block, got block {self.block}, cap {self.max_seeds}")
        if not (0 < self.alpha < 1 and 0 < self.futility < 1 and 0 < self.power < 1):
            raise ValueError("alpha, futility and power must lie between 0 and 1")

    @classmethod
    def fixed(cls, seeds: int, **kwargs) -> Design:
        """A fixed number of seeds: the one-block case."""
        return cls(block=seeds, max_seeds=seeds, **kwargs)

    def looks(self) -> list[int]:
        """Seeds at each look: every full block up to the cap (a last partial block included)."""
        sizes = list(range(self.block, self.max_seeds + 1, self.block))
        return sizes if sizes[-1] == self.max_seeds else [*sizes, self.max_seeds]

    def alpha_per_look(self) -> float:
        return self.alpha / len(self.looks())

    def level(self) -> float:
        """The level each direction is tested at, per look (before Holm)."""
        return self.alpha_per_look() / (2 if self.two_sided else 1)


# -- tests and intervals -------------------------------------------------------------------------
def paired_t(changes) -> tuple[float, float, float, float]:
    """Paired changes: (mean, standard error, p that the mean is above 0, p that it is below),
    one-sided one-sample t-tests."""
    w = np.asarray(changes, dtype=float)
    n, mean = len(w), float(w.mean())
    se = float(w.std(ddof=1) / np.sqrt(n))
    if se == 0.0:  # every pair moved by exactly the same amount (a deterministic shift, such as
        # a clip value that caps every step): certain in its direction
        return mean, 0.0, float(mean <= 0), float(mean >= 0)
    t = mean / se
    return mean, se, float(stats.t.sf(t, n - 1)), float(stats.t.cdf(t, n - 1))


def t_quantile(q: float, n: int) -> float:
    return float(stats.t.ppf(q, n - 1))


def holm_adjusted(pvalues) -> np.ndarray:
    """Holm's step-down adjusted p-values: a hypothesis is rejected at family-wise level a when
    its adjusted p-value is below a. NaN (untestable) entries stay NaN and count as tested."""
    p = np.asarray(pvalues, dtype=float)
    m = len(p)
    order = np.argsort(np.where(np.isnan(p), np.inf, p), kind="stable")
    scaled = np.minimum(1.0, (m - np.arange(m)) * np.where(np.isnan(p[order]), 1.0, p[order]))
    adjusted = np.empty(m)
    adjusted[order] = np.maximum.accumulate(scaled)
    adjusted[np.isnan(p)] = np.nan
    return adjusted


def bootstrap_values(statistic, n: int, n_resamples: int = BOOTSTRAP_RESAMPLES,
                     random_state: int = 0) -> np.ndarray:
    """The finite values of ``statistic(indices)`` over seed indices resampled with replacement
    (pairs stay together): ``indices`` is [n_resamples, n], one value per row expected."""
    indices = np.random.default_rng(random_state).integers(0, n, (n_resamples, n))
    values = np.asarray(statistic(indices), dtype=float)
    return values[np.isfinite(values)]


def rate_interval(hits: int, trials: int) -> tuple[float, float]:
    """Exact (Clopper-Pearson) CONFIDENCE interval of a rate, e.g. an error rate measured over
    independent comparisons."""
    ci = stats.binomtest(hits, trials).proportion_ci(CONFIDENCE, method="exact")
    return float(ci.low), float(ci.high)


# -- one statistic over the seeds given ----------------------------------------------------------
@dataclass
class Change:
    """One statistic at one look, candidate against reference."""

    effect: float  # ratio or difference (spread: SD ratio)
    ci_low: float  # two-sided CONFIDENCE interval of the effect
    ci_high: float
    p_worse: float  # one-sided, H1: the candidate is worse
    p_better: float
    pairs: int  # seeds the test used (pairs where the statistic is defined on both sides)
    worse_bound: float  # one-sided upper bound of the worse-direction change (worse_by units)
    better_bound: float  # the same bound of the better-direction change
    resolution: float  # the smallest worse change detectable at this look (natural units)


def usable_pairs(stat: Statistic, candidate, reference) -> tuple[np.ndarray, np.ndarray]:
    c, r = np.asarray(candidate, float), np.asarray(reference, float)
    keep = ~np.isnan(c) & ~np.isnan(r)
    if stat.scale == "ratio":  # both positive, and not both infinite (no defined ratio)
        keep &= (c > 0) & (r > 0) & ~(np.isinf(c) & np.isinf(r))
    return c[keep], r[keep]


def per_seed_worse(stat: Statistic, c: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Each seed's change in the worse direction; for the spread, the paired difference of
    absolute deviations from each side's median (a paired Brown-Forsythe comparison)."""
    if stat.scale == "spread":
        return stat.sign * (np.abs(c - np.median(c)) - np.abs(r - np.median(r)))
    if stat.scale == "ratio":
        return stat.sign * np.clip(np.log(c / r), -LOG_CLIP, LOG_CLIP)
    return stat.sign * (c - r)


def measure(stat: Statistic, candidate, reference, design: Design, family: int) -> Change | None:
    """The change of one statistic over the seeds given; ``family``: the members corrected
    together at each look (it sets the level at which the resolution is stated)."""
    c, r = usable_pairs(stat, candidate, reference)
    n = len(c)
    if n < (3 if stat.scale == "spread" else 2):
        return None
    mean, se, p_worse, p_better = paired_t(per_seed_worse(stat, c, r))
    level = design.level() / max(family, 1)
    if stat.scale == "spread":
        return spread_change(stat, c, r, p_worse, p_better, design, level)
    half = t_quantile(0.5 + CONFIDENCE / 2, n) * se
    margin = t_quantile(1 - design.futility, n) * se
    detectable = (t_quantile(1 - level, n) + t_quantile(design.power, n)) * se
    ends = sorted(stat.natural(x) for x in (mean - half, mean + half))
    return Change(stat.natural(mean), ends[0], ends[1], p_worse, p_better, n, mean + margin,
                  -mean + margin, stat.natural(max(detectable, stat.worse_by(stat.min_effect))))


def spread_change(stat, c, r, p_worse, p_better, design, level) -> Change:
    """The SD ratio with a paired bootstrap CI (percentiles of the resampled log ratios)."""
    def log_sd_ratio(i):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(np.std(c[i], axis=1, ddof=1) / np.std(r[i], axis=1, ddof=1))

    logs = bootstrap_values(log_sd_ratio, len(c))
    tail = (1 - CONFIDENCE) / 2
    lo, hi = np.quantile(logs, [tail, 1 - tail])
    worse_logs = stat.sign * logs
    spread = float(np.std(worse_logs))
    detectable = (stats.norm.ppf(1 - level) + stats.norm.ppf(design.power)) * spread
    ratio = float(np.std(c, ddof=1) / np.std(r, ddof=1)) if np.std(r) > 0 else math.inf
    return Change(ratio, float(np.exp(lo)), float(np.exp(hi)), p_worse, p_better, len(c),
                  float(np.quantile(worse_logs, 1 - design.futility)),
                  float(np.quantile(-worse_logs, 1 - design.futility)),
                  stat.natural(max(detectable, stat.worse_by(stat.min_effect))))


def summary_value(stat: Statistic, values: list[float]) -> float:
    """What a table shows per side: the median over seeds, or for the spread the SD."""
    v = np.asarray(values, float)
    v = v[~np.isnan(v)]
    if not len(v):
        return float("nan")
    if stat.scale == "spread":
        return float(np.std(v, ddof=1)) if len(v) > 1 else float("nan")
    return float(np.median(v))


def same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def statistic_row(stat: Statistic, reference: list[float], candidate: list[float],
                  seeds: list, design: Design, family: int) -> dict:
    """One statistic over the given seeds of both sides (the summary schema's row)."""
    identical = all(same(a, b) for a, b in zip(candidate, reference))
    change = None if identical else measure(stat, candidate, reference, design, family)
    return {"key": stat.key, "label": stat.label, "worse_when": stat.worse, "scale": stat.scale,
            "min_effect": stat.min_effect, "percent": stat.percent, "gates": stat.gates,
            "seeds": list(seeds), "reference_values": list(reference),
            "candidate_values": list(candidate),
            "reference_summary": summary_value(stat, reference),
            "candidate_summary": summary_value(stat, candidate),
            "identical": identical, "measured": change is not None,
            **(asdict(change) if change else {})}


def decide(stat: Statistic, row: dict, adjusted_worse: float, level: float,
           two_sided: bool = False) -> str | None:
    """The verdict this look settles for ``stat``, or None while it is undecided. Within
    minimal effect: one-sided, no worse by the minimal effect (a gate's futility); two-sided,
    neither worse nor better by it (equivalence)."""
    if row["identical"]:
        return IDENTICAL
    if not row["measured"]:
        return UNMEASURED
    needed = stat.worse_by(stat.min_effect)
    if adjusted_worse < level and stat.worse_by(row["effect"]) >= needed:
        return WORSE
    if row["worse_bound"] < needed and (not two_sided or row["better_bound"] < needed):
        return WITHIN
    return None


def is_better(stat: Statistic, row: dict, adjusted_better: float, level: float) -> bool:
    return (row["measured"] and adjusted_better < level
            and -stat.worse_by(row["effect"]) >= stat.worse_by(stat.min_effect))


# -- a family over paired seeds, look by look ----------------------------------------------------
Values = dict[str, dict[str, list[float]]]  # group (config) -> statistic key -> per-seed values


def compare(reference: Values, candidate: Values, seeds: list, design: Design,
            statistics: tuple[Statistic, ...] | dict[str, tuple[Statistic, ...]],
            freeze_settled: bool = False) -> dict:
    """The verdict of every statistic of every group over the seeds run so far.

    Walks the design's looks over prefixes of the seeds, so the same runs always give the same
    verdict whether they were run block by block or all at once. ``complete`` is False when the
    rule has not stopped and the next look needs more seeds than have run: run them (for the
    ``pending`` groups) and call again. With a fixed design (Design.fixed) the one look is the
    whole seed list. ``statistics``: the same for every group, or per group. With
    ``freeze_settled`` a group whose family members are all decided keeps the rows of the look
    that decided it and needs no further seeds."""
    stats_of = statistics.get if isinstance(statistics, dict) else (lambda g: statistics)
    family = [(g, s) for g in reference for s in stats_of(g) if s.gates]
    settled: dict[tuple, tuple[str, int]] = {}  # (group, key) -> (verdict, seeds at the look)
    rows: dict[tuple, dict] = {}
    seeds_used: dict[str, int] = {}
    level, outcome = design.level(), None
    for n in design.looks():
        pending = [g for g in reference if not (
            freeze_settled and g in seeds_used
            and all((g, s.key) in settled for s in stats_of(g) if s.gates))]
        if n > len(seeds):
            return {"complete": False, "next_seeds": n, "seeds_used": len(seeds),
                    "pending": pending}
        for g in pending:
            seeds_used[g] = n
            rows.update({(g, s.key): statistic_row(s, reference[g][s.key][:n],
                                                   candidate[g][s.key][:n], seeds[:n], design,
                                                   len(family)) for s in stats_of(g)})
        adjusted = holm(rows, family, "p_worse")
        adjusted_better = holm(rows, family, "p_better")
        for g, s in family:
            if (g, s.key) not in settled:
                verdict = decide(s, rows[(g, s.key)], adjusted[(g, s.key)], level,
                                 design.two_sided)
                if verdict is None and design.two_sided and \
                        is_better(s, rows[(g, s.key)], adjusted_better[(g, s.key)], level):
                    verdict = BETTER
                if verdict is not None:
                    settled[(g, s.key)] = (verdict, n)
        if design.stop_on_worse and any(v == WORSE for v, _ in settled.values()):
            outcome = STOP_WORSE
        elif len(settled) == len(family):
            outcome = "every statistic decided"
        elif n == design.max_seeds:
            outcome = "seed cap reached"
        if outcome:
            return result(reference, stats_of, rows, adjusted, adjusted_better, settled,
                          family, design, n, outcome, seeds_used)
    raise AssertionError("the last look is the seed cap")


def holm(rows: dict, family: list, field: str) -> dict:
    """Holm-adjusted ``field`` p-values over the family (untestable entries stay NaN)."""
    keys = [(g, s.key) for g, s in family]
    return dict(zip(keys, holm_adjusted([rows[k].get(field, np.nan) for k in keys])))


def result(reference, stats_of, rows, adjusted, adjusted_better, settled, family, design,
           seeds, stop, seeds_used) -> dict:
    """The outcome at the last look: per group, every statistic's row with its verdict, the
    Holm-adjusted p-values and the seeds at which it was decided."""
    level = design.level()
    groups = {}
    for g in reference:
        statistics_rows = []
        for s in stats_of(g):
            row = dict(rows[(g, s.key)])
            verdict, decided_at = settled.get((g, s.key), (None, None))
            # outside the family: the same rule at the raw p, shown but never gating
            p_adj = adjusted.get((g, s.key), row.get("p_worse", np.nan))
            p_adj_better = adjusted_better.get((g, s.key), row.get("p_better", np.nan))
            if not s.gates:
                verdict = decide(s, row, p_adj, level, design.two_sided)
            if verdict in (None, WITHIN) and is_better(s, row, p_adj_better, level):
                verdict = BETTER
            # "undecided" only where a later look could still have decided it
            undecided = UNDECIDED if stop == STOP_WORSE and seeds < design.max_seeds else SAME
            row.update(verdict=verdict or undecided, decided_at=decided_at,
                       p_worse_adjusted=p_adj, p_better_adjusted=p_adj_better)
            statistics_rows.append(row)
        groups[g] = {"statistics": statistics_rows, "seeds_used": seeds_used[g]}
    worse = [(g, row["label"]) for g, c in groups.items() for row in c["statistics"]
             if row["gates"] and row["verdict"] == WORSE]
    return {"complete": True, "seeds_used": seeds, "stop": stop, "design": asdict(design),
            "looks": design.looks(), "alpha_per_look": design.alpha_per_look(),
            "family": len(family), "worse": worse, "configs": groups}


def compare_fixed(reference: dict[str, list[float]], candidate: dict[str, list[float]],
                  seeds: list, statistics: tuple[Statistic, ...], **design) -> dict[str, dict]:
    """One group over a fixed seed list: statistic key -> row with its verdict."""
    outcome = compare({"": reference}, {"": candidate}, list(seeds),
                      Design.fixed(len(seeds), **design), statistics)
    return {row["key"]: row for row in outcome["configs"][""]["statistics"]}


def in_family(statistic: Statistic, member: bool = True) -> Statistic:
    return replace(statistic, gates=member)


def describe(row: dict) -> str:
    """One line a person reads: the verdict, the effect with its interval, the p-values."""
    if row["identical"]:
        return f"{row['label']}: {IDENTICAL} (every pair equal)"
    if not row["measured"]:
        return f"{row['label']}: {UNMEASURED} (too few usable pairs)"
    word = "ratio" if row["scale"] != "difference" else "difference"
    return (f"{row['label']}: {row['verdict']}: {word} {row['effect']:.3f} "
            f"(95% CI {row['ci_low']:.3f}-{row['ci_high']:.3f}), p worse = "
            f"{row['p_worse_adjusted']:.4g}, p better = {row['p_better_adjusted']:.4g} "
            f"(Holm-adjusted), {row['pairs']} pairs, resolution {row['resolution']:.3f}")
