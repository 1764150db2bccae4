"""Options shared by the suites, registered once so any combination of stability_suite,
data_checks and benchmarks runs in one pytest call, and one ``--data-dir`` reaches every suite
that reads data. Each suite's conftest adds only its own options and reads defaults where a
shared option is left unset."""

from __future__ import annotations

from pathlib import Path

from seqsetvae.config import PRECISIONS


def pytest_addoption(parser):
    g = parser.getgroup("seqsetvae", "options shared by the suites")
    g.addoption("--data-dir", type=Path, default=None,
                help="your own Layout A dataset instead of the built-ins (stability_suite, "
                     "data_checks)")
    g.addoption("--device", default=None,
                help="cpu or cuda (stability_suite default cpu; benchmarks: cuda when visible)")
    g.addoption("--precision", default=None, choices=PRECISIONS,
                help="autocast precision (default fp32; benchmarks also read "
                     "SEQSETVAE_BENCH_PRECISION)")
