"""`seqsetvae compare`: paired-seed stability comparison of configs, as a report; with
``--against REF``, the same configs on the working tree and on REF, seed by seed.

For ``--against``, everything that can be refused is refused before any training: git and the
repository, REF, its entry point, the data and the configs. The user's checkout is never changed;
REF runs from a temporary worktree (see stability/ab/revision.py).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from pathlib import Path

import torch

from ..config import PRECISIONS, ConfigError, load_config
from ..stability.ab import revision
from ..stability.ab.gate import config_changes, gate, statistic_values
from ..stability.ab.sequential import Design
from ..stability.ab.sides import Request, run_ab
from ..stability.ab.speed import SLOWER, UNMEASURED, SpeedDesign, speed_verdict
from ..stability.cluster import SCHEDULER_ENV, default_scheduler
from ..stability.runs import PROFILES, profile_config
from ..stability.variability import MIN_POINTS
from .common import (
    WORSE_ERROR,
    add_data_source_flags,
    data_name,
    data_source,
    default_device,
    flag,
    positive_int,
)

DEFAULT_CONFIGS = ["baseline", "optimized"]  # compare: the first is the reference
DEFAULT_AB_CONFIGS = ["optimized"]  # --against: the config the guide recommends
DEFAULT_MAX_SEEDS = 18  # --against: the seed cap of the sequential design


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


def cmd_compare(args) -> int:
    if args.against is not None:
        for name, value in (("--scheduler", args.scheduler), ("--results", args.results)):
            if value is not None:
                raise ConfigError(f"{name} serves plain compare; --against runs each side "
                                  "from its own checkout on this machine")
        return cmd_against(args)
    # matplotlib loads only when a report is made
    from ..stability.report import run_configs, write_report

    profile = chosen_profile(args)
    src = data_source(args)
    stats, labels = src.stats(), src.labels()
    train, valid = src.load("train", stats, labels), src.load("valid", stats, labels)
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
        print(c["verdict"])
    for name, c in summary["configs"].items():
        broken = {p: v for p, v in c["verdicts"].items() if v != "holds"}
        print(f"{name}: " + ("every property holds" if not broken else
                             "; ".join(f"{p} {v}" for p, v in broken.items())))
    print(f"report: {args.out / 'report.md'}")
    return 0


# -- --against REF ------------------------------------------------------------------------------
def cmd_against(args) -> int:
    if args.matched_lr:
        raise ConfigError("--matched_lr compares configs with each other; it does not combine "
                          "with --against")
    profile = chosen_profile(args)
    design = sequential_design(args)
    if 0 < args.timed_rounds < 3:
        raise ConfigError(f"--timed_rounds {args.timed_rounds}: a speed verdict needs at least "
                          "3 rounds (0 switches it off)")
    speed = SpeedDesign(args.timed_rounds, args.timed_steps) if args.timed_rounds else None
    repo = revision.package_repo()
    commit = revision.resolve(repo, args.against)
    revision.require_entry_point(repo, args.against, commit)
    dirty = revision.uncommitted(repo)
    if dirty:
        print(f"note: the working tree has uncommitted changes ({len(dirty)} path(s)); "
              "comparing it as it is", flush=True)
    request = Request(data=data_request(args), configs=config_specs(args.configs),
                      profile=profile, seeds=tuple(range(design.looks()[0])),
                      precision=args.precision, device=default_device(args))
    workers = args.workers or min(2, os.cpu_count() or 1)
    ref_label = f"{args.against} ({commit[:7]})"

    def next_seeds(runs) -> int | None:
        outcome = gate(*values(runs, request.profile), design)
        return None if outcome["complete"] else outcome["next_seeds"]

    runs, rounds = run_ab(repo, commit, ref_label, request, workers, args.out, next_seeds,
                          speed, progress=not args.no_progress)
    summary = write(args, request, workers, (commit, ref_label), (repo, dirty), runs,
                    gate(*values(runs, request.profile), design),
                    speed_result(rounds, speed))
    print_summary(summary, args.out)
    failed = (summary["worse"] and args.fail_on_worse) or \
        (summary["speed"]["verdict"] == SLOWER and args.fail_on_slower)
    return WORSE_ERROR if failed else 0


def sequential_design(args) -> Design:
    cap = args.max_seeds or max(DEFAULT_MAX_SEEDS, args.seeds)
    if cap < args.seeds:
        raise ConfigError(f"--max_seeds {cap} is below the first block (--seeds {args.seeds})")
    return Design(block=args.seeds, max_seeds=cap)


def values(runs: dict, profile) -> tuple[dict, dict, list[int]]:
    """REF's and the working tree's per-seed statistics per config label, and the seeds."""
    sides = [{name: statistic_values([r.trace for r in side], profile)
              for name, side in runs[key].items()} for key in ("ref", "working_tree")]
    first = next(iter(runs["ref"].values()))
    return sides[0], sides[1], [r.trace.seed for r in first]


def speed_result(rounds: dict | None, speed: SpeedDesign | None) -> dict:
    if speed is None:
        return {"verdict": UNMEASURED, "why": "timed rounds were switched off (--timed_rounds 0)"}
    if rounds is None:
        return {"verdict": UNMEASURED, "why": "REF predates the timed rounds"}
    return speed_verdict(rounds["ref"], rounds["working_tree"], speed)


def data_request(args) -> dict:
    """The data both sides read, as the flags name it, with every path absolute (the workers
    start in their own checkouts)."""
    src = data_source(args)

    def absolute(p):
        return str(Path(p).resolve()) if p is not None else None

    return {"data_dir": absolute(src.data_dir), "events": absolute(src.events_path),
            "params_map_path": absolute(src.params_map_path),
            "label_path": absolute(src.label_path),
            "embeddings_path": absolute(src.embeddings_path), "id_col": src.id_col,
            "label_col": src.label_col, "patient_col": src.patient_col,
            "split_col": src.split_col}


def config_specs(configs: list[str] | None) -> dict[str, str]:
    """label -> preset name or absolute file. Presets stay names, so each side resolves them
    with its own code: an edited preset is part of the change under test."""
    specs = {}
    for c in configs or DEFAULT_AB_CONFIGS:
        load_config(c)  # refuse a bad name or file here, before any checkout or training
        specs[Path(c).stem] = str(Path(c).resolve()) if Path(c).is_file() else c
    if len(specs) != len(configs or DEFAULT_AB_CONFIGS):
        raise ConfigError("--configs: two configs share a name")
    return specs


def write(args, request: Request, workers: int, ref: tuple[str, str], tree: tuple[Path, list],
          runs: dict, outcome: dict, speed: dict) -> dict:
    # matplotlib loads only when a report is made
    from ..stability.ab.report import side_properties, write_ab_report

    (commit, ref_label), (repo, dirty) = ref, tree
    used = outcome["seeds_used"]
    configs, plots = {}, {}
    for name in request.configs:
        ref_runs, tree_runs = runs["ref"][name][:used], runs["working_tree"][name][:used]
        configs[name] = {**outcome["configs"][name],
                         "numerically_identical": all(a.fingerprint == b.fingerprint
                                                      for a, b in zip(ref_runs, tree_runs)),
                         "config_changes": config_changes(ref_runs[0].config,
                                                          tree_runs[0].config),
                         "properties": {
                             "ref": side_properties(ref_runs, args.ground_truth),
                             "working_tree": side_properties(tree_runs, args.ground_truth)}}
        plots[name] = {ref_label: [r.trace for r in ref_runs],
                       "working tree": [r.trace for r in tree_runs]}
    meta = {"kind": "ab", "ref": {"name": args.against, "commit": commit, "label": ref_label},
            "working_tree": {"path": str(repo), "head": revision.head(repo),
                             "uncommitted": dirty},
            "data": data_name(args),
            "profile": request.profile.name, "steps": request.profile.steps,
            "seeds": list(range(used)), "gate": {k: v for k, v in outcome.items()
                                                 if k not in ("configs", "worse")},
            "device": request.device, "precision": request.precision, "workers": workers,
            "ground_truth": args.ground_truth, "speed": speed}
    return write_ab_report(args.out, meta, configs, plots)


def print_summary(summary: dict, out: Path) -> None:
    many = len(summary["configs"]) > 1
    for name, c in summary["configs"].items():
        for s in c["statistics"]:
            where = f"{name}: " if many else ""
            print(f"{where}{s['label']}: {s['verdict']}")
    ref, gate_info = summary["ref"]["name"], summary["gate"]
    speed = summary["speed"]
    print(f"speed: {speed['verdict']}" + (f" (time x{speed['time_ratio']:.3f})"
                                           if "time_ratio" in speed else ""))
    print(f"seeds used: {gate_info['seeds_used']} ({gate_info['stop']})")
    if summary["worse"]:
        print(f"WORSE than {ref} on: " + ", ".join(summary["worse"]))
    elif summary["numerically_identical"]:
        print(f"numerically identical to REF ({ref}): every difference is 0.0")
    else:
        print(f"no statistic is worse than {ref}")
    if summary["working_tree"]["uncommitted"]:
        print("note: the working tree was compared with its uncommitted changes")
    print(f"report: {out / 'report.md'}")


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
         help=f"with --against: exit {WORSE_ERROR} when any gating statistic is worse than REF")
    flag(p, "--fail_on_slower", action="store_true",
         help=f"with --against: exit {WORSE_ERROR} when the working tree is slower than REF")
    flag(p, "--seeds", type=at_least_two, default=6,
         help="paired seeds (at least 2); with --against: the seeds of each block")
    flag(p, "--max_seeds", type=at_least_two,
         help=f"with --against: add blocks of --seeds seeds while a gating statistic is "
              f"undecided, up to this many (default: {DEFAULT_MAX_SEEDS}; equal to --seeds: "
              "one block)")
    flag(p, "--timed_rounds", type=int, default=SpeedDesign.rounds,
         help="with --against: timed rounds per side for the speed verdict (0: none)")
    flag(p, "--timed_steps", type=positive_int, default=SpeedDesign.steps,
         help="with --against: optimizer steps per timed round")
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
    flag(p, "--workers", type=positive_int, help="worker processes (default: 2 on CPU, 1 on CUDA; "
         "with --against: 2, one per side)")
    flag(p, "--threads", type=positive_int, default=1, help="torch intra-op threads")
    flag(p, "--scheduler", metavar="ADDRESS",
         help=f"send the runs to this Dask scheduler, e.g. tcp://host:8786 (default: "
              f"${SCHEDULER_ENV}; unset: local worker processes)")
    flag(p, "--results", type=Path, metavar="DIR",
         help="keep every finished run in DIR; a rerun reads them back and trains only the "
              "missing runs")
    flag(p, "--no_progress", action="store_true")
    p.set_defaults(func=cmd_compare)
