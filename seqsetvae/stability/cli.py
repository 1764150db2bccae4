"""`seqsetvae compare`: paired-seed stability comparison of configs, as a report; with
``--against REF``, the same configs on the working tree and on REF, seed by seed."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import torch

from ..cli import add_data_source_flags, data_source, flag, positive_int
from ..config import ConfigError
from .runs import PROFILES, profile_config
from .variability import MIN_POINTS

DEFAULT_CONFIGS = ["baseline", "optimized"]  # compare: the first is the reference
DEFAULT_AB_CONFIGS = ["optimized"]  # --against: the config the guide recommends
WORSE_EXIT = 1  # --fail_on_worse: some statistic is worse than REF


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


def chosen_device(args) -> str:
    return args.device or ("cuda" if torch.cuda.is_available() else "cpu")


def cmd_compare(args) -> int:
    if args.against is not None:
        from .abcli import cmd_against

        return cmd_against(args)
    from .report import run_configs, write_report  # matplotlib: only when a report is made

    profile = chosen_profile(args)
    src = data_source(args)
    stats, labels = src.stats(), src.labels()
    train, valid = src.load("train", stats, labels), src.load("valid", stats, labels)
    torch.set_num_threads(args.threads)
    device = chosen_device(args)
    configs = {Path(c).stem: profile_config(c, profile, precision=args.precision)
               for c in args.configs or DEFAULT_CONFIGS}
    reference = next(iter(configs))
    pairs = [(name, reference) for name in configs if name != reference]
    if args.matched_lr:  # each candidate again at the reference's learning rate
        ref_lr = configs[reference].get("lr")
        for name in list(configs)[1:]:
            label = f"{name}@lr={ref_lr:g}"
            configs[label] = configs[name].replace(lr=ref_lr)
            pairs.append((label, reference))
    traces = run_configs(configs, train, valid, profile, range(args.seeds), device,
                         progress=not args.no_progress, workers=args.workers)
    data_name = str(args.data_dir if args.data_dir is not None else args.events)
    summary = write_report(traces, profile, args.out, data_name, args.ground_truth, pairs)
    for c in summary["comparisons"]:
        print(c["verdict"])
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
         help="presets or files; the first is the reference (default: "
              f"{' '.join(DEFAULT_CONFIGS)}; with --against: {' '.join(DEFAULT_AB_CONFIGS)})")
    flag(p, "--against", metavar="REF",
         help="compare the working tree with REF (a git revision of this repository) on the "
              "same data, configs, profile and seeds, statistic by statistic")
    flag(p, "--fail_on_worse", action="store_true",
         help=f"with --against: exit {WORSE_EXIT} when any statistic is worse than REF")
    flag(p, "--seeds", type=at_least_two, default=6,
         help="paired seeds (at least 2; the paired test can reach alpha 0.05 from 5)")
    flag(p, "--out", type=Path, required=True)
    flag(p, "--profile", choices=sorted(PROFILES), default="quick")
    flag(p, "--steps", type=positive_int, help="optimizer steps per run (default: the profile's)")
    flag(p, "--matched_lr", action="store_true",
         help="also run each candidate at the reference's learning rate")
    flag(p, "--ground_truth", action="store_true",
         help="the labels are known to be predictable (built-in synthetic data): a run must "
              "reach the validation AUROC of the learning criterion")
    flag(p, "--device")
    flag(p, "--precision", default="fp32", choices=["fp32", "bf16", "fp16"])
    flag(p, "--workers", type=positive_int, help="worker processes (default: 2 on CPU, 1 on CUDA; "
         "with --against: 2, one per side)")
    flag(p, "--threads", type=positive_int, default=1, help="torch intra-op threads")
    flag(p, "--no_progress", action="store_true")
    p.set_defaults(func=cmd_compare)
