"""`seqsetvae compare --against REF`: from flags to a finished A/B report.

Everything that can be refused is refused before any training: git and the repository, REF, its
entry point, the data and the configs. The user's checkout is never changed; REF runs from a
temporary worktree (see gitref).
"""

from __future__ import annotations

import os
from pathlib import Path

from ..cli import data_source
from ..config import ConfigError, load_config
from . import gitref
from .ab import Request, run_ab
from .abstats import compare_config
from .cli import DEFAULT_AB_CONFIGS, WORSE_EXIT, chosen_device, chosen_profile
from .verdicts import ALPHA


def cmd_against(args) -> int:
    if args.matched_lr:
        raise ConfigError("--matched_lr compares configs with each other; it does not combine "
                          "with --against")
    profile = chosen_profile(args)
    repo = gitref.package_repo()
    commit = gitref.resolve(repo, args.against)
    gitref.require_entry_point(repo, args.against, commit)
    dirty = gitref.uncommitted(repo)
    if dirty:
        print(f"note: the working tree has uncommitted changes ({len(dirty)} path(s)); "
              "comparing it as it is", flush=True)
    request = Request(data=data_request(args), configs=config_specs(args.configs),
                      profile=profile, seeds=tuple(range(args.seeds)),
                      precision=args.precision, device=chosen_device(args))
    workers = args.workers or min(2, os.cpu_count() or 1)
    ref_label = f"{args.against} ({commit[:7]})"
    runs = run_ab(repo, commit, ref_label, request, workers, args.out,
                         progress=not args.no_progress)
    summary = write(args, request, workers, (commit, ref_label), (repo, dirty), runs)
    print_summary(summary, args.out)
    return WORSE_EXIT if summary["worse"] and args.fail_on_worse else 0


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
          runs: dict) -> dict:
    from .abreport import side_properties, write_ab_report  # matplotlib: only for a report

    (commit, ref_label), (repo, dirty) = ref, tree
    configs, plots = {}, {}
    for name in request.configs:
        ref_runs, tree_runs = runs["ref"][name], runs["working_tree"][name]
        configs[name] = {**compare_config(ref_runs, tree_runs, request.profile, ALPHA),
                         "properties": {
                             "ref": side_properties(ref_runs, args.ground_truth),
                             "working_tree": side_properties(tree_runs, args.ground_truth)}}
        plots[name] = {ref_label: [r.trace for r in ref_runs],
                       "working tree": [r.trace for r in tree_runs]}
    meta = {"kind": "ab", "ref": {"name": args.against, "commit": commit, "label": ref_label},
            "working_tree": {"path": str(repo), "head": gitref.head(repo),
                             "uncommitted": dirty},
            "data": str(args.data_dir if args.data_dir is not None else args.events),
            "profile": request.profile.name, "steps": request.profile.steps,
            "seeds": list(request.seeds), "alpha": ALPHA, "device": request.device,
            "precision": request.precision, "workers": workers,
            "ground_truth": args.ground_truth}
    return write_ab_report(args.out, meta, configs, plots)


def print_summary(summary: dict, out: Path) -> None:
    many = len(summary["configs"]) > 1
    for name, c in summary["configs"].items():
        for s in c["statistics"]:
            where = f"{name}: " if many else ""
            print(f"{where}{s['label']}: {s['verdict']}")
    ref = summary["ref"]["name"]
    if summary["worse"]:
        print(f"WORSE than {ref} on: " + ", ".join(summary["worse"]))
    elif summary["numerically_identical"]:
        print(f"numerically identical to REF ({ref}): every difference is 0.0")
    else:
        print(f"no statistic is worse than {ref}")
    if summary["working_tree"]["uncommitted"]:
        print("note: the working tree was compared with its uncommitted changes")
    print(f"report: {out / 'report.md'}")

