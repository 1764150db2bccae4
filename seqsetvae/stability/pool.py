"""Where traced runs happen, every (dataset, config, seed, fault) run once: spawned local worker
processes (the embedded default), or a Dask cluster named by its scheduler's address
(cluster.py). Shared by the stability suite, `seqsetvae compare`, `seqsetvae claims` and
`seqsetvae gate`. A run of another checkout's code (the gate's REF side) is trained by a worker
process started in that checkout (checkout_runs.py), always on this machine: a cluster's workers
need not have the checkout, so with a scheduler such a run is refused in one line.

Each run comes back as JSON text and its trace is rebuilt from it (runjob.py), whichever backend
trained it; with a results folder every finished run is kept there and a later pool reads it
back instead of training it again (runstore.py).

A run that cannot finish (its worker dies each time it runs it) fails alone: the caller sees its
error, one line naming the run, and leaving the pool on that error first lets the other runs
finish and be kept. A pool that is gone (a lost scheduler, a local worker process that died)
fails every run that has not finished; the finished ones are in the results folder.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import threading
from concurrent.futures import Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from ..config import Config
from ..data.packed import PackedData
from .checkout_runs import CheckoutBackend, CheckoutRunFailed, OtherCheckout, checkout_record
from .failures import LocalWorkerCrashed, LostRun, PoolLost
from .progress import RunProgress
from .records import PROTOCOL, recorded_run
from .runjob import RunJob, parse_record, record_job, trace_of
from .runs import Profile, RunTrace
from .runstore import RunStore, run_key


def describe(job: RunJob, label: str) -> str:
    """The run as a person names it: its key, config, seed and the fault planted around it."""
    setup = job.setup
    if setup is None:
        fault = "no fault"
    else:
        func = getattr(setup, "func", setup)
        args = [repr(a) for a in getattr(setup, "args", ())]
        args += [f"{k}={v!r}" for k, v in getattr(setup, "keywords", {}).items()]
        fault = f"fault {func.__name__}({', '.join(args)})"
    return f"run {label} (config {job.config_name}, seed {job.seed}, {fault})"


def default_workers(device: str) -> int:
    return 1 if device == "cuda" else min(2, os.cpu_count() or 1)


class LocalBackend:
    """``workers`` <= 1 runs inline (CUDA, or a single core); results do not depend on which
    process ran them, since every run is seeded from its own seed alone."""

    where = "a local worker"

    def __init__(self, workers: int, device: str):
        self._pool = ProcessPoolExecutor(
            workers, mp_context=multiprocessing.get_context("spawn")) if workers > 1 else None

    def submit(self, job: RunJob, name: str) -> Future:
        if self._pool is not None:
            return self._pool.submit(record_job, *job.args())
        done: Future = Future()
        try:
            done.set_result(record_job(*job.args()))
        except Exception as exc:
            done.set_exception(exc)
        return done

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)


class RunPool:
    """``scheduler``: a Dask scheduler's address (None: local processes); ``results``: a folder
    that keeps finished runs across pools; ``progress``: show a bar (on ``progress_file``).
    ``workers``: runs at a time of this checkout's code, and as many of other checkouts'."""

    def __init__(self, workers: int | None = None, device: str = "cpu",
                 scheduler: str | None = None, results: str | Path | None = None,
                 progress: bool = False, progress_file=None):
        self.device = device
        self._workers = workers if workers is not None else default_workers(device)
        self._scheduler = scheduler
        self._checkouts: CheckoutBackend | None = None  # started by the first such run
        self._store = RunStore(results) if results is not None else None
        if scheduler:
            from .cluster import DaskBackend  # distributed is an optional dependency

            self._backend = DaskBackend(scheduler)
            self._where = f"scheduler {scheduler}"
        else:
            self._backend = LocalBackend(self._workers, device)
            self._where = LocalBackend.where
        self.progress = RunProgress(progress, progress_file)
        self._runs: dict[tuple, Future] = {}
        self._kept = 0  # runs in the results folder, read back or written
        self._kept_lock = threading.Lock()  # runs finish in callback threads

    def submit(self, key: tuple, cfg: Config, name: str, train: PackedData, valid: PackedData,
               profile: Profile, seed: int, setup=None, code: OtherCheckout | None = None,
               recorded: bool = False) -> Future:
        """Start the run named by ``key`` unless it was started before; returns its future: of
        its RunTrace, or with ``recorded`` of its RecordedRun (trace, config, fingerprint).
        ``code``: another checkout's code trains it (None: this checkout's)."""
        if key not in self._runs:
            job = RunJob(cfg, name, train, valid, profile, seed, self.device, setup, code)
            label = "/".join(str(k) for k in key if k is not None)
            self._runs[key] = self._start(job, label, recorded_run if recorded else trace_of)
        return self._runs[key]

    def _backend_for(self, job: RunJob, name: str):
        if job.code is None:
            return self._backend
        if self._scheduler:
            from .cluster import ClusterError

            raise ClusterError(f"scheduler {self._scheduler}: {name} is trained by the code of "
                               f"{job.code.root}, which the cluster's workers need not have; "
                               "such runs train only without a scheduler")
        if job.setup is not None:
            raise ValueError(f"{name}: a run of another checkout's code takes no setup")
        if self._checkouts is None:
            self._checkouts = CheckoutBackend(self._workers)
        return self._checkouts

    def _start(self, job: RunJob, label: str, rebuild) -> Future:
        name = describe(job, label)
        backend = self._backend_for(job, name)
        self.progress.submitted()
        stored_key = run_key(job) if self._store is not None else None
        out: Future = Future()
        record = self._store.read(stored_key) if self._store is not None else None
        if record is not None:
            with self._kept_lock:
                self._kept += 1
            out.set_result(rebuild(record, job.profile))
            self.progress.finished(label, record["seconds"], read=True)
            return out

        def finished(raw: Future) -> None:
            try:
                record = (parse_record(raw.result(), self._where) if job.code is None
                          else checkout_record(raw.result(), job.code, name))
                run = rebuild(record, job.profile)  # a record that does not fit fails here
                if self._store is not None:
                    self._store.write(stored_key, record)
                    with self._kept_lock:
                        self._kept += 1
                out.set_result(run)
            except BaseException as exc:  # the caller sees it at result(); the bar counts it
                self.progress.finished(label, None)
                out.set_exception(self._explained(exc, name, job))
            else:
                self.progress.finished(label, record["seconds"])

        backend.submit(job, name).add_done_callback(finished)
        return out

    def _explained(self, exc: BaseException, name: str, job: RunJob) -> BaseException:
        """A lost pool's error, with what is kept and what a rerun does."""
        if job.code is not None and isinstance(exc, (KeyError, TypeError)):
            return CheckoutRunFailed(f"{job.code.label}: {name}: its worker's result does not "
                                     f"fit protocol {PROTOCOL} ({type(exc).__name__}: {exc})")
        if isinstance(exc, BrokenProcessPool):
            exc = LocalWorkerCrashed(f"{name}: a local worker process died (out of memory or a "
                                     "crash in native code?)")
        if not isinstance(exc, PoolLost):
            return exc
        if self._store is None:
            kept = "no results folder was given, so no finished run is kept"
        else:
            kept = (f"{self._kept} finished run(s) are kept in {self._store.folder}; the same "
                    f"command again trains only the {len(self._runs) - self._kept} missing")
        return type(exc)(f"{exc}; {kept}")

    def result(self, key: tuple) -> RunTrace:
        return self._runs[key].result()

    def close(self, drain: bool = False) -> None:
        """``drain``: let the runs still going finish (and be kept) first; otherwise those not
        finished are cancelled (Ctrl-C, an error of the caller's)."""
        with contextlib.ExitStack() as closing:  # each closes, the last first, whatever fails
            closing.callback(self.progress.close)
            closing.callback(self._backend.close)
            if self._checkouts is not None:
                closing.callback(self._checkouts.close)
            if drain:
                wait(list(self._runs.values()))

    def __enter__(self) -> RunPool:
        return self

    def __exit__(self, kind, exc, tb) -> None:
        self.close(drain=isinstance(exc, LostRun))
