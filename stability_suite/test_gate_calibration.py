"""The before-merge gate's two error rates, measured (``nox -s gate_calibration``; skipped unless
``--gate-calibration DIR`` is given): false alarms on A/A comparisons of the neutral corpus and
detection of the regression corpus (gate_corpus.py), at the setting `nox -s stability_diff`
runs (built-in synthetic data, optimized config, quick profile, the default design), and the
speed verdict's own two rates on timed rounds.

Every (variant, seed) run is trained once, for every seed up to the design's cap; the gate then
walks its looks over each comparison's seeds exactly as `seqsetvae gate` does block by block
(the engine's compare is a function of the seeds' statistics alone), so the rates are those of
the command, not of a model of it.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
from pathlib import Path

import numpy as np
import pytest
from gate_corpus import REGRESSIONS, SPEED_REGRESSION, neutral_corpus, variant, variant_config

from seqsetvae.data import DataSource
from seqsetvae.data.builtin import SyntheticSpec, write_synthetic
from seqsetvae.fileio import atomic_write_text, write_json
from seqsetvae.stability.ab.calibration import (
    CALIBRATION_FILE,
    aa_outcomes,
    independent_rate,
    shared_pairs_rate,
    timed_ab,
)
from seqsetvae.stability.ab.speed import SpeedDesign
from seqsetvae.stability.ab.timing_worker import timed_round
from seqsetvae.stability.engine import WORSE, Design, compare
from seqsetvae.stability.runs import PROFILES, profile_config
from seqsetvae.stability.statistics import BY_KEY, STATISTICS, statistic_values

CONFIG, PROFILE = "optimized", PROFILES["quick"]  # what `nox -s stability_diff` compares
REFS_PER_REGRESSION = 6  # neutral variants each regression is compared against
SPEED_COMPARISONS = 10  # timed A/A and timed regression comparisons each
MAX_FALSE_ALARMS = 0.05  # the goals of the gate, per comparison
MIN_DETECTION = 0.80

def gate(reference, candidate, seeds, design) -> dict:
    """The gate's verdict, as the command computes it."""
    return compare(reference, candidate, seeds, design, STATISTICS)


pytestmark = pytest.mark.skipif("not config.getoption('--gate-calibration')",
                                reason="the gate calibration runs in its own session")


@pytest.fixture(scope="module")
def design(pytestconfig) -> Design:
    """The command's default blocks and cap (a smaller cap only for a quick trial)."""
    cap = pytestconfig.getoption("--gate-max-seeds")
    return Design() if cap is None else Design(max_seeds=cap)


@pytest.fixture(scope="module")
def neutral(pytestconfig) -> list:
    """The unchanged code, the rounding edits and the noise-stream edits."""
    return neutral_corpus(pytestconfig.getoption("--gate-streams"))


@pytest.fixture(scope="module")
def out(pytestconfig) -> Path:
    path = Path(pytestconfig.getoption("--gate-calibration"))
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return DataSource.resolve(write_synthetic(tmp_path_factory.mktemp("gate") / "synthetic",
                                              SyntheticSpec())).splits()


@pytest.fixture(scope="module")
def statistics(pool, data, neutral, design):
    """variant name -> {config: per-seed statistics} for seeds 0..cap-1."""
    train, valid = data
    base = profile_config(CONFIG, PROFILE)
    variants = [*neutral, *REGRESSIONS]
    seeds = range(design.max_seeds)
    futures = {(v.name, s): pool.submit(("gate", v.name, s), variant_config(v, base), CONFIG,
                                        train, valid, PROFILE, s,
                                        functools.partial(variant, v.name))
               for s in seeds for v in variants}  # seed-major: early blocks finish first
    return {v.name: {CONFIG: statistic_values([futures[(v.name, s)].result() for s in seeds],
                                              PROFILE)} for v in variants}


