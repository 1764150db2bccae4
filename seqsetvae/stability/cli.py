"""`seqsetvae compare`: paired-seed stability comparison of configs, as a report."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from ..cli import add_data_source_flags, data_source, flag
from .runs import PROFILES


def cmd_compare(args) -> int:
    from .report import run_configs, write_report  # matplotlib: only when a report is made

    src = data_source(args)
    stats, labels = src.stats(), src.labels()
    train, valid = src.load("train", stats, labels), src.load("valid", stats, labels)
    profile = PROFILES[args.profile]
    if args.steps:
        profile = dataclasses.replace(profile, steps=args.steps)
    torch.set_num_threads(args.threads)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    traces = run_configs(args.configs, train, valid, profile, range(args.seeds), device,
                         args.precision, progress=not args.no_progress)
    summary = write_report(traces, profile, args.out, str(args.data_dir))
    for c in summary["comparisons"]:
        print(c["verdict"])
    print(f"report: {args.out / 'report.md'}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("compare", help="compare configs over paired seeds; writes a report")
    add_data_source_flags(p)
    flag(p, "--configs", nargs="+", default=["baseline", "optimized"],
         help="presets or files; the first is the reference")
    flag(p, "--seeds", type=int, default=6)
    flag(p, "--out", type=Path, required=True)
    flag(p, "--profile", choices=sorted(PROFILES), default="quick")
    flag(p, "--steps", type=int, help="optimizer steps per run (default: the profile's)")
    flag(p, "--device")
    flag(p, "--precision", default="fp32", choices=["fp32", "bf16", "fp16"])
    flag(p, "--threads", type=int, default=1, help="torch intra-op threads")
    flag(p, "--no_progress", action="store_true")
    p.set_defaults(func=cmd_compare)
