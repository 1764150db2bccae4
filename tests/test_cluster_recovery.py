"""A lost worker costs time, not the session, on a real Dask cluster (Dask's own processes).

Deaths are made deterministic by a test plan the run job reads on the worker
(cluster.fire_test_plan): it SIGKILLs its own worker, or the scheduler, as a named run starts.
Its log of run starts shows what each worker trained.
"""

from __future__ import annotations

import json
import os
import signal
import time
from concurrent.futures import as_completed

import pytest

from seqsetvae.cli import main
from seqsetvae.data.builtin import SyntheticSpec, write_synthetic
from seqsetvae.stability.cluster import TEST_HOOK_ENV, RunKillsWorkers
from seqsetvae.stability.failures import LocalWorkerCrashed
from seqsetvae.stability.pool import RunPool
from seqsetvae.stability.runs import profile_config

from .test_cluster import PROFILE, Cluster, data  # noqa: F401 (data: a fixture)
from .traces import numbers

Client = pytest.importorskip("distributed").Client

JOBS = [("baseline", 0), ("optimized", 1)]
SEEDS = ["--seeds", "2", "--steps", "12", "--no_progress"]  # compare: 4 runs


def planned_cluster(where, plan: list, allowed_failures: int = 3) -> Cluster:
    (where / "plan.json").write_text(json.dumps(plan))
    return Cluster(where, env={TEST_HOOK_ENV: str(where / "plan.json"),
                               "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES":
                               str(allowed_failures)})


def started(where) -> list[str]:
    """The label of each run a worker started, in order."""
    log = where / "plan.log"
    lines = log.read_text().splitlines() if log.exists() else []
    return [line.split()[1] for line in lines]


def submit(pool: RunPool, split) -> dict:
    train, valid = split
    return {(name, seed): pool.submit((name, seed), profile_config(name, PROFILE), name, train,
                                      valid, PROFILE, seed) for name, seed in JOBS}


@pytest.fixture(scope="module")
def local_numbers(data):  # noqa: F811
    with RunPool(1) as local:  # in this process: a run's numbers depend on its seed alone
        return {k: numbers(f.result()) for k, f in submit(local, data).items()}


@pytest.fixture
def syn(tmp_path):
    return write_synthetic(tmp_path / "syn", SyntheticSpec(patients=40, max_sets=10))


def test_a_worker_killed_holding_a_run_costs_time_not_the_session(tmp_path, data,  # noqa: F811
                                                                  local_numbers):
    """The only worker dies with its nanny as it starts a run, holding the only copy of the
    data; a worker that joins later redoes everything, number for number."""
    c = planned_cluster(tmp_path, [{"run": "optimized/1", "kill": "nanny", "once": True}])
    try:
        first = c.worker()
        with RunPool(scheduler=c.address) as pool:
            futures = submit(pool, data)
            assert first.wait(timeout=120) == -signal.SIGKILL  # the plan killed it, nanny too
            c.worker()
            got = {k: numbers(f.result(timeout=300)) for k, f in futures.items()}
    finally:
        c.close()
    assert started(tmp_path).count("optimized/1") == 2, started(tmp_path)
    different = [k for k in got if got[k] != local_numbers[k]]
    assert not different, f"runs differ from the local pool's after a worker died: {different}"


def test_a_run_that_kills_every_worker_is_reported_and_the_others_kept(tmp_path,
                                                                      data):  # noqa: F811
    """One worker, Dask allowed one failure: the run that starts first kills its worker each
    time, and a run queued behind it on that worker is given up by Dask too, though it never
    ran: it is sent again. The caller stops at the first error; the others still finish."""
    results = tmp_path / "results"
    c = planned_cluster(tmp_path, [{"run": "first", "kill": "worker"}], allowed_failures=1)
    try:
        c.worker()
        with pytest.raises(RunKillsWorkers) as failed, RunPool(scheduler=c.address,
                                                               results=results) as pool:
            for future in as_completed(submit(pool, data).values()):
                future.result()
    finally:
        c.close()
    runs = started(tmp_path)
    poison = runs[0]
    config, seed = poison.split("/")
    message = str(failed.value)
    assert failed.value.exit_code == 1 and "\n" not in message
    assert message.startswith(f"run {poison} (config {config}, seed {seed}, no fault): its "
                              "worker died while running it on each of its 2 tries on "
                              f"scheduler {c.address}"), message
    assert runs[:2] == [poison, poison], runs  # so a run was queued behind it at each kill
    assert sorted(runs[2:]) == sorted(f"{n}/{s}" for n, s in JOBS if f"{n}/{s}" != poison)
    assert len(list(results.glob("*.json"))) == len(JOBS) - 1  # the others finished, kept


