"""The runs on a Dask distributed cluster, named by its scheduler's address.

Each worker must run one task at a time (``dask worker ADDRESS --nthreads 1``): a run holds
process-wide state (torch's global seed and thread count, a fault patched into a module), so
two runs in one process would disturb each other. Workers must run this checkout's code; both
are checked on connecting and again for every run that comes back. A fault's module outside the
package (the suite's faults.py) is shipped to the workers with the job. Distributed is imported
only here, so a plain install without the ``cluster`` extra runs everything else.
"""

from __future__ import annotations

import dataclasses
import gc
import os
import sys
from concurrent.futures import Future

from ..config import ConfigError
from .runjob import RunJob, code_identity, record_job

SCHEDULER_ENV = "SEQSETVAE_SCHEDULER"  # e.g. tcp://host:8786; unset: the local process pool
CONNECT_TIMEOUT_S = 10
INSTALL_HINT = "pip install 'seqsetvae[cluster]'"


class ClusterError(ConfigError):
    """The scheduler cannot serve the runs; one line naming it."""


def default_scheduler() -> str | None:
    return os.environ.get(SCHEDULER_ENV) or None


def cluster_job(*args) -> str:
    """Worker entry point: refuses a worker that would run two tasks at once."""
    from distributed import get_worker

    worker = get_worker()
    if worker.state.nthreads != 1:
        raise ClusterError(f"worker {worker.address} runs {worker.state.nthreads} threads; "
                           "start it with --nthreads 1")
    return record_job(*args)


def setup_module(setup):
    """The module whose callable ``setup`` is (through a functools.partial)."""
    func = getattr(setup, "func", setup)
    return sys.modules[func.__module__]


class DaskBackend:
    """submit(job) -> a concurrent.futures.Future of the run's JSON text."""

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
        self._data: dict[int, tuple] = {}  # id(PackedData) -> (the object, its scattered future)
        self._shipped: set[str] = set()
        self._pending: list = []

    def _check_workers(self, timeout: float) -> None:
        try:
            self.client.wait_for_workers(1, timeout=timeout)
        except TimeoutError:
            raise ClusterError(f"scheduler {self.address}: no worker joined within "
                               f"{timeout:g} s") from None
        threads = {a: n for a, n in self.client.nthreads().items() if n != 1}
        other = {a: c for a, c in self.client.run(code_identity).items() if c != code_identity()}
        problems = []
        if threads:
            problems.append(f"worker(s) run more than one thread ({threads}): start each with "
                            f"`dask worker {self.address} --nthreads 1`")
        if other:
            problems.append(f"worker(s) {sorted(other)} run other code than this checkout "
                            f"({next(iter(other.values()))} against {code_identity()}): "
                            "install this checkout there")
        if problems:
            raise ClusterError(f"scheduler {self.address}: " + "; ".join(problems))

    def _scattered(self, data):
        if id(data) not in self._data:  # each dataset travels to the cluster once
            self._data[id(data)] = (data, self.client.scatter(data, hash=False))
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

    def submit(self, job: RunJob) -> Future:
        if job.setup is not None:
            self._ship(job.setup)
        here = dataclasses.replace(job, train=self._scattered(job.train),
                                   valid=self._scattered(job.valid))
        remote = self.client.submit(cluster_job, *here.args(), pure=False)
        self._pending.append(remote)
        local: Future = Future()

        def done(f):
            try:
                local.set_result(f.result())
            except BaseException as exc:  # a cancelled, failed or lost run
                local.set_exception(exc)

        remote.add_done_callback(done)
        return local

    def close(self) -> None:
        self.client.cancel([f for f in self._pending if not f.done()])
        self.client.close()