@pytest.fixture(scope="module")
def false_alarms(statistics, neutral, design):
    names = [v.name for v in neutral]
    found = aa_outcomes([statistics[n] for n in names], list(range(design.max_seeds)), design)
    k = len(names)
    off = ~np.eye(k, dtype=bool)
    per_statistic: dict[str, int] = {}
    for labels in found["worse"].values():
        for label in labels:
            per_statistic[label] = per_statistic.get(label, 0) + 1
    return {**shared_pairs_rate(found["alarms"]), "independent": independent_rate(
        found["alarms"]), "by_statistic": per_statistic,
        "alarm_pairs": [[names[i], names[j], labels]
                        for (i, j), labels in found["worse"].items()],
        "seeds_used": float(found["seeds_used"][off].mean()),
        "seeds_used_histogram": dict(zip(*[a.tolist() for a in np.unique(
            found["seeds_used"][off], return_counts=True)]))}


@pytest.fixture(scope="module")
def detection(statistics, neutral, design):
    refs = [v.name for v in neutral][:REFS_PER_REGRESSION]
    seeds = list(range(design.max_seeds))
    rows = []
    for r in REGRESSIONS:
        outcomes = [gate(statistics[ref], statistics[r.name], seeds, design) for ref in refs]
        called = sorted({label for o in outcomes for _, label in o["worse"]})
        final = gate(statistics[refs[0]], statistics[r.name], seeds, Design(
            block=design.max_seeds, max_seeds=design.max_seeds))["configs"][CONFIG]
        effect = {row["key"]: row.get("effect") for row in final["statistics"]}
        rows.append({"regression": r.name, "kind": r.kind, "what": r.what,
                     "expected": BY_KEY[r.expected].label,
                     "detected": sum(bool(o["worse"]) for o in outcomes),
                     "comparisons": len(outcomes),
                     "expected_called": sum(BY_KEY[r.expected].label in
                                            [label for _, label in o["worse"]]
                                            for o in outcomes),
                     "called_worse_on": called,
                     "seeds_used": [o["seeds_used"] for o in outcomes],
                     "effect_on_expected": effect[r.expected]})
    return rows


@pytest.fixture(scope="module")
def speed(data):
    train, _ = data
    cfg = profile_config(CONFIG, PROFILE)
    design = SpeedDesign()

    def plain():
        return timed_round(cfg, train, design.steps, 0, "cpu")

    def slowed():
        with variant(SPEED_REGRESSION.name):
            return timed_round(cfg, train, design.steps, 0, "cpu")

    same = [timed_ab(plain, plain, design) for _ in range(SPEED_COMPARISONS)]
    slow = [timed_ab(plain, slowed, design) for _ in range(SPEED_COMPARISONS)]
    return {"design": dataclasses.asdict(design),
            "false_alarms": sum(s["verdict"] == WORSE for s in same),
            "detected": sum(s["verdict"] == WORSE for s in slow),
            "comparisons": SPEED_COMPARISONS,
            "aa_time_ratios": [s.get("time_ratio") for s in same],
            "regression_time_ratios": [s.get("time_ratio") for s in slow]}


def test_false_alarm_rate_on_harmless_changes(false_alarms, record_figure):
    fa = false_alarms
    record_figure("gate calibration", "false alarms",
                  f"{fa['alarms']}/{fa['comparisons']} = {fa['rate']:.2%} (95% CI "
                  f"{fa['ci_low']:.2%}-{fa['ci_high']:.2%}); independent "
                  f"{fa['independent']['alarms']}/{fa['independent']['comparisons']}; mean "
                  f"seeds {fa['seeds_used']:.1f}; by statistic {fa['by_statistic']}")
    assert fa["rate"] <= MAX_FALSE_ALARMS, fa


def test_regressions_are_detected(detection, record_figure):
    for row in detection:
        record_figure("gate calibration", row["regression"],
                      f"{row['detected']}/{row['comparisons']} on {row['called_worse_on']}, "
                      f"seeds {row['seeds_used']}")
    rate = np.mean([r["detected"] / r["comparisons"] for r in detection])
    assert rate >= MIN_DETECTION, [(r["regression"], r["detected"]) for r in detection]