def test_a_lost_scheduler_is_one_line_and_the_rerun_trains_only_the_missing(tmp_path, syn,
                                                                            capsys):
    """The scheduler is killed as the second run starts, once the first is in the results
    folder; the same command on a new cluster trains the three others only."""
    results = tmp_path / "results"
    command = ["compare", "--data_dir", str(syn), "--out", str(tmp_path / "out"), *SEEDS,
               "--results", str(results)]
    first = tmp_path / "first"
    first.mkdir()
    c = planned_cluster(first, [])
    plan = [{"start": 2, "wait_for": [str(results), 1], "kill": c.procs[0].pid, "once": True}]
    (first / "plan.json").write_text(json.dumps(plan))
    try:
        c.worker()
        code = main([*command, "--scheduler", c.address])
    finally:
        c.close()
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1, err
    assert err[0].startswith(f"seqsetvae compare: error: scheduler {c.address}: "), err
    assert "1 finished run(s) are kept in" in err[0] and "only the 3 missing" in err[0], err
    kept = started(first)[:1]
    assert len(list(results.glob("*.json"))) == 1

    again = tmp_path / "again"
    again.mkdir()
    c = planned_cluster(again, [])
    try:
        c.worker()
        assert main([*command, "--scheduler", c.address]) == 0
    finally:
        c.close()
    resumed = started(again)
    assert len(resumed) == 3 and not set(resumed) & set(kept), (kept, resumed)
    assert len(list(results.glob("*.json"))) == 4


def test_ctrl_c_stops_the_sessions_runs_on_the_cluster(tmp_path, data):  # noqa: F811
    """Ctrl-C while a run trains: no task of the session is left on the scheduler, and the
    worker no longer trains it (a cancelled task that is running would run to its end)."""
    c = planned_cluster(tmp_path, [{"run": "baseline/0", "wait_for": [str(tmp_path / "no"), 1]}])
    try:
        c.worker()
        with pytest.raises(KeyboardInterrupt), RunPool(scheduler=c.address) as pool:
            submit(pool, data)
            deadline = time.monotonic() + 120
            while "baseline/0" not in started(tmp_path) and time.monotonic() < deadline:
                time.sleep(0.05)  # until the run has started on the worker
            raise KeyboardInterrupt
        with Client(c.address, timeout=30) as client:
            client.wait_for_workers(1, timeout=60)
            tasks = client.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.tasks))
            executing = client.run(lambda dask_worker: len(dask_worker.state.executing))
    finally:
        c.close()
    assert "baseline/0" in started(tmp_path)
    assert tasks == [] and list(executing.values()) == [0], (tasks, executing)


def die():
    """A run's setup that kills the process running it, as a crash in native code does."""
    os.kill(os.getpid(), signal.SIGKILL)


def test_a_local_worker_process_that_dies_is_one_line(data):  # noqa: F811
    with pytest.raises(LocalWorkerCrashed) as crashed, RunPool(2) as pool:
        pool.submit(("baseline", 0), profile_config("baseline", PROFILE), "baseline", *data,
                    PROFILE, 0, die).result()
    message = str(crashed.value)
    assert crashed.value.exit_code == 1 and "\n" not in message
    assert message.startswith("run baseline/0 (config baseline, seed 0, fault die()): a local "
                              "worker process died"), message
