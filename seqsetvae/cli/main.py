"""The ``seqsetvae`` command line.

This module parses and dispatches; each subcommand lives in a module of its own beside it.

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
import os
import sys
from pathlib import Path

from ..errors import HarnessError
from . import check_data, claims, compare, config, data, diagnose, gate, train
from .common import ARGS_ERROR, fail

# each has register(subparsers)
COMMANDS = (config, data, train, diagnose, compare, gate, claims, check_data)


class Parser(argparse.ArgumentParser):
    """An argument error is one line naming the flag (argparse would print the usage first)."""

    def error(self, message: str):
        self.exit(ARGS_ERROR, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="seqsetvae", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    problem = output_problem(args)
    if problem:
        return fail(args, problem, ARGS_ERROR)
    try:
        return int(args.func(args) or 0)
    except HarnessError as exc:  # every expected error carries its exit status
        return fail(args, exc, exc.exit_code)
    except OSError as exc:  # a file that cannot be read or written, named by the OS error
        return fail(args, os_error_line(exc), ARGS_ERROR)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


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
