"""What every subcommand shares: flag spelling, argument types, the data and config flags and
their resolution, the finding format. A leaf: it imports no subcommand, so each command module
imports it and nothing imports back."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from ..config import Config, apply_overrides, load_config
from ..data import DataError, DataSource
from ..errors import ARGS_ERROR, DATA_ERROR, NONFINITE_ERROR, RUN_ERROR, WORSE_ERROR

__all__ = ["ARGS_ERROR", "DATA_ERROR", "NONFINITE_ERROR", "RUN_ERROR", "WORSE_ERROR"]


def fail(args, message, code: int) -> int:
    """The one-line error every command prints (stderr), naming the command; returns ``code``."""
    print(f"seqsetvae {args.command}: error: {message}", file=sys.stderr)
    return code


def positive_int(text: str) -> int:
    """argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def flag(parser: argparse.ArgumentParser, name: str, *more: str, **kwargs):
    """Add ``--some_name`` and ``--some-name`` as one option (the seed guide uses underscores)."""
    names = {name, name.replace("_", "-"), *more}
    return parser.add_argument(*sorted(names, key=lambda n: (-len(n), n)), **kwargs)


def add_data_source_flags(p: argparse.ArgumentParser) -> None:
    flag(p, "--data_dir", type=Path, help="Layout A directory (or --events)")
    flag(p, "--events", type=Path, help="Layout B long table (parquet or csv) instead of "
         "--data_dir")
    flag(p, "--patient_col", default="patient_id", help="patient id column of --events")
    flag(p, "--split_col", default="split", help="split column of --events")
    flag(p, "--params_map_path", type=Path, help="stats.csv (default: beside the data, then its "
         "parent)")
    flag(p, "--label_path", type=Path, help="oc.csv (default: beside the data, then its parent)")
    flag(p, "--embeddings_path", type=Path, help="cached.csv with fixed variable embeddings")
    flag(p, "--id_col", default="ts_id", help="patient id column of the labels file")
    flag(p, "--label_col", default="in_hospital_mortality", help="label column of the labels file")


def data_source(args, require_side_files: bool = True) -> DataSource:
    """The dataset the data flags name; DataError (exit 2) naming the flag otherwise.

    ``require_side_files=False`` (check-data): a stats or labels file that is neither given nor
    found beside the data is left unset, for the validation to report among its findings."""
    if (args.data_dir is None) == (args.events is None):
        raise DataError("give exactly one of --data_dir (Layout A) or --events (Layout B)")
    if args.events is not None and not args.events.is_file():
        raise DataError(f"{args.events}: events table not found (--events)")
    for name in ("params_map_path", "label_path", "embeddings_path"):
        path = getattr(args, name)
        if path is not None and not path.is_file():
            what = "is a directory, expected a file" if path.is_dir() else "file not found"
            raise DataError(f"{path}: {what} (--{name})")
    return DataSource.resolve(args.data_dir, args.params_map_path, args.label_path,
                              events=args.events, embeddings_path=args.embeddings_path,
                              require_side_files=require_side_files, id_col=args.id_col,
                              label_col=args.label_col, patient_col=args.patient_col,
                              split_col=args.split_col)


def data_name(args) -> str:
    """The data as the user named it, for reports."""
    return str(args.data_dir if args.data_dir is not None else args.events)


def add_config_flags(p: argparse.ArgumentParser, default: str = "optimized") -> None:
    flag(p, "--config", default=default, help="preset name (baseline, optimized, conservative) "
         "or a .toml/.json file")
    flag(p, "--set", action="append", metavar="KEY=VALUE", help="override a config field")


def resolved_config(args) -> Config:
    return apply_overrides(load_config(args.config), args.set or [])


def default_device(args) -> str:
    """--device, else CUDA when this machine has it."""
    return args.device or ("cuda" if torch.cuda.is_available() else "cpu")


def format_finding(f) -> str:
    """One data-check finding on one line: check-data and train's pre-training checks print
    them alike."""
    return f"{f.severity.upper():<7} {f.check:<16} {f.location}: {f.message}"
