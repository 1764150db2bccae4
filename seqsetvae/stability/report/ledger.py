"""`seqsetvae claims`: the ledger's summary.json, report.md and forest plot."""

from __future__ import annotations

from pathlib import Path

from ...fileio import atomic_write_text, write_json
from .configs import SCHEMA
from .figures import LEDGER_COLOURS, plot_forest

# -- the claims ledger ----------------------------------------------------------------------------

def write_ledger(out: Path, ledger: dict) -> dict:
    """OUT/summary.json, OUT/report.md and OUT/forest.png of `seqsetvae claims`."""
    out.mkdir(parents=True, exist_ok=True)
    summary = {"schema": SCHEMA, "kind": "claims", **ledger}
    controls = (summary["controls"] or {}).get("rows", [])
    plot_forest(summary["claims"]["rows"] + controls, out / "forest.png")
    write_json(out / "summary.json", summary)
    atomic_write_text(out / "report.md", render_ledger(summary))
    return summary

def fmt_effect(row: dict) -> str:
    if not row.get("measured") or row.get("identical"):
        return "-"
    if row["scale"] == "difference":
        return f"{row['effect']:+.3g} [{row['ci_low']:+.3g}, {row['ci_high']:+.3g}]"
    return f"×{row['effect']:.3g} [{row['ci_low']:.3g}, {row['ci_high']:.3g}]"

def ledger_table(rows: list[dict]) -> list[str]:
    lines = ["| claim | intervention | statistic | verdict | change [95% CI] | seeds | "
             "resolution |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        verdict = r["ledger"] + (f" ({r['why']})" if r.get("why") else "")
        seeds = r.get("pairs", "-")
        resolution = "-" if not r.get("measured") or "resolution" not in r else \
            f"±{abs(r['resolution']):.3g}" if r["scale"] == "difference" else \
            f"×{r['resolution']:.3g}"
        lines.append(f"| {r['comparison']} | {r['how']} | {r['label']} | **{verdict}** | "
                     f"{fmt_effect(r)} | {seeds} | {resolution} |")
    return lines


def selection_words(selection: dict) -> str:
    """A part of the ledger in words ("" for the whole ledger)."""
    parts = []
    if selection.get("claims"):
        parts.append("claims " + ", ".join(selection["claims"]))
    if selection.get("direction", "both") != "both":
        parts.append(f"knob claims {selection['direction']} only")
    return ", ".join(parts)


def render_ledger(summary: dict, forest: str = "forest.png") -> str:
    claims, controls = summary["claims"], summary["controls"]
    design = claims.get("design") or {}
    counts = {w: sum(r["ledger"] == w for r in claims["rows"]) for w in LEDGER_COLOURS}
    broken = [k for k, ok in summary["controls_hold"].items() if not ok]
    part = selection_words(summary.get("selection") or {})
    if summary.get("from_summary"):
        planted_line = (f"Judged from `{summary.get('from_summary')}`, a comparison of the two "
                        "presets: the headline claims only; no planted controls were run.")
    elif controls is None:
        planted_line = ("Planted controls: not run here (`--no_controls`), so this ledger does "
                        "not show on its own that it can fail.")
    elif broken:
        planted_line = (f"Planted controls: **NOT as planted: {', '.join(broken)}** (the ledger "
                        "cannot be trusted).")
    else:
        planted_line = "Planted controls: every one came out as it must."
    lines = [f"# The seed guide's claims on {summary['data']}", "",
             f"Profile `{summary['profile']}`, {summary['steps']} optimizer steps per run, "
             f"{summary['precision']}; seeds in blocks of {design.get('block')} up to "
             f"{design.get('max_seeds')} (added only while a comparison is undecided); Holm over "
             "all "
             f"{claims.get('family', 0)} claim statistics, two-sided, family-wise alpha "
             f"{design.get('alpha')}."
             + (f" Wall time {summary['seconds']:.0f} s." if summary["seconds"] else ""), "",
             "Verdicts: " + ", ".join(f"{n} {w}" for w, n in counts.items() if n) + ".",
             *(["", f"Part of the ledger: {part}; its own Holm family, so these verdicts are "
                 "not the whole ledger's."] if part else []),
             "", planted_line, "", f"![forest plot]({forest})", "", "## Claims", ""]
    words = {}
    for r in claims["rows"]:
        words.setdefault(r["claim"], r["words"])
    lines += [f"* **{k}**: {w}" for k, w in words.items()] + [""]
    lines += ledger_table(claims["rows"]) + [""]
    if controls is not None:
        planted = {}
        for r in controls["rows"]:
            planted.setdefault(r["claim"], r["words"])
        lines += ["## Controls", ""] + [f"* **{k}**: {w}" for k, w in planted.items()] + [""]
        lines += ledger_table(controls["rows"]) + [""]
    lines += ["Change: the side with the advice applied against the other (ratios for positive "
              "statistics, differences for fractions, the SD ratio for the between-seed spread); "
              "resolution: the smallest worse change the comparison could detect at 80% power. "
              "The method: docs/explanation/statistics.md.", ""]
    return "\n".join(lines)

