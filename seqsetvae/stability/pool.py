"""Where traced runs happen: spawned worker processes, one intra-op thread each, every
(dataset, config, seed, fault) run once. Shared by the stability suite and `seqsetvae compare`."""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import Future, ProcessPoolExecutor

from ..config import Config
from ..data.packed import PackedData
from .runs import Profile, RunTrace, traced_run_job


class RunPool:
    """``workers`` <= 1 runs inline (CUDA, or a single core); results do not depend on which
    process ran them, since every run is seeded from its own seed alone."""

    def __init__(self, workers: int | None = None, device: str = "cpu"):
        if workers is None:
            workers = 1 if device == "cuda" else min(2, os.cpu_count() or 1)
        self.device = device
        self._pool = ProcessPoolExecutor(
            workers, mp_context=multiprocessing.get_context("spawn")) if workers > 1 else None
        self._runs: dict[tuple, Future] = {}

    def submit(self, key: tuple, cfg: Config, name: str, train: PackedData, valid: PackedData,
               profile: Profile, seed: int, setup=None) -> Future:
        """Start the run named by ``key`` unless it was started before; returns its future."""
        if key not in self._runs:
            args = (cfg.to_flat(), name, train, valid, profile, seed, self.device, setup)
            if self._pool is not None:
                self._runs[key] = self._pool.submit(traced_run_job, *args)
            else:
                done: Future = Future()
                done.set_result(traced_run_job(*args))
                self._runs[key] = done
        return self._runs[key]

    def result(self, key: tuple) -> RunTrace:
        return self._runs[key].result()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)

    def __enter__(self) -> RunPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
