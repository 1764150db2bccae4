"""A run of another checkout's code goes through the one pool: trained by a worker process in
that checkout (here: this checkout, started as another one), it equals the run trained in
process, is kept in a results folder under its own key, fails in one line naming the run with
its exit status, and leaves no worker process behind when the pool is left on an error. A
checkout that can serve trains run after run in one long-lived process; one that has only the
one-shot worker gets a process per run."""

from __future__ import annotations

import dataclasses
import os
import signal
import time
from pathlib import Path

import pytest

import seqsetvae
from seqsetvae.data import DataSource
from seqsetvae.data.builtin import SyntheticSpec, write_synthetic
from seqsetvae.errors import ARGS_ERROR, RUN_ERROR
from seqsetvae.stability.checkout_runs import (
    CheckoutRunFailed,
    CheckoutRunRefused,
    LiveProcesses,
    OtherCheckout,
)
from seqsetvae.stability.pool import RunPool
from seqsetvae.stability.runs import PROFILES, profile_config

REPO = Path(seqsetvae.__file__).resolve().parents[1]
PROFILE = dataclasses.replace(PROFILES["quick"], steps=8)
WORKER = "seqsetvae.stability.ab.worker"
SERVING = "seqsetvae.stability.ab.serving_worker"


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> Path:
    return write_synthetic(tmp_path_factory.mktemp("checkout") / "syn",
                           SyntheticSpec(patients=40, max_sets=8))


@pytest.fixture(scope="module")
def split(synthetic):
    src = DataSource.resolve(synthetic)
    stats, labels = src.stats(), src.labels()
    return src.load("train", stats, labels), src.load("valid", stats, labels)


def this_checkout_as_another(synthetic: Path, root: Path = REPO, entry: str = WORKER,
                             log: Path | None = None, serving: str | None = SERVING
                             ) -> OtherCheckout:
    return OtherCheckout(root, entry, "other code", {"data_dir": str(synthetic)}, "baseline",
                         "fp32", log, serving)


@pytest.fixture
def started(monkeypatch) -> list:
    """Every worker process the pools start, in order."""
    procs = []
    start = LiveProcesses.start

    def counted(self, *args, **kwargs):
        proc = start(self, *args, **kwargs)
        procs.append(proc)
        return proc

    monkeypatch.setattr(LiveProcesses, "start", counted)
    return procs


def submit(pool: RunPool, split, code: OtherCheckout | None, seed: int = 0):
    return pool.submit(("other" if code else "here", seed), profile_config("baseline", PROFILE),
                       "baseline", *split, PROFILE, seed, code=code, recorded=True)


def test_a_run_of_another_checkout_equals_the_run_in_process_and_is_kept(synthetic, split,
                                                                         tmp_path):
    code = this_checkout_as_another(synthetic)
    with RunPool(1, results=tmp_path) as pool:
        here, other = submit(pool, split, None).result(), submit(pool, split, code).result()
    assert other.fingerprint == here.fingerprint
    assert len(list(tmp_path.glob("*.json"))) == 2  # its own key: another code identity
    with RunPool(1, results=tmp_path) as again:
        back = submit(again, split, code).result()
    assert again.progress.counts["read"] == 1 and back.fingerprint == other.fingerprint
    assert back.trace.seconds == other.trace.seconds


@pytest.mark.parametrize("serving", [SERVING, None], ids=["serving", "one-shot only"])
def test_runs_of_another_checkout_reuse_its_serving_worker(synthetic, split, started, serving):
    code = this_checkout_as_another(synthetic, serving=serving)
    with RunPool(1) as pool:
        here = [submit(pool, split, None, seed).result() for seed in (0, 1, 2)]
        other = [submit(pool, split, code, seed).result() for seed in (0, 1, 2)]
    assert [run.fingerprint for run in other] == [run.fingerprint for run in here]
    assert [proc.args[-1] for proc in started] == ([SERVING] if serving else [WORKER] * 3)
    assert all(proc.poll() is not None for proc in started), "a worker is left"


def worker_script(root: Path, body: str) -> str:
    (root / "fake_worker.py").write_text(f"import os, sys, time\n{body}\n")
    return "fake_worker"


def test_a_serving_worker_killed_mid_run_is_one_line_naming_the_run(synthetic, split, tmp_path,
                                                                   started):
    training = tmp_path / "training"
    entry = worker_script(tmp_path, "print('loaded', file=sys.stderr, flush=True)\n"
                                    "sys.stdin.readline()\n"
                                    "print('training', file=sys.stderr, flush=True)\n"
                                    f"open({str(training)!r}, 'w').close()\ntime.sleep(600)")
    code = this_checkout_as_another(synthetic, tmp_path, WORKER, tmp_path / "kept.log", entry)
    with pytest.raises(CheckoutRunFailed) as failed, RunPool(1) as pool:
        run = submit(pool, split, code)
        deadline = time.monotonic() + 60
        while not training.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(started[0].pid, signal.SIGKILL)
        run.result()
    message = str(failed.value)
    assert "\n" not in message and failed.value.exit_code == RUN_ERROR
    assert message.startswith("other code: run other/0 (config baseline, seed 0, no fault): ")
    assert message.endswith(f"its worker failed (signal {signal.SIGKILL}): training; "
                            f"its log: {tmp_path / 'kept.log'}")
    assert [proc.poll() for proc in started] == [-signal.SIGKILL]


@pytest.mark.parametrize("serves", [True, False], ids=["serving", "one-shot"])
@pytest.mark.parametrize(("status", "error", "exit_code"), [
    (3, CheckoutRunFailed, RUN_ERROR), (2, CheckoutRunRefused, ARGS_ERROR)])
def test_a_failed_worker_is_one_line_naming_the_run(synthetic, split, tmp_path, status, error,
                                                    exit_code, serves):
    entry = worker_script(tmp_path, f"sys.stdin.readline()\n"
                                    f"print('cannot train here', file=sys.stderr)\n"
                                    f"sys.exit({status})")
    code = this_checkout_as_another(synthetic, tmp_path, entry, tmp_path / "kept.log",
                                    entry if serves else None)
    with pytest.raises(error) as failed, RunPool(1) as pool:
        submit(pool, split, code).result()
    message = str(failed.value)
    assert "\n" not in message and failed.value.exit_code == exit_code
    assert message.startswith("other code: run other/0 (config baseline, seed 0, no fault): ")
    assert message.endswith("cannot train here" if status == 2 else
                            f"cannot train here; its log: {tmp_path / 'kept.log'}")


@pytest.mark.parametrize("serves", [True, False], ids=["serving", "one-shot"])
def test_leaving_the_pool_on_an_error_stops_its_workers(synthetic, split, tmp_path, serves):
    pids = tmp_path / "pids"
    pids.mkdir()
    entry = worker_script(tmp_path, f"open({str(pids)!r} + f'/{{os.getpid()}}', 'w').close()\n"
                                    "time.sleep(600)")
    code = this_checkout_as_another(synthetic, tmp_path, entry, serving=entry if serves else None)
    with pytest.raises(RuntimeError, match="the caller's error"), RunPool(2) as pool:
        for seed in (0, 1):
            submit(pool, split, code, seed)
        deadline = time.monotonic() + 60
        while len(list(pids.iterdir())) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        raise RuntimeError("the caller's error")
    started = [int(p.name) for p in pids.iterdir()]
    assert len(started) == 2
    assert not [pid for pid in started if Path(f"/proc/{pid}").exists()], "a worker is left"
    assert os.getpid() not in started
