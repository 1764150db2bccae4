"""`seqsetvae claims`: the seed guide's advice, claim by claim, on a dataset (stability/claims.py).

Trains the arms each claim's comparisons need, seed block by seed block, until every claim is
decided or the seed cap is reached; the claims and the planted controls are judged by the
comparison engine. Writes OUT/summary.json, OUT/report.md and OUT/forest.png. Runs go through
the run pool: local workers, a Dask scheduler, and a results folder that a rerun reads back.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from ..config import PRECISIONS, ConfigError
from ..stability.claims import (
    CLAIMS,
    CONTROLS,
    DIRECTIONS,
    arms,
    comparisons,
    control_holds,
    headline_ledger,
    judge,
    select,
)
from ..stability.cluster import SCHEDULER_ENV, default_scheduler
from ..stability.engine import Design
from ..stability.pool import RunPool
from ..stability.runs import PROFILES, profile_config
from ..stability.statistics import measurements
from .common import (
    add_data_source_flags,
    data_name,
    data_source,
    default_device,
    flag,
    positive_int,
)
from .compare import at_least_two, chosen_profile

DEFAULT_MAX_SEEDS = 18


def claim_ids(text: str) -> tuple[str, ...]:
    ids = tuple(part.strip() for part in text.split(",") if part.strip())
    if not ids:
        raise argparse.ArgumentTypeError("expected claim ids such as 4,5,6")
    return ids


def ledger_design(seeds: int, max_seeds: int | None) -> Design:
    cap = max_seeds or max(DEFAULT_MAX_SEEDS, seeds)
    if cap < seeds:
        raise ConfigError(f"--max_seeds {cap} is below the first block (--seeds {seeds})")
    return Design(block=seeds, max_seeds=cap, two_sided=True, stop_on_worse=False)


def run_family(comps, pool: RunPool, data, profile, design: Design, precision: str,
               ground_truth: bool, runs: dict) -> dict:
    """Judge one family, training the seeds its undecided comparisons still need; ``runs``
    (arm label -> measurements in seed order) is shared between families and filled here."""
    train, valid = data
    n, pending = design.looks()[0], [c.id for c in comps]
    while True:
        needed = arms([c for c in comps if c.id in pending], ground_truth)
        futures = {}
        for label, arm in needed.items():
            cfg = profile_config(arm.config(), profile, precision=precision)
            have = runs.setdefault(label, [])
            for i in range(len(have), n):
                seed = arm.seed_offset + i
                futures[label, i] = pool.submit((label, seed), cfg, label, train, valid,
                                                profile, seed)
        for (label, i) in sorted(futures, key=lambda k: k[1]):
            runs[label].append(measurements(futures[label, i].result(), profile))
        outcome = judge(comps, runs, list(range(n)), design, ground_truth)
        if outcome["complete"]:
            return outcome
        n, pending = outcome["next_seeds"], outcome["pending"]


def cmd_claims(args) -> int:
    if args.from_summary is not None:
        return cmd_from_summary(args)
    from ..stability.report import write_ledger  # matplotlib loads only when a report is made

    profile = chosen_profile(args)
    design = ledger_design(args.seeds, args.max_seeds)
    chosen = select(comparisons(CLAIMS), args.claims, args.direction)
    src = data_source(args)
    data = src.splits()
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    runs: dict[str, list[dict]] = {}
    with RunPool(args.workers, default_device(args), scheduler=args.scheduler or
                 default_scheduler(), results=args.results,
                 progress=not args.no_progress) as pool:
        claims = run_family(chosen, pool, data, profile, design, args.precision,
                            args.ground_truth, runs)
        controls = None if args.no_controls else run_family(
            comparisons(CONTROLS), pool, data, profile, design, args.precision,
            args.ground_truth, runs)
    summary = write_ledger(args.out, {
        "data": data_name(args), "profile": profile.name, "steps": profile.steps,
        "precision": args.precision, "ground_truth": args.ground_truth,
        "seconds": time.perf_counter() - started, "claims": claims, "controls": controls,
        "selection": {"claims": list(args.claims or ()), "direction": args.direction},
        "controls_hold": {} if controls is None else
        {c.id: control_holds(c, controls["rows"]) for c in CONTROLS}})
    for row in summary["claims"]["rows"]:
        print(f"claim {row['comparison']}: {row['label']}: {row['ledger']}")
    broken = [k for k, ok in summary["controls_hold"].items() if not ok]
    print("controls: " + ("not run (--no_controls)" if controls is None else
                          "every planted claim came out as it must" if not broken else
                          "NOT as planted: " + ", ".join(broken)))
    print(f"report: {args.out / 'report.md'}")
    return 1 if broken else 0


def cmd_from_summary(args) -> int:
    """The headline claims judged again from a published `seqsetvae compare` summary of the two
    presets (its per-run measurements), without training anything."""
    from ..stability.report import write_ledger

    path = args.from_summary
    try:
        summary = json.loads(path.read_text())
        runs = {name: sorted(summary["configs"][name]["runs"], key=lambda r: r["seed"])
                for name in ("optimized", "baseline")}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path}: not a compare summary of the optimized and baseline "
                          f"presets ({type(exc).__name__}: {exc}) (--from_summary)") from None
    seeds = [[r["seed"] for r in side] for side in runs.values()]
    if seeds[0] != seeds[1]:
        raise ConfigError(f"{path}: the presets ran on different seeds {seeds} (--from_summary)")
    ledger = headline_ledger(runs["optimized"], runs["baseline"], summary["ground_truth"])
    out = write_ledger(args.out, {
        "data": summary.get("data", str(path)), "profile": summary["profile"],
        "steps": summary["steps"], "precision": summary.get("precision", "fp32"),
        "ground_truth": summary["ground_truth"], "seconds": 0.0, "from_summary": str(path),
        "claims": ledger, "controls": None, "controls_hold": {}})
    for row in out["claims"]["rows"]:
        print(f"claim {row['comparison']}: {row['label']}: {row['ledger']}")
    print(f"report: {args.out / 'report.md'}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("claims", help="the seed guide's claims one by one, with error rates: "
                       "supported, contradicted, within minimal effect, no detectable change")
    add_data_source_flags(p)
    flag(p, "--out", type=Path, required=True)
    flag(p, "--profile", choices=sorted(PROFILES), default="quick")
    flag(p, "--steps", type=positive_int, help="optimizer steps per run (default: the profile's)")
    flag(p, "--seeds", type=at_least_two, default=6, help="seeds per block (at least 2)")
    flag(p, "--max_seeds", type=at_least_two,
         help=f"add blocks of --seeds seeds to undecided comparisons up to this many "
              f"(default: {DEFAULT_MAX_SEEDS}; equal to --seeds: one block)")
    flag(p, "--ground_truth", action="store_true",
         help="the labels are known to be predictable (built-in synthetic data): validation "
              "AUROC becomes testable")
    flag(p, "--claims", type=claim_ids, metavar="IDS",
         help="judge only these claims, comma-separated (e.g. 4,5,6); default: all. The part "
              "judged is its own Holm family")
    flag(p, "--direction", choices=DIRECTIONS, default="both",
         help="knob claims: switched alone from the baseline, reverted alone from the optimized "
              "config, or both (default)")
    flag(p, "--no_controls", action="store_true",
         help="skip the planted controls, which train arms of their own; without them this "
              "ledger cannot show that it can fail")
    flag(p, "--device")
    flag(p, "--precision", default="fp32", choices=PRECISIONS)
    flag(p, "--workers", type=positive_int, help="worker processes (default: 2 on CPU, 1 on CUDA)")
    flag(p, "--threads", type=positive_int, default=1, help="torch intra-op threads")
    flag(p, "--scheduler", metavar="ADDRESS",
         help=f"send the runs to this Dask scheduler (default: ${SCHEDULER_ENV}; unset: local "
              "worker processes)")
    flag(p, "--results", type=Path, metavar="DIR",
         help="keep every finished run in DIR; a rerun reads them back")
    flag(p, "--no_progress", action="store_true")
    flag(p, "--from_summary", type=Path, metavar="FILE",
         help="judge the headline claims (1-3) again from a `seqsetvae compare` summary.json of "
              "the optimized and baseline presets, training nothing")
    p.set_defaults(func=cmd_claims)

