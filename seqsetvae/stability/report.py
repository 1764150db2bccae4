"""`seqsetvae compare`: the stability suite's machinery as a report a person reads.

Writes OUT/summary.json (every statistic, p-value, CI and each property's verdict), OUT/report.md
and PNG plots: probe-loss curves with seed bands, pre-clip gradient norms, posterior health per
seed, and (with a matched-learning-rate run) how much of the variance effect is the learning rate.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..fileio import atomic_write_text, write_json  # noqa: E402
from .engine import BETTER, Design, describe  # noqa: E402
from .runs import Profile, RunTrace  # noqa: E402
from .statistics import BY_KEY, measurements, variability_claims  # noqa: E402
from .verdicts import RUN_PROPERTIES, run_findings  # noqa: E402


def property_verdicts(runs: list[dict]) -> dict[str, str]:
    """Per property: 'holds' or 'VIOLATED in seeds [..]: first finding'."""
    verdicts = {}
    for prop in RUN_PROPERTIES:
        bad = [(r["seed"], r["findings"][prop]) for r in runs if r["findings"][prop]]
        verdicts[prop] = "holds" if not bad else \
            f"VIOLATED in seeds {[s for s, _ in bad]}: {bad[0][1][0]}"
    return verdicts


def summarize(traces: dict[str, list[RunTrace]], profile: Profile, ground_truth: bool,
              reference: str | None = None, pairs: list[tuple[str, str]] | None = None) -> dict:
    """``pairs``: (candidate, reference) comparisons; default: every config against the first."""
    names = list(traces)
    reference = reference or names[0]
    pairs = pairs or [(c, reference) for c in names if c != reference]
    summary: dict = {"profile": profile.name, "steps": profile.steps,
                     "ground_truth": ground_truth, "configs": {}, "comparisons": []}
    for name, runs in traces.items():
        per_run = [{**measurements(r, profile), "findings": run_findings(r, ground_truth)}
                   for r in runs]
        summary["configs"][name] = {"runs": per_run, "verdicts": property_verdicts(per_run)}
    for candidate, ref in pairs:
        for row in variability_claims(traces[candidate], traces[ref], profile).values():
            summary["comparisons"].append({
                "candidate": candidate, "reference": ref, "claim": claim_line(candidate, ref, row),
                "supported": row["verdict"] == BETTER, **row})
    return summary


def claim_line(candidate: str, reference: str, row: dict) -> str:
    """The claim and its verdict in one line (engine.describe adds the figures)."""
    word = "supported" if row["verdict"] == BETTER else "NOT supported"
    return (f"claim '{candidate} has lower {row['label']} than {reference}' is {word}; "
            + describe(row))


def plot_losses(traces, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, runs in traces.items():
        curves = np.array([r.probe for r in runs if len(r.probe) == len(runs[0].probe)])
        steps = np.arange(curves.shape[1])
        line, = ax.plot(steps, curves.mean(0), label=f"{name} (mean of {len(curves)} seeds)")
        ax.fill_between(steps, curves.min(0), curves.max(0), color=line.get_color(), alpha=0.2)
    ax.set(xlabel="optimizer step", ylabel="probe loss (recon + BCE)",
           title="Loss on fixed probe batches (band: min-max over seeds)")
    ax.legend()
    save_figure(fig, path)


def plot_grad_norms(traces, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, runs in traces.items():
        color = None  # the first seed picks the config's colour, the others reuse it
        for r in runs:
            line, = ax.plot(r.series("step"), r.series("grad_norm"), alpha=0.5, lw=0.8,
                            color=color, label=None if color else name)
            color = line.get_color()
        clip = runs[0].gradients.clip_value
        if clip > 0:
            ax.axhline(clip, ls="--", lw=1, color=color)
    ax.set(xlabel="optimizer step", ylabel="pre-clip global L2 norm", yscale="log",
           title="Gradient norms before clipping (dashed: clip value)")
    ax.legend()
    save_figure(fig, path)


def plot_posterior(summary: dict, path: Path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    names = list(summary["configs"])
    for ax, key, label in ((axes[0], "active_fraction", "active units (fraction)"),
                           (axes[1], "kl_per_dim_mean", "mean KL per dim (nats)")):
        values = [[r["posterior"][key] for r in summary["configs"][n]["runs"]] for n in names]
        ax.boxplot(values, tick_labels=names)
        ax.set(title=label)
    fig.suptitle("Posterior health per seed")
    save_figure(fig, path)


def plot_noise_by_config(summary: dict, path: Path) -> None:
    """Within-run noise per seed and config, seeds joined by lines: with a matched-learning-rate
    config beside the others, the reader sees how much of a difference the learning rate makes."""
    names = list(summary["configs"])
    noise = np.array([[r["within_run_noise"] for r in summary["configs"][n]["runs"]]
                      for n in names])
    fig, ax = plt.subplots(figsize=(1.8 * len(names) + 2, 4))
    x = np.arange(len(names))
    for seed_values in noise.T:
        ax.plot(x, seed_values, color="0.7", lw=0.8, zorder=1)
    ax.scatter(np.repeat(x, noise.shape[1]), noise.ravel(), zorder=2)
    ax.set_xticks(x, names)
    ax.set(yscale="log", ylabel="within-run noise (SD of detrended probe-loss changes)",
           title="Within-run noise per seed (lines join a seed across configs)")
    save_figure(fig, path)


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


# -- the claims ledger ----------------------------------------------------------------------------
SCHEMA = 2  # summary.json's layout; bump when a field changes meaning
LEDGER_COLOURS = {"supported": "tab:green", "contradicted": "tab:red",
                  "within minimal effect": "tab:blue", "no detectable change": "0.45",
                  "not testable at this profile": "0.75"}


def write_ledger(out: Path, ledger: dict) -> dict:
    """OUT/summary.json, OUT/report.md and OUT/forest.png of `seqsetvae claims`."""
    out.mkdir(parents=True, exist_ok=True)
    summary = {"schema": SCHEMA, "kind": "claims", **ledger}
    controls = (summary["controls"] or {}).get("rows", [])
    plot_forest(summary["claims"]["rows"] + controls, out / "forest.png")
    write_json(out / "summary.json", summary)
    atomic_write_text(out / "report.md", render_ledger(summary))
    return summary


def in_minimal_effects(row: dict, value: float) -> float:
    """A change in the claim's predicted direction, in multiples of the statistic's minimal
    effect (1: exactly the minimal effect; negative: the other way), so every statistic shares
    one axis."""
    stat = BY_KEY[row["statistic"]]
    unit = abs(stat.worse_by(stat.min_effect))
    toward = -stat.worse_by(value) if row["direction"] == "better" else stat.worse_by(value)
    return toward / unit


def plot_forest(rows: list[dict], path: Path) -> None:
    """One line per claim and statistic: the effect and its 95% interval on the shared axis of
    minimal effects, coloured by the ledger's verdict."""
    shown = [r for r in rows if r.get("measured") and not r.get("identical")]
    fig, ax = plt.subplots(figsize=(8, 0.32 * max(len(shown), 4) + 1.2))
    for y, r in enumerate(reversed(shown)):
        ends = sorted(in_minimal_effects(r, v) for v in (r["ci_low"], r["ci_high"]))
        ends = np.clip(ends, -20, 20)  # a diverged run would flatten every other line
        colour = LEDGER_COLOURS[r["ledger"]]
        ax.plot(ends, [y, y], color=colour, lw=2)
        ax.plot(np.clip(in_minimal_effects(r, r["effect"]), -20, 20), y, "o", color=colour)
    ax.set_yticks(range(len(shown)), [f"{r['comparison']}: {r['label']}"
                                      for r in reversed(shown)], fontsize=7)
    for x, style in ((0, "-"), (1, ":"), (-1, ":")):
        ax.axvline(x, color="0.3", lw=0.8, ls=style)
    for word, colour in LEDGER_COLOURS.items():
        ax.plot([], [], color=colour, lw=2, label=word)
    ax.legend(fontsize=7, loc="lower right")
    ax.set(xlabel="change in the claimed direction, in minimal effects (dotted: +-1)",
           title="The guide's claims: effect and 95% interval per statistic")
    save_figure(fig, path)


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


def render_ledger(summary: dict, forest: str = "forest.png") -> str:
    claims, controls = summary["claims"], summary["controls"]
    design = claims.get("design") or {}
    counts = {w: sum(r["ledger"] == w for r in claims["rows"]) for w in LEDGER_COLOURS}
    broken = [k for k, ok in summary["controls_hold"].items() if not ok]
    if controls is None:
        planted_line = (f"Judged from `{summary.get('from_summary')}`, a comparison of the two "
                        "presets: the headline claims only; no planted controls were run.")
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


def save_figure(fig, path: Path) -> None:
    fig.tight_layout()
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)
