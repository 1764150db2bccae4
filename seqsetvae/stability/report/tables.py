"""Markdown pieces every report shares: the verdict table of the comparison engine's rows, the
per-property verdicts of a side's runs, and the number formats."""

from __future__ import annotations

import math

from ..engine import WORSE
from ..verdicts import RUN_PROPERTIES


def verdict_table(statistics: list[dict], ref_name: str,
                  candidate_name: str = "working tree") -> list[str]:
    """One row per statistic: each side's summary, the change with its CI, the resolution, the
    seeds at which it was decided and the engine's verdict."""
    lines = [f"| statistic | {ref_name} | {candidate_name} | change | detectable | decided | "
             "verdict |", "|---|---|---|---|---|---|---|"]
    for s in statistics:
        verdict = f"**{s['verdict']}**" if s["verdict"] == WORSE and s["gates"] else s["verdict"]
        if not s["gates"]:
            verdict += " (reported, not gated)"
        decided = f"{s['decided_at']} seeds" if s.get("decided_at") else "-"
        lines.append(f"| {s['label']} | {fmt(s, s['reference_summary'])} | "
                     f"{fmt(s, s['candidate_summary'])} | {fmt_change(s)} | {fmt_resolution(s)} | "
                     f"{decided} | {verdict} |")
    return lines

def fmt_resolution(s: dict) -> str:
    if "resolution" not in s:
        return "-"
    r = s["resolution"]
    if s["scale"] != "difference":
        return f"×{r:.3g}"
    return f"{points(r)} pp" if s["percent"] else f"{r:+.3g}"

def fmt(s: dict, value: float) -> str:
    if value is None or math.isnan(value):
        return "n/a"
    return f"{value:.1%}" if s["percent"] else f"{value:.4g}"

def fmt_change(s: dict) -> str:
    if s["identical"]:
        return "0 (identical)"
    if "effect" not in s:
        return "n/a"
    e, lo, hi = s["effect"], s["ci_low"], s["ci_high"]
    if s["scale"] != "difference":
        return f"×{e:.3g} [{lo:.3g}, {hi:.3g}]"
    if s["percent"]:
        return f"{points(e)} pp [{points(lo)}, {points(hi)}]"
    return f"{e:+.3g} [{lo:+.3g}, {hi:+.3g}]"

def points(fraction: float) -> str:
    """Percentage points with a sign; a change that rounds to zero prints as +0.0, not -0.0."""
    return f"{round(100 * fraction, 1) + 0.0:+.1f}"

def fmt_min_effect(s: dict) -> str:
    m = s["min_effect"]
    if s["scale"] != "difference":
        return f"×{m:g}"
    return f"{100 * m:+g} pp" if s["percent"] else f"{m:+g}"

def format_seeds(summary: dict) -> str:
    seeds = summary["seeds"]
    return f"{seeds[0]}-{seeds[-1]}" if seeds == list(range(seeds[0], seeds[-1] + 1)) \
        else ", ".join(map(str, seeds))

def property_verdicts(runs: list[dict]) -> dict[str, str]:
    """Per property: 'holds' or 'VIOLATED in seeds [..]: first finding'."""
    verdicts = {}
    for prop in RUN_PROPERTIES:
        bad = [(r["seed"], r["findings"][prop]) for r in runs if r["findings"][prop]]
        verdicts[prop] = "holds" if not bad else \
            f"VIOLATED in seeds {[s for s, _ in bad]}: {bad[0][1][0]}"
    return verdicts

