"""`seqsetvae gate REF`: is the working tree less stable (or slower) than REF?

The same configs run on the working tree and on REF (a git revision of this repository), on the
same data, profile and seeds; the comparison engine (stability/engine.py) decides statistic by
statistic, adding blocks of seeds while a gating statistic is undecided. Everything that can be
refused is refused before any training: git and the repository, REF, its entry point, the data
and the configs. The user's checkout is never changed; REF runs from a temporary worktree
(stability/ab/revision.py). Both sides' runs train through the pool of `seqsetvae compare`
(stability/ab/sides.py), so ``--results DIR`` keeps them and a rerun trains only the missing.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..config import PRECISIONS, ConfigError, load_config
from ..data import DataSource
from ..stability.ab import revision
from ..stability.ab.sides import Request, run_ab
from ..stability.ab.speed import SpeedDesign, speed_verdict
from ..stability.engine import UNMEASURED, WORSE, Design, compare
from ..stability.runs import PROFILES
from ..stability.statistics import STATISTICS, statistic_values
from .common import (
    WORSE_ERROR,
    add_data_source_flags,
    data_name,
    data_source,
    default_device,
    flag,
    positive_int,
)
from .compare import at_least_two, chosen_profile

DEFAULT_CONFIGS = ["optimized"]  # the config the guide recommends
DEFAULT_MAX_SEEDS = 18  # the seed cap of the sequential design


def cmd_gate(args) -> int:
    profile = chosen_profile(args)
    design = sequential_design(args)
    if 0 < args.timed_rounds < 3:
        raise ConfigError(f"--timed_rounds {args.timed_rounds}: a speed verdict needs at least "
                          "3 rounds (0 switches it off)")
    speed = SpeedDesign(args.timed_rounds, args.timed_steps) if args.timed_rounds else None
    repo = revision.package_repo()
    commit = revision.resolve(repo, args.ref)
    revision.require_entry_point(repo, args.ref, commit)
    dirty = revision.uncommitted(repo)
    if dirty:
        print(f"note: the working tree has uncommitted changes ({len(dirty)} path(s)); "
              "comparing it as it is", flush=True)
    src = data_source(args)
    request = Request(data=data_request(src), configs=config_specs(args.configs),
                      profile=profile, seeds=tuple(range(design.looks()[0])),
                      precision=args.precision, device=default_device(args))
    split = src.splits()  # the working tree's runs train on it; it keys both sides' runs
    workers = args.workers or min(2, os.cpu_count() or 1)
    ref_label = f"{args.ref} ({commit[:7]})"

    def verdicts(runs) -> dict:
        return compare(*values(runs, request.profile), design, STATISTICS)

    def next_seeds(runs) -> int | None:
        outcome = verdicts(runs)
        return None if outcome["complete"] else outcome["next_seeds"]

    runs, rounds = run_ab(repo, commit, ref_label, request, split, workers, args.out,
                          next_seeds, speed, progress=not args.no_progress,
                          results=args.results)
    summary = write(args, request, workers, (commit, ref_label), (repo, dirty), runs,
                    verdicts(runs), speed_result(rounds, speed))
    print_summary(summary, args.out)
    failed = (summary["worse"] and args.fail_on_worse) or \
        (summary["speed"]["verdict"] == WORSE and args.fail_on_slower)
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


def data_request(src: DataSource) -> dict:
    """The data the workers read (REF's runs, both sides' timed rounds), as the flags name it,
    with every path absolute (they start in their own checkouts)."""

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
    for c in configs or DEFAULT_CONFIGS:
        load_config(c)  # refuse a bad name or file here, before any checkout or training
        specs[Path(c).stem] = str(Path(c).resolve()) if Path(c).is_file() else c
    if len(specs) != len(configs or DEFAULT_CONFIGS):
        raise ConfigError("--configs: two configs share a name")
    return specs


def config_changes(ref: dict, tree: dict) -> list[dict]:
    """Resolved config fields that differ between the sides (a preset edited by the change)."""
    return [{"field": k, "ref": ref.get(k), "tree": tree.get(k)}
            for k in sorted(set(ref) | set(tree)) if ref.get(k) != tree.get(k)]


def write(args, request: Request, workers: int, ref: tuple[str, str], tree: tuple[Path, list],
          runs: dict, outcome: dict, speed: dict) -> dict:
    # matplotlib loads only when a report is made
    from ..stability.report import side_properties, write_ab_report

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
    meta = {"kind": "ab", "ref": {"name": args.ref, "commit": commit, "label": ref_label},
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
    p = sub.add_parser("gate", help="is the working tree less stable or slower than REF? "
                       "(paired seeds, sequential blocks; writes a pull-request report)")
    p.add_argument("ref", metavar="REF", help="a git revision of this repository (e.g. main)")
    add_data_source_flags(p)
    flag(p, "--configs", nargs="+", help="presets or files run on both sides (default: "
         f"{' '.join(DEFAULT_CONFIGS)})")
    flag(p, "--fail_on_worse", action="store_true",
         help=f"exit {WORSE_ERROR} when any gating statistic is worse than REF")
    flag(p, "--fail_on_slower", action="store_true",
         help=f"exit {WORSE_ERROR} when the working tree is slower than REF")
    flag(p, "--seeds", type=at_least_two, default=6, help="seeds per block (at least 2)")
    flag(p, "--max_seeds", type=at_least_two,
         help=f"add blocks of --seeds seeds while a gating statistic is undecided, up to this "
              f"many (default: {DEFAULT_MAX_SEEDS}; equal to --seeds: one block)")
    flag(p, "--timed_rounds", type=int, default=SpeedDesign.rounds,
         help="timed rounds per side for the speed verdict (0: none)")
    flag(p, "--timed_steps", type=positive_int, default=SpeedDesign.steps,
         help="optimizer steps per timed round")
    flag(p, "--out", type=Path, required=True)
    flag(p, "--profile", choices=sorted(PROFILES), default="quick")
    flag(p, "--steps", type=positive_int, help="optimizer steps per run (default: the profile's)")
    flag(p, "--ground_truth", action="store_true",
         help="the labels are known to be predictable (built-in synthetic data): a run must "
              "reach the validation AUROC of the learning criterion")
    flag(p, "--device")
    flag(p, "--precision", default="fp32", choices=PRECISIONS)
    flag(p, "--workers", type=positive_int, help="worker processes (default: 2, one per side)")
    flag(p, "--results", type=Path, metavar="DIR",
         help="keep every finished run of both sides in DIR; a rerun reads them back and trains "
              "only the missing runs")
    flag(p, "--no_progress", action="store_true")
    p.set_defaults(func=cmd_gate)

