"""The report's PNG plots: probe-loss curves with seed bands, gradient norms, posterior health,
within-run noise per config, paired per-seed statistics, and the claims ledger's forest plot.
Each takes what it draws and a path, and writes the file atomically."""

from __future__ import annotations

import math
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..engine import BETTER, IDENTICAL, SAME, UNDECIDED, UNMEASURED, WITHIN, WORSE  # noqa: E402
from ..statistics import BY_KEY  # noqa: E402


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

VERDICT_COLOURS = {WORSE: "tab:red", BETTER: "tab:green", IDENTICAL: "0.4", SAME: "black",
                   WITHIN: "0.3", UNDECIDED: "0.5", UNMEASURED: "0.6"}

def plot_paired(statistics: list[dict], ref_label: str, path: Path) -> None:
    """One panel per statistic: each seed's value on REF joined to its value on the working
    tree, so a change that every seed agrees on is visible at a glance."""
    cols = 4
    rows = math.ceil(len(statistics) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), squeeze=False)
    for ax, s in zip(axes.ravel(), statistics):
        values = np.array([s["reference_values"], s["candidate_values"]], float)
        ax.plot([0, 1], values, color="0.5", lw=0.8, marker="o", ms=3)
        ax.set_xticks([0, 1], [ref_label, "working tree"], fontsize=7)
        ax.set_xlim(-0.3, 1.3)
        ax.set_title(f"{s['label']}\n{s['verdict']}", fontsize=8,
                     color=VERDICT_COLOURS[s["verdict"]])
        ax.tick_params(axis="y", labelsize=7)
        ax.ticklabel_format(axis="y", useOffset=False)
    for ax in axes.ravel()[len(statistics):]:
        ax.axis("off")
    fig.suptitle("Per-seed statistics, REF -> working tree (one line per seed)")
    save_figure(fig, path)

LEDGER_COLOURS = {"supported": "tab:green", "contradicted": "tab:red",
                  "within minimal effect": "tab:blue", "no detectable change": "0.45",
                  "not testable at this profile": "0.75"}

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

def save_figure(fig, path: Path) -> None:
    fig.tight_layout()
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)

