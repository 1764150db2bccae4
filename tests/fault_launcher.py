"""``python -m tests.fault_launcher SPEC train ...``: the ``seqsetvae`` command line with the
non-finite faults of SPEC (tests/faults.py, e.g. "5=loss") planted, for tests that need a real
process of their own (e.g. to SIGKILL it). Run from the repository root."""

from __future__ import annotations

import sys

from seqsetvae.cli import main
from seqsetvae.train import hooks

from .faults import parse_faults


def launch(argv: list[str]) -> int:
    if not argv:
        print("usage: python -m tests.fault_launcher SPEC COMMAND [ARGS...]", file=sys.stderr)
        return 2
    try:
        faults = parse_faults(argv[0])
    except ValueError as exc:
        print(f"fault_launcher: error: {exc}", file=sys.stderr)
        return 2
    hooks.install(faults)
    return main(argv[1:])


if __name__ == "__main__":
    sys.exit(launch(sys.argv[1:]))
