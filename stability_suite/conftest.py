"""Options, shared runs and the printed report of the stability suite.

Training runs are expensive, so each (dataset, config, seed) run happens once per session in a
worker process and every test reads the cached trace. Thresholds and verdicts live in
seqsetvae.stability.verdicts; this suite holds the assertions.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import sys
from pathlib import Path

import pytest
import torch
from stability_support import CONTROL_SEEDS, MAIN_CONFIGS, SYNTHETIC, run_config

from seqsetvae.data import DataSource
from seqsetvae.data.builtin import write_pbcseq, write_synthetic
from seqsetvae.errors import HarnessError
from seqsetvae.fileio import write_json
from seqsetvae.stability.cluster import SCHEDULER_ENV, default_scheduler
from seqsetvae.stability.failures import PoolLost
from seqsetvae.stability.pool import RunPool
from seqsetvae.stability.runs import PROFILES

FIGURES = pytest.StashKey[dict]()  # section -> {key: figure}, printed at the end
SELECTED = pytest.StashKey[set]()  # the test modules left after -k and -m
PROGRESS_FILE = pytest.StashKey[object]()  # the terminal's stderr, for the progress bar


def pytest_addoption(parser):  # --data-dir, --device, --precision: the root conftest.py
    g = parser.getgroup("stability")
    g.addoption("--profile", default="quick", choices=sorted(PROFILES))
    g.addoption("--workers", type=int, default=None,
                help="processes for the training runs (default: 2 on CPU, 1 on CUDA)")
    g.addoption("--update-golden", action="store_true", help="regenerate golden values")
    g.addoption("--update-claims", action="store_true",
                help="record the claims' verdicts measured now (stability_suite/"
                     "recorded_claims.json) and print what changed")
    g.addoption("--claims-ledger", default=None, metavar="DIR",
                help="also hold the ledger in DIR/<dataset>/summary.json (seqsetvae claims) to "
                     "its recorded verdicts")
    g.addoption("--stability-report", default=None, help="write the figures to this JSON file")
    g.addoption("--kill-matrix", default=None,
                help="write the fault x property matrix (Markdown) to this file")
    g.addoption("--gate-calibration", default=None, metavar="DIR",
                help="measure the before-merge gate's error rates (long); figures go to DIR")
    g.addoption("--gate-streams", type=int, default=23,
                help="gate calibration: noise-stream edits in the neutral corpus")
    g.addoption("--gate-max-seeds", type=int, default=None,
                help="gate calibration: the design's seed cap (default: the command's)")
    g.addoption("--scheduler", default=default_scheduler(), metavar="ADDRESS",
                help=f"send the runs to this Dask scheduler (default: ${SCHEDULER_ENV}; "
                     "unset: local worker processes)")
    g.addoption("--results", default=None, metavar="DIR",
                help="keep every finished run in DIR; a later session reads them back instead "
                     "of training them again")
    g.addoption("--progress", action="store_true",
                help="show runs done, left and the slowest so far while the session runs")
    g.addoption("--steps", type=int, default=None,
                help="optimizer steps per run instead of the profile's (a shortened profile)")
    g.addoption("--seeds", type=int, default=None,
                help="the profile's first N seeds only (a shortened profile)")


def pytest_configure(config):
    torch.set_num_threads(1)  # many small runs: one thread each is fastest and reproducible
    config.stash[FIGURES] = {}
    if config.getoption("--progress", False):
        # output capture is paused here; tests run captured, so the bar writes to a copy of
        # the terminal's stderr taken now
        config.stash[PROGRESS_FILE] = os.fdopen(os.dup(sys.stderr.fileno()), "w")
        config.add_cleanup(config.stash[PROGRESS_FILE].close)


def pytest_generate_tests(metafunc):
    if "dataset" in metafunc.fixturenames:
        names = ["own"] if metafunc.config.getoption("--data-dir") else ["synthetic", "pbcseq"]
        metafunc.parametrize("dataset", names, scope="session")


@pytest.fixture(scope="session")
def settings(pytestconfig):
    device = pytestconfig.getoption("--device") or "cpu"
    precision = pytestconfig.getoption("--precision") or "fp32"
    if device == "cuda" and not torch.cuda.is_available():
        pytest.skip("CUDA requested but no GPU is visible")
    if precision == "fp16" and device != "cuda":
        pytest.skip("fp16 needs CUDA")
    return {"device": device, "precision": precision, "profile": chosen_profile(pytestconfig)}


def chosen_profile(pytestconfig):
    profile = PROFILES[pytestconfig.getoption("--profile")]
    steps, seeds = pytestconfig.getoption("--steps"), pytestconfig.getoption("--seeds")
    if steps is not None:
        profile = dataclasses.replace(profile, steps=steps)
    if seeds is not None:
        profile = dataclasses.replace(profile, seeds=profile.seeds[:seeds])
    return profile


@pytest.fixture(scope="session")
def load_dataset(tmp_path_factory, pytestconfig):
    own, root, loaded = pytestconfig.getoption("--data-dir"), None, {}

    def load(name: str):
        nonlocal root
        if name not in loaded:
            root = root or tmp_path_factory.mktemp("stability-data")
            if name == "own":
                path = Path(own)
            elif name == "synthetic":
                path = write_synthetic(root / "synthetic", SYNTHETIC)
            else:
                path = write_pbcseq(root / "pbcseq")
            loaded[name] = DataSource.resolve(path).splits()
        return loaded[name]
    return load


@pytest.fixture(scope="session")
def pool(pytestconfig, settings):
    try:
        p = RunPool(pytestconfig.getoption("--workers"), settings["device"],
                    scheduler=pytestconfig.getoption("--scheduler"),
                    results=pytestconfig.getoption("--results"),
                    progress=pytestconfig.getoption("--progress"),
                    progress_file=pytestconfig.stash.get(PROGRESS_FILE, None))
    except HarnessError as exc:  # an unreachable scheduler, an unusable results folder
        pytest.exit(str(exc), returncode=pytest.ExitCode.USAGE_ERROR)
    with p:
        yield p


@pytest.hookimpl(trylast=True)  # after -k and -m deselect: queue only the runs of what runs
def pytest_collection_modifyitems(config, items):
    config.stash[SELECTED] = {item.path.stem for item in items}


@pytest.fixture(scope="session")
def plan(pytestconfig, settings):
    """(dataset, config, seeds) runs the selected tests will ask for, longest-lived first."""
    selected = pytestconfig.stash.get(SELECTED, set())
    datasets = ["own"] if pytestconfig.getoption("--data-dir") else ["synthetic", "pbcseq"]
    seeds = settings["profile"].seeds
    jobs = []
    if selected & {"test_learning", "test_collapse", "test_gradients", "test_variance",
                   "test_contract", "test_kill_matrix", "test_claims"}:
        jobs += [(d, c, seeds) for d in datasets for c in MAIN_CONFIGS]
    controls = {"test_variance": ("noisier", seeds), "test_learning": ("frozen", CONTROL_SEEDS[:2]),
                "test_collapse": ("collapse_prone", CONTROL_SEEDS),
                "test_gradients": ("exploding", CONTROL_SEEDS)}
    jobs += [("synthetic", *controls[m]) for m in sorted(selected & controls.keys())]
    return jobs


@pytest.fixture(scope="session")
def runs(settings, load_dataset, pool, plan):
    """runs(dataset, config_name, seeds=None, fault=None) -> list of RunTrace, each run once.

    Asking for a main config also starts its partner on the same seeds, so both workers stay
    busy; ``fault`` names an entry of faults.FAULTS injected around the run."""

    def submit(dataset, name, seeds, fault):
        train, valid = load_dataset(dataset)
        setup = None
        if fault is not None:
            from faults import inject

            setup = functools.partial(inject, fault)
        cfg = run_config(name, settings)
        return [pool.submit((dataset, name, seed, fault), cfg, name, train, valid,
                            settings["profile"], seed, setup) for seed in seeds]

    def get(dataset: str, name: str, seeds=None, fault=None, wait=True):
        seeds = tuple(seeds or settings["profile"].seeds)
        futures = submit(dataset, name, seeds, fault)
        if name in MAIN_CONFIGS and fault is None:
            for partner in MAIN_CONFIGS:
                submit(dataset, partner, seeds, None)
        if not wait:
            return None
        try:
            return [f.result() for f in futures]
        except PoolLost as exc:  # the scheduler or a local worker is gone: one line, not one
            pytest.exit(str(exc), returncode=1)  # traceback per test

    for dataset, name, seeds in plan:  # queue the session's runs so no worker waits for a test
        get(dataset, name, seeds, wait=False)

    return get


@pytest.fixture
def record_figure(pytestconfig):
    """Tests file their measured figures here; they are printed at the end of the session."""
    def record(section: str, key: str, value) -> None:
        pytestconfig.stash[FIGURES].setdefault(section, {})[key] = value
    return record


def pytest_terminal_summary(terminalreporter, config):
    figures = config.stash.get(FIGURES, {})
    if not figures:
        return
    tr = terminalreporter
    tr.section("stability figures")
    for section, values in figures.items():
        tr.write_line(f"[{section}]")
        for key, value in values.items():
            tr.write_line(f"  {key}: {value}")
    path = config.getoption("--stability-report")
    if path:
        write_json(path, figures)
        tr.write_line(f"figures written to {path}")
