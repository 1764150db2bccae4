"""`seqsetvae check-data`: validate a dataset before training on it.

Exit codes: 0 no errors (warnings are listed), 1 errors found, 2 unusable arguments.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

from ..validation import CHECK_DOCS, validate_dataset

ARGS_ERROR, DATA_ERROR = 2, 1


def register(sub) -> None:
    from ..cli import add_data_source_flags, flag

    p = sub.add_parser("check-data", help="validate a dataset (DESIGN.md section 8)",
                       epilog=checks_epilog(), formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_source_flags(p)
    flag(p, "--report", type=Path, help="also write the findings as JSON here")
    flag(p, "--min_sets", type=int, default=1, help="warn below this many sets per patient")
    flag(p, "--max_sets", type=int, default=2000, help="warn above this many sets per patient")
    flag(p, "--max_set_size", type=int, default=256, help="warn above this many events per set")
    p.set_defaults(func=cmd_check_data)


def checks_epilog() -> str:
    """The checks in the order they run, each with what it catches and its severity."""
    lines = ["checks (in the order they run):"]
    for name, (what, severity) in CHECK_DOCS.items():
        lines += textwrap.wrap(f"{what} [{severity}]", 96, initial_indent=f"  {name:<17}",
                               subsequent_indent=" " * 19)
    return "\n".join(lines)


def source_from_args(args):
    """A DataSource, or a one-line reason the arguments cannot name a dataset. Missing stats or
    labels files are not argument errors: validation reports them as findings."""
    from .dataset import DataSource, find_beside

    if (args.data_dir is None) == (args.events is None):
        return None, "give exactly one of --data_dir (Layout A) or --events (Layout B)"
    if args.data_dir is not None and not args.data_dir.is_dir():
        return None, f"{args.data_dir}: data directory not found"
    if args.events is not None and not args.events.is_file():
        return None, f"{args.events}: events table not found"
    for name in ("params_map_path", "label_path", "embeddings_path"):
        path = getattr(args, name)
        if path is not None and not path.is_file():
            return None, f"{path}: file not found (--{name})"
    base = args.data_dir if args.data_dir is not None else args.events.parent
    return DataSource(
        data_dir=args.data_dir, events_path=args.events,
        params_map_path=args.params_map_path or find_beside(base, "stats.csv"),
        label_path=args.label_path or find_beside(base, "oc.csv"),
        embeddings_path=args.embeddings_path or find_beside(base, "cached.csv"),
        id_col=args.id_col, label_col=args.label_col, patient_col=args.patient_col,
        split_col=args.split_col), None


def format_finding(f) -> str:
    """One finding on one line; `train` prints its pre-training findings the same way."""
    return f"{f.severity.upper():<7} {f.check:<16} {f.location}: {f.message}"


def cmd_check_data(args) -> int:
    source, problem = source_from_args(args)
    if problem:
        print(f"seqsetvae check-data: error: {problem}", file=sys.stderr)
        return ARGS_ERROR
    report = validate_dataset(source, min_sets=args.min_sets, max_sets=args.max_sets,
                              max_set_size=args.max_set_size)
    for f in report.findings:
        print(format_finding(f))
    print("\n".join(report.summary_lines()))
    print(f"{len(report.errors)} error(s), {len(report.warnings)} warning(s) from "
          f"{len(report.checks)} checks: {'OK' if report.ok else 'NOT OK'}")
    if args.report:
        print(f"report written to {report.to_json(args.report)}")
    return 0 if report.ok else DATA_ERROR
