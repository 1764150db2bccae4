"""The gate's two error rates, measured: how often it blocks a harmless change (false alarms on
A/A comparisons of neutral edits) and how often it stops a real regression (detection).

Neutral comparisons share runs: with K neutral variants every ordered pair (REF i, working tree
j) is a comparison, so K (K - 1) comparisons rest on K sets of runs. Their rate is the mean over
all pairs, with a 95% interval from resampling the variants (a pair of two resampled copies of
one variant is not a comparison and is left out). A conservative second figure rests only on
independent comparisons, a perfect matching of the variants (each variant's runs in one
comparison), with an exact binomial interval. The published figures live beside this module in
gate_calibration.json, written by the gate-calibration session; reports quote them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..engine import CONFIDENCE, Design, rate_interval

CALIBRATION_FILE = Path(__file__).with_name("gate_calibration.json")


def shared_pairs_rate(alarms: np.ndarray, n_resamples: int = 4000, random_state: int = 0
                      ) -> dict:
    """``alarms``: K x K, entry (i, j) 1 if comparing REF i with working tree j raised an alarm
    (diagonal ignored). The rate over ordered pairs and its variant-bootstrap interval."""
    a = np.asarray(alarms, dtype=float).copy()
    k = len(a)
    np.fill_diagonal(a, 0.0)
    off = 1.0 - np.eye(k)
    counts = np.stack([np.bincount(row, minlength=k) for row in
                       np.random.default_rng(random_state).integers(0, k, (n_resamples, k))])
    hits = np.einsum("bi,ij,bj->b", counts, a, counts)
    pairs = np.einsum("bi,ij,bj->b", counts, off, counts)
    rates = hits[pairs > 0] / pairs[pairs > 0]
    tail = (1 - CONFIDENCE) / 2
    lo, hi = np.quantile(rates, [tail, 1 - tail])
    return {"rate": float(a.sum() / off.sum()), "alarms": int(a.sum()),
            "comparisons": int(off.sum()), "variants": k, "ci_low": float(lo),
            "ci_high": float(hi), "interval": "bootstrap over variants"}


def matching(k: int) -> list[tuple[int, int]]:
    """Disjoint (REF, working tree) pairs of variants 0..k-1: (0, 1), (2, 3), ..."""
    return [(i, i + 1) for i in range(0, k - 1, 2)]


def independent_rate(alarms: np.ndarray) -> dict:
    """The rate over a perfect matching only: independent comparisons, exact interval."""
    a = np.asarray(alarms)
    pairs = matching(len(a))
    hits = int(sum(a[i, j] for i, j in pairs))
    low, high = rate_interval(hits, len(pairs))
    return {"rate": hits / len(pairs), "alarms": hits, "comparisons": len(pairs),
            "ci_low": low, "ci_high": high,
            "interval": "exact binomial (Clopper-Pearson)"}


def load_calibration(path: Path = CALIBRATION_FILE) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def calibration_lines(summary: dict, path: Path = CALIBRATION_FILE) -> list[str]:
    """What the report says of the gate's measured error rates, and whether they apply: they
    were measured for one setting (data, config, profile, design), which it names."""
    cal = load_calibration(path)
    if cal is None:
        return ["The error rates of this design have not been measured in this checkout (no "
                f"{path.name}): run `nox -s gate_calibration`."]
    fa, det, at = cal["false_alarms"], cal["detection"], cal["setting"]
    lines = [f"**Measured error rates of this gate** ({cal['date']}; {at['data']}, config "
             f"`{at['config']}`, profile `{at['profile']}`, blocks of {at['design']['block']} "
             f"up to {at['design']['max_seeds']} seeds): false alarms on harmless changes "
             f"{fa['rate']:.1%} (95% CI {fa['ci_low']:.1%}-{fa['ci_high']:.1%}, "
             f"{fa['comparisons']} A/A comparisons of {fa['variants']} neutral edits); "
             f"regressions detected {det['rate']:.0%} ({det['detected']} of "
             f"{det['regressions']} moderate regressions in most comparisons); mean seeds "
             f"used {cal['seeds_used']['neutral']:.1f} (neutral) and "
             f"{cal['seeds_used']['regression']:.1f} (regression)."]
    differs = [what for what, here in (
        ("profile", summary["profile"] == at["profile"]),
        # a design field added after the calibration ran is at its default there
        ("design", Design(**at["design"]) == Design(**summary["gate"]["design"])),
        ("configs", list(summary["configs"]) == [at["config"]]))
        if not here]
    if differs:
        lines.append(f"This comparison's {', '.join(differs)} differ(s) from the calibrated "
                     "setting, so those rates may not carry over.")
    return lines


def aa_outcomes(neutral: list[dict], seeds: list[int], design) -> dict:
    """Every ordered A/A comparison of the neutral variants (per-seed statistics per config,
    as the engine takes them): alarms, the statistics called worse and the seeds used."""
    from ..engine import compare
    from ..statistics import STATISTICS

    k = len(neutral)
    alarms, used, worse = np.zeros((k, k), int), np.zeros((k, k), int), {}
    for i in range(k):
        for j in range(k):
            if i != j:
                outcome = compare(neutral[i], neutral[j], seeds, design, STATISTICS)
                alarms[i, j], used[i, j] = bool(outcome["worse"]), outcome["seeds_used"]
                if outcome["worse"]:
                    worse[(i, j)] = [label for _, label in outcome["worse"]]
    return {"alarms": alarms, "seeds_used": used, "worse": worse}


def timed_ab(round_a, round_b, design) -> dict:
    """The speed verdict of two in-process contestants timed in turns (speed.round_order)."""
    from .speed import round_order, speed_verdict

    seconds: list[list[float]] = [[], []]
    contestants = (round_a, round_b)
    for side in (0, 1):
        contestants[side]()  # warm-up, as the timing workers do
    for side in round_order(design.rounds):
        seconds[side].append(contestants[side]())
    return speed_verdict(seconds[0], seconds[1], design)
