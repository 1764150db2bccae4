"""The runs on a Dask distributed cluster, named by its scheduler's address.

Each worker must run one task at a time (``dask worker ADDRESS --nthreads 1``): a run holds
process-wide state (torch's global seed and thread count, a fault patched into a module), so
two runs in one process would disturb each other. Workers must run this checkout's code; both
are checked on connecting and again for every run that comes back. A fault's module outside the
package (the suite's faults.py) is shipped to the workers with the job. Distributed is imported
only here, so a plain install without the ``cluster`` extra runs everything else.

A lost worker costs time, not the session:

* Dask reschedules the runs a dead worker held. The data a run needs is not scattered (a
  scattered value that lived on the dead worker only is gone for good, and every run needing it
  with it); it is the result of a task whose arguments the scheduler keeps, so Dask computes it
  again on a worker that lives.
* Every run tells the scheduler (an event, sent before the run starts) when it starts and ends.
  When the scheduler gives up on a run (``KilledWorker``: the workers died while it was theirs
  more often than its ``distributed.scheduler.allowed-failures`` allows), the events say whether
  it was running each time or only queued behind the run that was: a queued run is sent again;
  a run that was running on each of its tries is reported in one line, and the others go on.
* A lost scheduler ends the session in one line; the runs that finished are already in the
  results folder, so the same command again trains only the missing ones.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import os
import signal
import sys
import threading
import time
import uuid
from concurrent.futures import Future
from pathlib import Path

from ..errors import InputError
from .failures import LostRun, PoolLost
from .identity import code_identity
from .runjob import RunJob, record_job

SCHEDULER_ENV = "SEQSETVAE_SCHEDULER"  # e.g. tcp://host:8786; unset: the local process pool
CONNECT_TIMEOUT_S = 10
CLOSE_TIMEOUT_S = 10
INSTALL_HINT = "pip install 'seqsetvae[cluster]'"
RUN_TOPIC = "seqsetvae-run"  # the scheduler's event log of runs starting and ending
# a JSON plan (tests only) that kills this worker, or another process, when a run starts
TEST_HOOK_ENV = "SEQSETVAE_CLUSTER_TEST_HOOK"
LOST_SCHEDULER = "scheduler-connection-lost"  # distributed's reason for the client's futures
MAX_LAUNCHES = 10  # a run given up by Dask though it never ran is sent again, this often at most


class ClusterError(InputError):
    """The scheduler cannot serve the runs (an input error: it names the address given); one
    line naming it."""


class SchedulerLost(PoolLost):
    """The scheduler went away mid-session; the message names it."""


class RunKillsWorkers(LostRun):
    """A run whose worker died on each of its tries (out of memory, a crash in native code)."""


class RunDropped(LostRun):
    """The cluster dropped a run for a reason of its own (Dask's reason is in the message)."""


def default_scheduler() -> str | None:
    return os.environ.get(SCHEDULER_ENV) or None


def held_data(data):
    """A dataset as a task's result: the scheduler keeps the task, so the data outlives any
    one worker."""
    return data


def cluster_job(name: str, *args) -> str:
    """Worker entry point: refuses a worker that would run two tasks at once; tells the
    scheduler when the run starts and ends."""
    from distributed import get_worker

    worker = get_worker()
    if worker.state.nthreads != 1:
        raise ClusterError(f"worker {worker.address} runs {worker.state.nthreads} threads; "
                           "start it with --nthreads 1")
    key = worker.get_current_task()
    tell(worker, {"key": key, "at": "start", "worker": worker.address})
    fire_test_plan(name, worker)
    try:
        return record_job(*args)
    finally:
        tell(worker, {"key": key, "at": "end", "worker": worker.address})


def tell(worker, msg: dict) -> None:
    """An event the scheduler has received when this returns: a worker killed right after
    still leaves its record."""
    from distributed.utils import sync

    sync(worker.loop, worker.scheduler.log_event, topic=RUN_TOPIC, msg=msg)


def fire_test_plan(name: str, worker) -> None:
    """Tests make a worker's death deterministic with a plan (a JSON list in the file that
    TEST_HOOK_ENV names in the worker's environment). Each run that starts appends its name to
    FILE.log; then each step of the plan whose ``run`` is this run's name, or whose ``start``
    is this run's place in that log, fires: it waits until the folder ``wait_for[0]`` holds
    ``wait_for[1]`` JSON files (two minutes at most), then SIGKILLs ``kill``: "worker" (this
    process, which its nanny restarts), "nanny" (its nanny, then this process: the worker is
    gone), a process id, or nothing (null: the run only waits).
    ``run`` is a pool key's label ("optimized/1"), or "first": the run that started first;
    ``once``: only on the first run it matches."""
    path = os.environ.get(TEST_HOOK_ENV)
    if not path:
        return
    plan_file = Path(path)
    with open(plan_file.with_suffix(".log"), "a") as log:
        log.write(f"{name}\n")
    runs = plan_file.with_suffix(".log").read_text().splitlines()
    plan = json.loads(plan_file.read_text()) if plan_file.exists() else []
    for n, step in enumerate(plan):
        first = step.get("run") == "first" and name == runs[0]
        if not (first or name.startswith(f"run {step.get('run')} (")
                or step.get("start") == len(runs)):
            continue
        if step.get("once"):
            try:  # the first run to create the marker fires it
                os.close(os.open(plan_file.with_suffix(f".fired{n}"), os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                continue
        if "wait_for" in step:
            folder, count = step["wait_for"]
            deadline = time.monotonic() + 120
            while len(list(Path(folder).glob("*.json"))) < count and \
                    time.monotonic() < deadline:
                time.sleep(0.05)
        if step.get("kill") is None:
            continue
        if step["kill"] == "nanny" and worker.nanny is not None:
            os.kill(os.getppid(), signal.SIGKILL)
        target = os.getpid() if step["kill"] in ("worker", "nanny") else int(step["kill"])
        os.kill(target, signal.SIGKILL)


def setup_module(setup):
    """The module whose callable ``setup`` is (through a functools.partial)."""
    func = getattr(setup, "func", setup)
    return sys.modules[func.__module__]


@dataclasses.dataclass
class ClusterRun:
    job: RunJob
    name: str  # the run as a person reads it
    out: Future
    tries: int = 0  # times its worker died while it was running
    launches: int = 1  # times it was sent to the scheduler


class DaskBackend:
    """submit(job, name) -> a concurrent.futures.Future of the run's JSON text."""

    def __init__(self, address: str, connect_timeout: float = CONNECT_TIMEOUT_S):
        try:
            from distributed import Client
        except ImportError:
            raise ClusterError(f"scheduler {address}: the cluster backend needs Dask "
                               f"distributed ({INSTALL_HINT})") from None
        self.address = address
        failure = None
        try:
            self.client = Client(address, timeout=connect_timeout, set_as_default=False)
        except (OSError, ValueError, TimeoutError) as exc:
            failure = str(exc)
        if failure is not None:  # the traceback is gone, so the half-made client can go too:
            gc.collect()  # it closes now, not with a traceback at exit
            raise ClusterError(f"scheduler {address}: cannot connect: {failure}")
        try:
            self._check_workers(connect_timeout)
        except BaseException:
            self.client.close()
            raise
        self._data: dict[int, tuple] = {}  # id(PackedData) -> (the object, its task's future)
        self._shipped: set[str] = set()
        self._live: dict[str, object] = {}  # key -> future: held until its result is read
        self._lock = threading.Lock()

    def _check_workers(self, timeout: float) -> None:
        try:
            self.client.wait_for_workers(1, timeout=timeout)
        except TimeoutError:
            raise ClusterError(f"scheduler {self.address}: no worker joined within "
                               f"{timeout:g} s") from None
        threads = {a: n for a, n in self.client.nthreads().items() if n != 1}
        # a worker that dies while it is asked is no problem: its runs go to the others
        answers = {a: c for a, c in self.client.run(code_identity, on_error="return").items()
                   if not isinstance(c, OSError)}
        failed = {a: f"{type(c).__name__}: {c}" for a, c in answers.items()
                  if isinstance(c, BaseException)}
        other = {a: c for a, c in answers.items()
                 if a not in failed and c != code_identity()}
        problems = []
        if threads:
            problems.append(f"worker(s) run more than one thread ({threads}): start each with "
                            f"`dask worker {self.address} --nthreads 1`")
        if other:
            problems.append(f"worker(s) {sorted(other)} run other code than this checkout "
                            f"({next(iter(other.values()))} against {code_identity()}): "
                            "install this checkout there")
        if failed:
            problems.append(f"worker(s) cannot run this checkout's code ({failed}): install "
                            "this checkout there")
        if problems:
            raise ClusterError(f"scheduler {self.address}: " + "; ".join(problems))

    def _held(self, data):
        with self._lock:  # runs are sent again from the callback thread
            if id(data) not in self._data:  # each dataset travels to the cluster once
                future = self.client.submit(held_data, data,
                                            key=f"seqsetvae-data-{uuid.uuid4()}")
                self._data[id(data)] = (data, future)
            return self._data[id(data)][1]

    def _ship(self, setup) -> None:
        module = setup_module(setup)
        name = module.__name__
        if name.split(".")[0] == __package__.split(".")[0] or name in self._shipped:
            return  # the workers' own installed package has it
        if "." in name or not getattr(module, "__file__", None):
            raise ClusterError(f"scheduler {self.address}: cannot ship {name}, where the run's "
                               "setup lives, to the workers: only a top-level module file can "
                               "be shipped")
        self.client.upload_file(module.__file__)
        self._shipped.add(name)

    def submit(self, job: RunJob, name: str) -> Future:
        if job.setup is not None:
            self._ship(job.setup)
        run = ClusterRun(job, name, Future())
        self._launch(run)
        return run.out

    def _launch(self, run: ClusterRun) -> None:
        job = dataclasses.replace(run.job, train=self._held(run.job.train),
                                  valid=self._held(run.job.valid))
        remote = self.client.submit(cluster_job, run.name, *job.args(),
                                    key=f"seqsetvae-run-{uuid.uuid4()}")
        with self._lock:
            self._live[remote.key] = remote
        remote.add_done_callback(lambda f: self._settle(run, f))

    def _settle(self, run: ClusterRun, remote) -> None:
        """In the client's callback thread: the run's outcome, or the same run sent again."""
        from distributed import KilledWorker
        from distributed.client import FutureCancelledError

        try:
            text = remote.result()
        except KilledWorker as exc:
            try:
                self._retry(run, remote.key, exc)
            except BaseException as failure:
                run.out.set_exception(failure)
        except FutureCancelledError as exc:
            run.out.set_exception(self.lost() if exc.reason == LOST_SCHEDULER else RunDropped(
                f"{run.name}: the cluster at {self.address} dropped the run ({exc.reason})"))
        except OSError as exc:  # the connection went while the result was read
            run.out.set_exception(self.lost() if self.client.status != "running" else RunDropped(
                f"{run.name}: its result could not be read from the cluster at {self.address} "
                f"({exc})"))
        except BaseException as exc:  # the run's own error, as the local pool gives it
            run.out.set_exception(exc)
        else:
            run.out.set_result(text)
        finally:
            with self._lock:
                self._live.pop(remote.key, None)
            remote.release()  # a finished run is not computed again when its worker dies

    def _retry(self, run: ClusterRun, key: str, killed) -> None:
        allowed = killed.allowed_failures + 1
        if killed.task != key:  # its data's task was given up: the data is made again
            with self._lock:
                self._data = {i: (d, f) for i, (d, f) in self._data.items()
                              if f.key != killed.task}
        else:
            events = [m for _, m in self.client.get_events(RUN_TOPIC) if m["key"] == key]
            # a start with no end: its worker died while this run was running on it
            run.tries += (sum(m["at"] == "start" for m in events)
                          - sum(m["at"] == "end" for m in events))
        if run.tries >= allowed:
            raise RunKillsWorkers(
                f"{run.name}: its worker died while running it on each of its {run.tries} "
                f"tries on scheduler {self.address} (out of memory or a crash in native "
                f"code?); given up after distributed.scheduler.allowed-failures={allowed - 1} "
                "retries")
        if run.launches == MAX_LAUNCHES:
            raise RunDropped(f"{run.name}: sent {MAX_LAUNCHES} times to scheduler "
                             f"{self.address}, and each time the workers died before it ran")
        run.launches += 1
        self._launch(run)  # only queued on a worker that died for another run: not its fault

    def lost(self) -> SchedulerLost:
        return SchedulerLost(f"scheduler {self.address}: lost the connection to it")

    def _running_on(self, keys: set[str]) -> set[str]:
        """The workers on which one of these runs has started and not ended."""
        open_runs: dict[tuple, int] = {}
        for _, m in self.client.get_events(RUN_TOPIC):
            if m["key"] in keys:
                where = (m["key"], m["worker"])
                open_runs[where] = open_runs.get(where, 0) + (1 if m["at"] == "start" else -1)
        return {worker for (_, worker), n in open_runs.items() if n > 0}

    def close(self) -> None:
        with self._lock:
            runs = dict(self._live)
            data = [f for _, f in self._data.values()]
        try:
            if self.client.status == "running":  # Ctrl-C or an error: no run is left queued
                busy = self._running_on(set(runs)) if runs else set()
                self.client.cancel(list(runs.values()) + data)
                if busy:  # Dask cannot stop a running task: its worker's nanny restarts it
                    self.client.restart_workers(sorted(busy), timeout=CLOSE_TIMEOUT_S,
                                                raise_for_error=False)
        except (OSError, TimeoutError):
            pass  # the scheduler is gone, and its tasks with it
        finally:
            self.client.close(timeout=CLOSE_TIMEOUT_S)
