"""The runs on a real Dask cluster equal the local pool's, number for number.

The cluster is started from Dask's own command line (a scheduler and two one-thread workers,
separate processes) in a folder where only the package is importable: the suite's faults.py must
travel to the workers with the runs that plant a fault. A cluster that cannot give identical
runs (a worker with two threads, a worker running other code) is refused in one line.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import seqsetvae
from seqsetvae.cli import main
from seqsetvae.data import DataSource
from seqsetvae.data.builtin import SyntheticSpec, write_synthetic
from seqsetvae.stability.checkout_runs import OtherCheckout
from seqsetvae.stability.cluster import SCHEDULER_ENV, ClusterError, DaskBackend
from seqsetvae.stability.pool import RunPool
from seqsetvae.stability.runs import PROFILES, profile_config

from .traces import numbers

Client = pytest.importorskip("distributed").Client

REPO = Path(seqsetvae.__file__).resolve().parents[1]
PROFILE = dataclasses.replace(PROFILES["quick"], steps=8)
FAULT = "values_zeroed"  # changes every number of the run, so a fault left unplanted shows


class Cluster:
    """Dask's command-line processes in ``where``; stopped (their process groups) on close.
    ``env``: more environment for all of them (Dask's config, a test plan)."""

    def __init__(self, where: Path, pythonpath: Path = REPO, env: dict | None = None):
        self.where, self.procs = where, []
        self.env = {**os.environ, "PYTHONPATH": str(pythonpath), "OMP_NUM_THREADS": "1",
                    **(env or {})}
        self.start("scheduler", "--host", "127.0.0.1", "--port", "0", "--scheduler-file",
                   "scheduler.json")
        self.address = self._wait_for_address(where / "scheduler.json")

    def start(self, *args: str, pythonpath: Path | None = None) -> None:
        env = self.env if pythonpath is None else {**self.env, "PYTHONPATH": str(pythonpath)}
        log = open(self.where / f"{args[0]}-{len(self.procs)}.log", "w")
        self.procs.append(subprocess.Popen(
            [sys.executable, "-m", "dask", *args, "--no-dashboard"], cwd=self.where, env=env,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
        log.close()

    def worker(self, threads: int = 1, pythonpath: Path | None = None) -> subprocess.Popen:
        """A worker with its nanny (the process returned), which restarts it when it dies."""
        self.start("worker", self.address, "--nthreads", str(threads), "--local-directory",
                   f"worker-{len(self.procs)}", pythonpath=pythonpath)
        return self.procs[-1]

    def _wait_for_address(self, file: Path, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if file.exists():
                try:
                    return json.loads(file.read_text())["address"]
                except (json.JSONDecodeError, KeyError):
                    pass  # written as we read
            if self.procs[0].poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError(f"the Dask scheduler did not start: see {self.where}")

    def close(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)  # a worker's nanny and its worker process
            proc.wait()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = Cluster(tmp_path_factory.mktemp("cluster"))
    try:
        c.worker()
        c.worker()
        yield c
    finally:
        c.close()


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    src = DataSource.resolve(write_synthetic(tmp_path_factory.mktemp("data") / "syn",
                                             SyntheticSpec(patients=40, max_sets=10)))
    stats, labels = src.stats(), src.labels()
    return src.load("train", stats, labels), src.load("valid", stats, labels)


@pytest.fixture(scope="module")
def fault_setup():
    """The kill matrix's setup callable, imported as the suite imports it (top-level faults);
    the local pool's spawned workers find it on the sys.path they inherit, the cluster's do not
    have it."""
    suite = str(REPO / "stability_suite")
    sys.path.insert(0, suite)
    try:
        import faults

        yield functools.partial(faults.inject, FAULT)
    finally:
        sys.path.remove(suite)


def traces(pool: RunPool, data, setup) -> dict:
    train, valid = data
    jobs = [("baseline", 0, None), ("optimized", 1, None), ("baseline", 0, setup)]
    futures = {(name, seed, setup is not None): pool.submit(
        (name, seed, setup is not None), profile_config(name, PROFILE), name, train, valid,
        PROFILE, seed, setup) for name, seed, setup in jobs}
    return {key: numbers(f.result()) for key, f in futures.items()}


def test_cluster_runs_equal_the_local_pools(cluster, data, fault_setup):
    with RunPool(2) as local:
        expected = traces(local, data, fault_setup)
    with RunPool(scheduler=cluster.address) as remote:
        got = traces(remote, data, fault_setup)
        assert len(remote._backend.client.nthreads()) == 2
    assert expected[("baseline", 0, True)] != expected[("baseline", 0, False)]
    different = [key for key in expected if got[key] != expected[key]]
    assert not different, f"runs differ between the cluster and the local pool: {different}"


def test_a_run_of_another_checkout_is_refused_by_a_scheduler_in_one_line(cluster, data):
    other = OtherCheckout(REPO, "seqsetvae.stability.ab.worker", "REF", {}, "baseline", "fp32")
    with pytest.raises(ClusterError) as refused, RunPool(scheduler=cluster.address) as pool:
        pool.submit(("ref", 0), profile_config("baseline", PROFILE), "baseline", *data,
                    PROFILE, 0, code=other)
    message = str(refused.value)
    assert "\n" not in message and message.startswith(f"scheduler {cluster.address}: run ref/0")
    assert "only without a scheduler" in message


def test_an_unreachable_or_malformed_scheduler_is_one_line():
    with pytest.raises(ClusterError, match=r"^scheduler tcp://127.0.0.1:9: cannot connect"):
        DaskBackend("tcp://127.0.0.1:9", connect_timeout=1)
    with pytest.raises(ClusterError, match=r"^scheduler nonsense://x: cannot connect: unknown"):
        RunPool(scheduler="nonsense://x")


def test_compare_names_its_scheduler_in_one_line(data, tmp_path, monkeypatch, capsys):
    syn = write_synthetic(tmp_path / "syn", SyntheticSpec(patients=40, max_sets=10))
    monkeypatch.setenv(SCHEDULER_ENV, "nonsense://from-env")
    code = main(["compare", "--data_dir", str(syn), "--out", str(tmp_path / "out"),
                 "--seeds", "2", "--steps", "12", "--no_progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith("seqsetvae compare: error: scheduler nonsense://from-env: ")


def test_workers_that_cannot_give_identical_runs_are_refused(tmp_path):
    foreign = tmp_path / "foreign"
    shutil.copytree(REPO / "seqsetvae", foreign / "seqsetvae",
                    ignore=shutil.ignore_patterns("__pycache__"))
    with open(foreign / "seqsetvae" / "config.py", "a") as fh:
        fh.write("\n# another version of the package\n")
    c = Cluster(tmp_path)
    try:
        c.worker(threads=2)
        c.worker(pythonpath=foreign)
        with Client(c.address, timeout=30) as client:
            client.wait_for_workers(2, timeout=60)
        with pytest.raises(ClusterError) as refused:
            RunPool(scheduler=c.address)
        message = str(refused.value)
        assert "\n" not in message
        assert "more than one thread ({'tcp://" in message and "--nthreads 1" in message
        assert "run other code than this checkout" in message
    finally:
        c.close()
