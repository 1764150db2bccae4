"""`seqsetvae gate REF`: summary.json (every per-seed value, test and verdict), report.md
(written to be pasted as a pull-request comment: the verdict and a short table first, the
details below) and PNG plots.
"""

from __future__ import annotations

from pathlib import Path

from ...fileio import atomic_write_text, write_json
from ..ab.calibration import calibration_lines
from ..engine import BETTER, UNMEASURED, WORSE
from ..verdicts import RUN_PROPERTIES, run_findings
from .figures import plot_grad_norms, plot_losses, plot_paired
from .tables import fmt, fmt_min_effect, format_seeds, property_verdicts, verdict_table

IDENTICAL_LINE = "numerically identical to REF"

def side_properties(runs: list, ground_truth: bool) -> dict[str, str]:
    return property_verdicts([{"seed": r.trace.seed, "findings": run_findings(r.trace,
                                                                              ground_truth)}
                              for r in runs])

def verdict_lists(configs: dict) -> dict[str, list[str]]:
    """Statistics per verdict over every config, named "label" (or "config: label")."""
    many = len(configs) > 1
    found: dict[str, list[str]] = {WORSE: [], BETTER: []}
    for name, c in configs.items():
        for s in c["statistics"]:
            if s["verdict"] in found and s["gates"]:
                found[s["verdict"]].append(f"{name}: {s['label']}" if many else s["label"])
    return found

def write_ab_report(out: Path, meta: dict, configs: dict, plots: dict) -> dict:
    """``meta``: what was compared and how; ``configs``: name -> compare_config() result plus
    "properties"; ``plots``: name -> {side label: [RunTrace]} for the curves."""
    out.mkdir(parents=True, exist_ok=True)
    found = verdict_lists(configs)
    summary = {**meta, "numerically_identical": all(c["numerically_identical"]
                                                    for c in configs.values()),
               "worse": found[WORSE], "better": found[BETTER], "configs": configs}
    for name, c in configs.items():
        plot_paired(c["statistics"], meta["ref"]["label"], out / f"ab_statistics_{name}.png")
        plot_losses(plots[name], out / f"loss_curves_{name}.png")
        plot_grad_norms(plots[name], out / f"grad_norms_{name}.png")
    write_json(out / "summary.json", summary)
    atomic_write_text(out / "report.md", render(summary))
    return summary

def headline(summary: dict) -> str:
    ref, gate = f"`{summary['ref']['name']}`", summary["gate"]
    seeds = f"{gate['seeds_used']} seeds, {gate['stop']}"
    if summary["worse"]:
        return (f"**Worse than {ref}** on {len(summary['worse'])} statistic(s): "
                + ", ".join(summary["worse"]) + f" ({seeds}).")
    if summary["numerically_identical"]:
        return (f"**The working tree is {IDENTICAL_LINE}** ({ref}): every per-step loss, "
                "gradient norm and statistic of every seed is exactly equal (every difference "
                f"is 0.0; {seeds}); only the wall-clock speed is measured anew.")
    better = f"; better on: {', '.join(summary['better'])}" if summary["better"] else ""
    return f"**No statistic is worse than {ref}**{better} ({seeds})."

def speed_line(summary: dict) -> str:
    speed = summary["speed"]
    if speed["verdict"] == UNMEASURED:
        return f"**Speed**: not measured ({speed.get('why', 'too few timed rounds')})."
    word = {WORSE: "slower", BETTER: "faster"}.get(speed["verdict"], speed["verdict"])
    return (f"**Speed**: {word}; the working tree's training step takes "
            f"×{speed['time_ratio']:.3f} [{speed['ci_low']:.3f}, {speed['ci_high']:.3f}] of "
            f"REF's time (steps per second ×{speed['steps_per_second_ratio']:.3f}) over "
            f"{speed['rounds']} timed rounds per side; detectable from "
            f"×{speed['resolution']:.3f}. Speed is judged apart from stability.")

def lost_properties(summary: dict) -> list[str]:
    """Stability properties (verdicts.RUN_PROPERTIES) that every REF seed passes and some
    working-tree seed fails: shown for the reader; the verdicts above stay the statistics'."""
    many = len(summary["configs"]) > 1
    return [f"{name}: {p}" if many else p for name, c in summary["configs"].items()
            for p in RUN_PROPERTIES
            if c["properties"]["ref"][p] == "holds" and c["properties"]["working_tree"][p]
            != "holds"]

