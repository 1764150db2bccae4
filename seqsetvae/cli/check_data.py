"""`seqsetvae check-data`: validate a dataset before training on it.

Exit codes: 0 no errors (warnings are listed), 1 errors found, 2 unusable arguments.
"""

from __future__ import annotations

import argparse
import textwrap
from pathlib import Path

from ..validation import CHECK_DOCS, validate_dataset
from .common import DATA_ERROR, add_data_source_flags, data_source, flag, format_finding


def register(sub) -> None:
    p = sub.add_parser("check-data", help="validate a dataset before training on it",
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


def cmd_check_data(args) -> int:
    source = data_source(args, require_side_files=False)
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
