"""Options and fixtures of the data-check suite (docs/howto/check-a-dataset.md).

    pytest data_checks/ --data-dir DIR [--params-map F] [--labels F] [--embeddings F]
    pytest data_checks/ --events F --labels F --params-map F
    pytest data_checks/                      # the built-in synthetic data and pbcseq

Each dataset is validated once per session; every check is one test, so the pytest summary reads
as the list of problems. Warnings and a summary table per dataset follow the test results.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from seqsetvae.data import DataSource
from seqsetvae.fileio import write_json
from seqsetvae.validation import validate_dataset

REPORTS = pytest.StashKey[dict]()  # dataset name -> ValidationReport, filled as tests run


def pytest_addoption(parser):  # --data-dir (the Layout A directory): the root conftest.py
    g = parser.getgroup("data checks")
    g.addoption("--events", type=Path, help="Layout B long table to check")
    g.addoption("--params-map", type=Path, help="stats.csv (default: beside the data)")
    g.addoption("--labels", type=Path, help="oc.csv (default: beside the data)")
    g.addoption("--embeddings", type=Path, help="cached.csv (optional)")
    g.addoption("--id-col", default="ts_id", help="patient id column of the labels")
    g.addoption("--label-col", default="in_hospital_mortality", help="label column")
    g.addoption("--report", type=Path, help="write all findings as JSON here")


def pytest_configure(config):
    config.stash[REPORTS] = {}


def _user_given(config) -> bool:
    return bool(config.getoption("--data-dir") or config.getoption("--events"))


def pytest_generate_tests(metafunc):
    if "dataset" in metafunc.fixturenames:
        names = ["user"] if _user_given(metafunc.config) else ["synthetic", "pbcseq"]
        metafunc.parametrize("dataset", names, scope="session")


@pytest.fixture(scope="session")
def source(request, dataset, tmp_path_factory) -> DataSource:
    from seqsetvae.data.builtin import SyntheticSpec, write_pbcseq, write_synthetic

    opt = request.config.getoption
    if dataset == "synthetic":
        return DataSource.resolve(write_synthetic(tmp_path_factory.mktemp("data") / "synthetic",
                                                  SyntheticSpec(patients=60)))
    if dataset == "pbcseq":
        return DataSource.resolve(write_pbcseq(tmp_path_factory.mktemp("data") / "pbcseq"))
    try:
        return DataSource.resolve(opt("--data-dir"), opt("--params-map"), opt("--labels"),
                                  events=opt("--events"), embeddings_path=opt("--embeddings"),
                                  id_col=opt("--id-col"), label_col=opt("--label-col"))
    except Exception as exc:  # unusable options: one clear line, not a traceback
        pytest.exit(f"data_checks: cannot locate the dataset: {exc}", returncode=2)


@pytest.fixture(scope="session")
def report(dataset, source, pytestconfig):
    """The dataset's ValidationReport, computed once and shared by every check test."""
    reports = pytestconfig.stash[REPORTS]
    if dataset not in reports:
        reports[dataset] = validate_dataset(source)
    return reports[dataset]


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    tr, reports = terminalreporter, config.stash.get(REPORTS, {})
    for name, rep in reports.items():
        tr.section(f"dataset {name}")
        for line in rep.summary_lines():
            tr.write_line(line)
        for f in rep.warnings:
            tr.write_line(f"WARNING {f.check}: {f.location}: {f.message}")
        tr.write_line(f"{len(rep.errors)} error(s), {len(rep.warnings)} warning(s)")
    out = config.getoption("--report")
    if out and reports:
        path = write_json(out, {k: r.to_dict() for k, r in reports.items()})
        tr.write_line(f"data check report written to {path}")