def render(summary: dict) -> str:
    ref = summary["ref"]
    lines = [f"## Stability A/B: working tree vs `{ref['name']}` ({ref['commit'][:10]})", "",
             headline(summary), "", speed_line(summary), ""]
    lost = lost_properties(summary)
    if lost:
        lines += [f"Stability properties that hold on `{ref['name']}` but not on the working "
                  "tree (see the details): " + ", ".join(lost) + ".", ""]
    for name, c in summary["configs"].items():
        if len(summary["configs"]) > 1:
            lines += [f"#### config `{name}`", ""]
        lines += verdict_table(c["statistics"], ref["name"]) + [""]
    lines += [f"{ref['name']} and working tree: median over seeds {format_seeds(summary)} "
              "(the spread: SD over seeds); change: working tree against "
              f"{ref['name']}, with its 95% paired CI; detectable: the smallest worse change "
              "this comparison would have called worse (80% power), so read \"no detectable "
              "change\" with it; decided: seeds at the look that settled the statistic.", ""]
    lines += setup_section(summary) + method_section(summary)
    for name, c in summary["configs"].items():
        lines += detail_section(name, c, ref["name"])
    return "\n".join(lines) + "\n"

def setup_section(summary: dict) -> list[str]:
    tree = summary["working_tree"]
    state = f"HEAD {tree['head'][:10]}"
    if tree["uncommitted"]:
        state += (f" **with uncommitted changes, compared as they are** "
                  f"({len(tree['uncommitted'])} path(s): "
                  + ", ".join(f"`{p}`" for p in tree["uncommitted"][:10])
                  + (", ..." if len(tree["uncommitted"]) > 10 else "") + ")")
    return ["### Setup", "",
            f"* REF: `{summary['ref']['name']}` = {summary['ref']['commit']}",
            f"* working tree: {state}",
            f"* data: `{summary['data']}`; configs: "
            + ", ".join(f"`{c}`" for c in summary["configs"]),
            f"* profile `{summary['profile']}`, {summary['steps']} optimizer steps per run, "
            f"seeds {format_seeds(summary)} (the same for both sides), {summary['device']} "
            f"{summary['precision']}, {summary['workers']} worker process(es)",
            "* REF ran from a temporary `git worktree` of its own; each side imported its own "
            "`seqsetvae`", ""]

def method_section(summary: dict) -> list[str]:
    gate = summary["gate"]
    design = gate["design"]
    first = next(iter(summary["configs"].values()))["statistics"]
    looks = ", ".join(map(str, gate["looks"]))
    lines = ["### How the verdicts are made", "",
             f"Paired seeds in blocks of {design['block']} (looks at {looks} seeds, stopping "
             f"once settled); per statistic a one-sided paired t-test, Holm across the "
             f"{gate['family']} gating statistics, the family-wise rate {design['alpha']} split "
             f"over the looks ({gate['alpha_per_look']:.4g} each). The rule and the meaning of "
             "each verdict word: the documentation's page on the comparison engine "
             "(docs/explanation/statistics.md).", ""]
    lines += calibration_lines(summary) + [""]
    lines += ["| statistic | worse when | minimal effect that counts as worse | gates |",
              "|---|---|---|---|"]
    lines += [f"| {s['label']} | {s['worse_when']} | {fmt_min_effect(s)} | "
              f"{'yes' if s['gates'] else 'no (reported)'} |" for s in first]
    return lines + [""]

def detail_section(name: str, c: dict, ref_name: str) -> list[str]:
    lines = [f"### Details: `{name}`", ""]
    if c["config_changes"]:
        lines += ["Resolved config fields that differ between the sides:", ""]
        lines += [f"* `{d['field']}`: {d['ref']!r} -> {d['tree']!r}" for d in c["config_changes"]]
        lines.append("")
    lines += ["| statistic | p (worse) | Holm-adjusted | p (better) | seeds used | per-seed "
              f"{ref_name} -> working tree |", "|---|---|---|---|---|---|"]
    for s in c["statistics"]:
        p_worse = f"{s['p_worse']:.3g}" if "p_worse" in s else "-"
        adjusted = s.get("p_worse_adjusted")
        adjusted = f"{adjusted:.3g}" if s["gates"] and adjusted == adjusted and \
            adjusted is not None else "-"
        p_better = f"{s['p_better']:.3g}" if "p_better" in s else "-"
        pairs = s.get("pairs", len(s["seeds"]))
        per_seed = "; ".join(f"{fmt(s, a)} -> {fmt(s, b)}"
                             for a, b in zip(s["reference_values"], s["candidate_values"]))
        lines.append(f"| {s['label']} | {p_worse} | {adjusted} | {p_better} | {pairs} | "
                     f"{per_seed} |")
    props = c["properties"]
    lines += ["", "Stability properties per side (the stability suite's verdicts):", "",
              f"| property | {ref_name} | working tree |", "|---|---|---|"]
    lines += [f"| {p} | {props['ref'][p]} | {props['working_tree'][p]} |"
              for p in RUN_PROPERTIES]
    lines += ["", f"![paired statistics](ab_statistics_{name}.png)", "",
              f"![loss curves](loss_curves_{name}.png)", "",
              f"![gradient norms](grad_norms_{name}.png)", ""]
    return lines

