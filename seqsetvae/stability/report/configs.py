"""`seqsetvae compare`: configs over paired seeds, as a report a person reads.

OUT/summary.json (every run's measurements and findings, each property's verdict, the guide's
variability claim and every statistic's engine verdict per pair), OUT/report.md and PNG plots.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...fileio import atomic_write_text, write_json
from ..engine import BETTER, Design, compare_fixed, describe
from ..runs import Profile, RunTrace
from ..statistics import STATISTICS, measurements, statistic_values, variability_claims
from ..verdicts import RUN_PROPERTIES, findings_text, run_findings
from .figures import plot_grad_norms, plot_losses, plot_noise_by_config, plot_posterior
from .tables import property_verdicts, verdict_table

SCHEMA = 2  # summary.json's layout; bump when a field changes meaning


def summarize(traces: dict[str, list[RunTrace]], profile: Profile, ground_truth: bool,
              reference: str | None = None, pairs: list[tuple[str, str]] | None = None) -> dict:
    """``pairs``: (candidate, reference) comparisons; default: every config against the first."""
    names = list(traces)
    reference = reference or names[0]
    pairs = pairs or [(c, reference) for c in names if c != reference]
    summary: dict = {"schema": SCHEMA, "kind": "configs", "profile": profile.name,
                     "steps": profile.steps, "ground_truth": ground_truth, "configs": {},
                     "comparisons": [], "pairs": []}
    for name, runs in traces.items():
        per_run = [{**measurements(r, profile),
                    "findings": findings_text(run_findings(r, ground_truth))} for r in runs]
        summary["configs"][name] = {"runs": per_run, "verdicts": property_verdicts(per_run)}
    for candidate, ref in pairs:
        for row in variability_claims(traces[candidate], traces[ref], profile).values():
            summary["comparisons"].append({
                "candidate": candidate, "reference": ref, "claim": claim_line(candidate, ref, row),
                "supported": row["verdict"] == BETTER, **row})
        # every statistic, neither config the change under test: two-sided, one Holm family
        rows = compare_fixed(statistic_values(traces[ref], profile),
                             statistic_values(traces[candidate], profile),
                             [r.seed for r in traces[candidate]], STATISTICS, two_sided=True,
                             stop_on_worse=False)
        summary["pairs"].append({"candidate": candidate, "reference": ref,
                                 "statistics": list(rows.values())})
    return summary



def claim_line(candidate: str, reference: str, row: dict) -> str:
    """The claim and its verdict in one line (engine.describe adds the figures)."""
    word = "supported" if row["verdict"] == BETTER else "NOT supported"
    return (f"claim '{candidate} has lower {row['label']} than {reference}' is {word}; "
            + describe(row))


def write_report(traces, profile: Profile, out: Path, data_name: str, ground_truth: bool,
                 pairs: list[tuple[str, str]] | None = None) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    summary = summarize(traces, profile, ground_truth, pairs=pairs)
    summary["data"] = data_name
    plot_losses(traces, out / "loss_curves.png")
    plot_grad_norms(traces, out / "grad_norms.png")
    plot_posterior(summary, out / "posterior.png")
    plot_noise_by_config(summary, out / "noise_by_config.png")
    write_json(out / "summary.json", summary)
    atomic_write_text(out / "report.md", render_markdown(summary))
    return summary


def render_markdown(summary: dict) -> str:
    lines = [f"# Stability comparison on {summary['data']}", "",
             f"Profile `{summary['profile']}`, {summary['steps']} optimizer steps per run, "
             "paired seeds; both readings of each claim are one Holm family (one-sided, "
             f"alpha {Design().alpha}).", "", "## Claims", ""]
    lines += [f"* {c['claim']}" for c in summary["comparisons"]]
    for pair in summary["pairs"]:
        lines += ["", f"## Every statistic: `{pair['candidate']}` against `{pair['reference']}`",
                  "", "Two-sided, one Holm family over the statistics; the change is "
                  f"`{pair['candidate']}` against `{pair['reference']}` with its 95% paired CI.",
                  ""]
        lines += verdict_table(pair["statistics"], pair["reference"], pair["candidate"])
    names = list(summary["configs"])
    lines += ["", "## Properties per config", "",
              "| property | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for prop in RUN_PROPERTIES:
        cells = [summary["configs"][n]["verdicts"][prop] for n in names]
        lines.append(f"| {prop} | " + " | ".join(
            "holds" if c == "holds" else f"**{c}**" for c in cells) + " |")
    lines += ["", "## Per config (median over seeds)", "",
              "| config | within-run noise | final probe loss | probe drop | valid AUROC | "
              "grad spike | growth | clipped | active units | KL/dim | MI | shuffle gap | "
              "steps/s |", "|---|" + "---|" * 12]
    for name in names:
        runs = summary["configs"][name]["runs"]

        def med(get, runs=runs):
            return float(np.median([get(r) for r in runs]))

        lines.append(
            f"| {name} | {med(lambda r: r['within_run_noise']):.3g} | "
            f"{med(lambda r: r['final_probe_loss']):.4f} | "
            f"{med(lambda r: r['learning']['relative_drop']):.1%} | "
            f"{med(lambda r: r['learning']['valid_auroc']):.3f} | "
            f"{med(lambda r: r['gradients']['spike_ratio']):.2f} | "
            f"{med(lambda r: r['gradients']['growth']):.2f} | "
            f"{med(lambda r: r['gradients']['clipped_fraction']):.0%} | "
            f"{med(lambda r: r['posterior']['active_fraction']):.0%} | "
            f"{med(lambda r: r['posterior']['kl_per_dim_mean']):.4f} | "
            f"{med(lambda r: r['posterior']['mutual_information']):.3f} | "
            f"{med(lambda r: r['posterior']['shuffle_gap_relative']):+.2%} | "
            f"{med(lambda r: r['steps_per_second']):.1f} |")
    lines += ["", "![loss curves](loss_curves.png)", "", "![gradient norms](grad_norms.png)", "",
              "![posterior](posterior.png)", "", "![within-run noise](noise_by_config.png)", ""]
    return "\n".join(lines)

