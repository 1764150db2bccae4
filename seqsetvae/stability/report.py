"""`seqsetvae compare`: the stability suite's machinery as a report a person reads.

Writes OUT/summary.json (every statistic, p-value, CI and verdict), OUT/report.md and PNG plots:
probe-loss curves with seed bands, pre-clip gradient norms, and latent KL per dimension.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from tqdm.auto import tqdm  # noqa: E402

from ..fileio import atomic_write_text  # noqa: E402
from .runs import Profile, RunTrace, profile_config, traced_run  # noqa: E402
from .variability import compare_paired, step_change_sd  # noqa: E402


def run_configs(configs: list[str], train, valid, profile: Profile, seeds, device="cpu",
                precision="fp32", progress=True) -> dict[str, list[RunTrace]]:
    traces: dict[str, list[RunTrace]] = {}
    jobs = [(c, s) for c in configs for s in seeds]
    for name, seed in tqdm(jobs, desc="runs", unit="run", disable=not progress):
        cfg = profile_config(name, profile, precision=precision)
        traces.setdefault(name, []).append(traced_run(cfg, Path(name).stem, train, valid,
                                                      profile, seed, device))
    return traces


def summarize(traces: dict[str, list[RunTrace]], profile: Profile) -> dict:
    names = list(traces)
    summary: dict = {"profile": profile.name, "steps": profile.steps, "configs": {}}
    for name, runs in traces.items():
        summary["configs"][name] = {
            "variability": [step_change_sd(r.probe, profile.warmup_steps) for r in runs],
            "final_probe_loss": [r.probe[-1] for r in runs],
            "gradients": [r.gradients.to_dict() for r in runs],
            "posterior": [r.posterior.to_dict() for r in runs],
            "contract_problems": [r.contract_problems for r in runs],
        }
    reference = names[0]
    summary["comparisons"] = []
    for candidate in names[1:]:
        seeds = [r.seed for r in traces[candidate]]
        result = compare_paired(summary["configs"][candidate]["variability"],
                                summary["configs"][reference]["variability"], seeds,
                                (candidate, reference))
        summary["comparisons"].append(result.to_dict())
    return summary


def plot_losses(traces, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, runs in traces.items():
        curves = np.array([r.probe for r in runs if len(r.probe) == len(runs[0].probe)])
        steps = np.arange(curves.shape[1])
        mean = curves.mean(0)
        line, = ax.plot(steps, mean, label=f"{name} (mean of {len(curves)} seeds)")
        ax.fill_between(steps, curves.min(0), curves.max(0), color=line.get_color(), alpha=0.2)
    ax.set(xlabel="optimizer step", ylabel="probe loss (recon + BCE)",
           title="Loss on fixed probe batches (band: min-max over seeds)")
    ax.legend()
    _save(fig, path)


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
    _save(fig, path)


def plot_posterior(summary: dict, path: Path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    names = list(summary["configs"])
    for ax, key, label in ((axes[0], "active_fraction", "active units (fraction)"),
                           (axes[1], "kl_per_dim_mean", "mean KL per dim (nats)")):
        values = [[p[key] for p in summary["configs"][n]["posterior"]] for n in names]
        ax.boxplot(values, tick_labels=names)
        ax.set(title=label)
    fig.suptitle("Posterior health per seed")
    _save(fig, path)


def write_report(traces, profile: Profile, out: Path, data_name: str) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    summary = summarize(traces, profile)
    summary["data"] = data_name
    plot_losses(traces, out / "loss_curves.png")
    plot_grad_norms(traces, out / "grad_norms.png")
    plot_posterior(summary, out / "posterior.png")
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2, default=float) + "\n")
    atomic_write_text(out / "report.md", render_markdown(summary))
    return summary


def render_markdown(summary: dict) -> str:
    lines = [f"# Stability comparison on {summary['data']}", "",
             f"Profile `{summary['profile']}`, {summary['steps']} optimizer steps per run.", "",
             "## Verdicts", ""]
    lines += [f"* {c['verdict']}" for c in summary["comparisons"]]
    lines += ["", "## Per config (median over seeds)", "",
              "| config | step-change SD | final probe loss | grad spike ratio | clipped | "
              "active units | KL/dim | MI | shuffle gap |", "|---|---|---|---|---|---|---|---|---|"]
    for name, c in summary["configs"].items():
        med = lambda xs: float(np.median(xs))  # noqa: E731
        lines.append(
            f"| {name} | {med(c['variability']):.3g} | {med(c['final_probe_loss']):.4f} | "
            f"{med([g['spike_ratio'] for g in c['gradients']]):.2f} | "
            f"{med([g['clipped_fraction'] for g in c['gradients']]):.0%} | "
            f"{med([p['active_fraction'] for p in c['posterior']]):.0%} | "
            f"{med([p['kl_per_dim_mean'] for p in c['posterior']]):.4f} | "
            f"{med([p['mutual_information'] for p in c['posterior']]):.3f} | "
            f"{med([p['shuffle_gap_relative'] for p in c['posterior']]):+.2%} |")
    lines += ["", "![loss curves](loss_curves.png)", "", "![gradient norms](grad_norms.png)", "",
              "![posterior](posterior.png)", ""]
    return "\n".join(lines)


def _save(fig, path: Path) -> None:
    fig.tight_layout()
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)