def test_speed_verdict_rates(speed, record_figure):
    record_figure("gate calibration", "speed", speed)
    assert speed["false_alarms"] <= 1 and speed["detected"] >= 0.8 * speed["comparisons"], speed


def test_write_the_calibration(false_alarms, detection, speed, out, design):
    """The published figures: the package's gate_calibration.json (reports quote it), a table
    and a plot in the output folder."""
    detected = sum(r["detected"] * 2 > r["comparisons"] for r in detection)
    calibration = {
        "date": datetime.date.today().isoformat(),
        "setting": {"data": "built-in synthetic data (seqsetvae data synthetic)",
                    "config": CONFIG, "profile": PROFILE.name,
                    "design": dataclasses.asdict(design)},
        "false_alarms": false_alarms,
        "detection": {"rate": float(np.mean([r["detected"] / r["comparisons"]
                                             for r in detection])),
                      "detected": detected, "regressions": len(detection), "table": detection},
        "seeds_used": {"neutral": false_alarms["seeds_used"],
                       "regression": float(np.mean([s for r in detection
                                                    for s in r["seeds_used"]]))},
        "speed": speed}
    write_json(CALIBRATION_FILE, calibration)
    write_json(out / "gate_calibration.json", calibration)
    atomic_write_text(out / "gate_calibration.md", render(calibration))
    plot(calibration, out / "gate_calibration.png")
    assert CALIBRATION_FILE.is_file()


def render(cal: dict) -> str:
    fa, det = cal["false_alarms"], cal["detection"]
    lines = [f"False alarms: {fa['alarms']} of {fa['comparisons']} A/A comparisons "
             f"({fa['rate']:.1%}, 95% CI {fa['ci_low']:.1%}-{fa['ci_high']:.1%}, bootstrap over "
             f"the {fa['variants']} neutral variants); independent comparisons only: "
             f"{fa['independent']['alarms']} of {fa['independent']['comparisons']} (exact 95% "
             f"CI {fa['independent']['ci_low']:.1%}-{fa['independent']['ci_high']:.1%}). Mean "
             f"seeds used {fa['seeds_used']:.1f}.", "",
             "| regression | kind | expected statistic | effect on it (18 seeds) | detected | "
             "called worse on | seeds used |", "|---|---|---|---|---|---|---|"]
    for r in det["table"]:
        effect = r["effect_on_expected"]
        effect = "n/a" if effect is None else f"{effect:.3g}"
        lines.append(f"| `{r['regression']}` ({r['what']}) | {r['kind']} | {r['expected']} | "
                     f"{effect} | {r['detected']}/{r['comparisons']} | "
                     f"{', '.join(r['called_worse_on']) or '-'} | "
                     f"{', '.join(map(str, r['seeds_used']))} |")
    lines += ["", f"Detected (in most comparisons): {det['detected']} of {det['regressions']}; "
              f"mean detection rate {det['rate']:.0%}."]
    return "\n".join(lines) + "\n"


def plot(cal: dict, path: Path) -> None:
    """Left: how many seeds the A/A comparisons used, and how many alarmed; right: each
    regression's share of comparisons called worse, against the 80% goal."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from seqsetvae.stability.report.figures import save_figure

    fa, table = cal["false_alarms"], cal["detection"]["table"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4), width_ratios=(1, 2))
    seeds = list(fa["seeds_used_histogram"])
    left.bar([str(s) for s in seeds], list(fa["seeds_used_histogram"].values()), color="0.5")
    left.set(xlabel="seeds used", ylabel="A/A comparisons",
             title=f"harmless changes: {fa['alarms']} false alarms in {fa['comparisons']}")
    names = [r["regression"] for r in table]
    shares = [r["detected"] / r["comparisons"] for r in table]
    right.barh(names, shares, color=["tab:red" if s >= MIN_DETECTION else "tab:orange"
                                     for s in shares])
    right.axvline(MIN_DETECTION, ls="--", color="black", lw=1)
    right.set(xlim=(0, 1), xlabel="share of comparisons called worse",
              title="regressions (dashed: the 80% goal)")
    right.invert_yaxis()
    save_figure(fig, path)
