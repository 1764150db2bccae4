"""`seqsetvae compare`: paired-seed stability comparison of configs, as a report. Code
versions are compared by `seqsetvae gate REF` (cli/gate.py); both decide through the one
comparison engine (stability/engine.py).
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import torch

from ..config import PRECISIONS, ConfigError
from ..stability.cluster import SCHEDULER_ENV, default_scheduler
from ..stability.pool import RunPool
from ..stability.runs import PROFILES, Profile, RunTrace, profile_config
from ..stability.variability import MIN_POINTS
from .common import (
    add_data_source_flags,
    data_name,
    data_source,
    default_device,
    flag,
    positive_int,
)

DEFAULT_CONFIGS = ["baseline", "optimized"]  # the first is the reference


def at_least_two(text: str) -> int:
    """argparse type of --seeds: a paired comparison needs two seeds at the very least."""
    value = positive_int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"a paired comparison needs at least 2 seeds, got {value}")
    return value


def chosen_profile(args):
    profile = PROFILES[args.profile]
    if args.steps:
        least = profile.warmup_steps + MIN_POINTS
        if args.steps < least:
            raise ConfigError(f"--steps {args.steps}: the {args.profile} profile warms up for "
                              f"{profile.warmup_steps} steps and the noise statistic needs "
                              f"{MIN_POINTS} more; use at least {least}")
        profile = dataclasses.replace(profile, steps=args.steps)
    return profile


def run_configs(configs: dict, train, valid, profile: Profile, seeds, device="cpu",
                progress=True, workers: int | None = None, scheduler: str | None = None,
                results: Path | None = None) -> dict[str, list[RunTrace]]:
    """``configs``: label -> Config (already at the profile's sizes and precision);
    ``scheduler``: a Dask scheduler's address instead of local workers; ``results``: a folder
    that keeps finished runs, so a rerun trains only those missing."""
    with RunPool(workers, device, scheduler=scheduler, results=results,
                 progress=progress) as pool:
        futures = {(label, seed): pool.submit((label, seed), cfg, label, train, valid, profile,
                                              seed)
                   for label, cfg in configs.items() for seed in seeds}
        return {label: [futures[label, seed].result() for seed in seeds] for label in configs}


def cmd_compare(args) -> int:
    if args.against is not None:
        raise ConfigError(f"code versions are compared by `seqsetvae gate {args.against}` "
                          "(it takes the same data and config flags); compare compares configs")
    # matplotlib loads only when a report is made
    from ..stability.report import write_report

    profile = chosen_profile(args)
    src = data_source(args)
    train, valid = src.splits()
    torch.set_num_threads(args.threads)
    device = default_device(args)
    configs = {Path(c).stem: profile_config(c, profile, precision=args.precision)
               for c in args.configs or DEFAULT_CONFIGS}
    reference = next(iter(configs))
    pairs = [(name, reference) for name in configs if name != reference]
    if args.matched_lr:  # each candidate again at the reference's learning rate
        ref_lr = configs[reference].optim.lr
        for name in list(configs)[1:]:
            label = f"{name}@lr={ref_lr:g}"
            configs[label] = configs[name].replace(lr=ref_lr)
            pairs.append((label, reference))
    traces = run_configs(configs, train, valid, profile, range(args.seeds), device,
                         progress=not args.no_progress, workers=args.workers,
                         scheduler=args.scheduler or default_scheduler(), results=args.results)
    summary = write_report(traces, profile, args.out, data_name(args), args.ground_truth, pairs)
    for c in summary["comparisons"]:
        print(c["claim"])
    for name, c in summary["configs"].items():
        broken = {p: v for p, v in c["verdicts"].items() if v != "holds"}
        print(f"{name}: " + ("every property holds" if not broken else
                             "; ".join(f"{p} {v}" for p, v in broken.items())))
    print(f"report: {args.out / 'report.md'}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("compare", help="compare configs over paired seeds; writes a report")
    add_data_source_flags(p)
    flag(p, "--configs", nargs="+",
         help=f"presets or files; the first is the reference (default: "
              f"{' '.join(DEFAULT_CONFIGS)})")
    flag(p, "--seeds", type=at_least_two, default=6, help="paired seeds (at least 2)")
    flag(p, "--against", metavar="REF", help=argparse.SUPPRESS)  # moved: `seqsetvae gate REF`
    flag(p, "--out", type=Path, required=True)
    flag(p, "--profile", choices=sorted(PROFILES), default="quick")
    flag(p, "--steps", type=positive_int, help="optimizer steps per run (default: the profile's)")
    flag(p, "--matched_lr", action="store_true",
         help="also run each candidate at the reference's learning rate")
    flag(p, "--ground_truth", action="store_true",
         help="the labels are known to be predictable (built-in synthetic data): a run must "
              "reach the validation AUROC of the learning criterion")
    flag(p, "--device")
    flag(p, "--precision", default="fp32", choices=PRECISIONS)
    flag(p, "--workers", type=positive_int, help="worker processes (default: 2 on CPU, 1 on "
         "CUDA)")
    flag(p, "--threads", type=positive_int, default=1, help="torch intra-op threads")
    flag(p, "--scheduler", metavar="ADDRESS",
         help=f"send the runs to this Dask scheduler, e.g. tcp://host:8786 (default: "
              f"${SCHEDULER_ENV}; unset: local worker processes)")
    flag(p, "--results", type=Path, metavar="DIR",
         help="keep every finished run in DIR; a rerun reads them back and trains only the "
              "missing runs")
    flag(p, "--no_progress", action="store_true")
    p.set_defaults(func=cmd_compare)
