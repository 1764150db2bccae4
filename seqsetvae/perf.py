"""Measurement helpers for benchmarks: timing, FLOP counting, a same-run GEMM peak, peak memory.

Everything here reports figures that are meaningful as *ratios within one run* (achieved FLOP/s
against a matmul peak timed in the same process, a step against a reference timed interleaved
with it): absolute times on a shared CPU box move with the load of other processes, ratios
much less.
"""

from __future__ import annotations

import os
import resource
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch.utils.flop_counter import FlopCounterMode


def synchronize(device: torch.device | str | None = None) -> None:
    """Wait for queued device work, so a wall-clock interval covers the kernels it launched."""
    if device is not None and torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


@dataclass
class Timing:
    seconds: list[float] = field(default_factory=list)  # one entry per timed round

    @property
    def best(self) -> float:
        # the minimum is the least noise-contaminated estimate on a shared machine
        return min(self.seconds)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def time_callable(fn: Callable[[], object], rounds: int = 5, warmup: int = 1,
                  device: torch.device | str | None = None) -> Timing:
    """Call ``fn`` ``warmup`` times untimed (allocator, caches, lazy init), then ``rounds``
    times timed."""
    for _ in range(warmup):
        fn()
    synchronize(device)
    timing = Timing()
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        synchronize(device)
        timing.seconds.append(time.perf_counter() - start)
    return timing


def time_interleaved(fns: dict[str, Callable[[], object]], rounds: int = 3, warmup: int = 1,
                     device: torch.device | str | None = None) -> dict[str, Timing]:
    """Time several callables in alternation (a b a b ...), so a burst of load from other
    processes hits all of them alike and their best-time ratio stays meaningful."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    synchronize(device)
    out = {name: Timing() for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            synchronize(device)
            out[name].seconds.append(time.perf_counter() - start)
    return out


def count_flops(fn: Callable[[], object]) -> int:
    """FLOPs of one call of ``fn`` (forward and backward alike), as torch's FlopCounterMode counts
    them: matmul-like ops only (mm, addmm, bmm, attention, conv), 2 FLOPs per multiply-add."""
    counter = FlopCounterMode(display=False)
    with counter:
        fn()
    return int(counter.get_total_flops())


def gemm_peak_gflops(n: int = 1024, rounds: int = 10, device: torch.device | str | None = None,
                     dtype: torch.dtype = torch.float32) -> float:
    """Best-of-``rounds`` GFLOP/s of an n x n @ n x n matmul: the attainable dense-GEMM rate of
    this process right now (same threads, same neighbours), the denominator of fraction-of-peak."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    timing = time_callable(lambda: a @ b, rounds=rounds, warmup=2, device=device)
    return 2 * n**3 / timing.best / 1e9


def _rss_bytes() -> int | None:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return None


@dataclass
class MemoryPeak:
    peak_bytes: int  # high-water mark during the call (device allocator, or process RSS on CPU)
    delta_bytes: int  # peak minus what was in use just before the call
    source: str  # "cuda.max_memory_allocated", "rss-sampled" or "ru_maxrss"


def peak_memory(fn: Callable[[], object], device: torch.device | str | None = None,
                interval_s: float = 0.0005) -> MemoryPeak:
    """Peak memory of one call of ``fn``.

    CUDA: the caching allocator's exact high-water mark. CPU: torch's allocations bypass Python's
    allocator (so tracemalloc cannot see them); a background thread samples the resident set
    size instead (torch ops release the GIL, so the sampler keeps running during kernels). Where
    /proc is missing, fall back to getrusage's lifetime maximum, which only ever rises.
    """
    if device is not None and torch.device(device).type == "cuda":
        synchronize(device)
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        fn()
        synchronize(device)
        peak = torch.cuda.max_memory_allocated(device)
        return MemoryPeak(peak, peak - before, "cuda.max_memory_allocated")

    before = _rss_bytes()
    if before is None:
        fn()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
        return MemoryPeak(peak, 0, "ru_maxrss")
    peak, done = [before], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _rss_bytes() or 0)
            time.sleep(interval_s)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        fn()
    finally:
        done.set()
        sampler.join()
    peak[0] = max(peak[0], _rss_bytes() or 0)
    return MemoryPeak(peak[0], peak[0] - before, "rss-sampled")


def best_benchmark_time(benchmark, fn: Callable[[], object],
                        device: torch.device | str | None = None) -> float:
    """The best round of a pytest-benchmark run, or one timed call of ``fn`` when the benchmark
    plugin is disabled (``--benchmark-disable``: no stats are kept)."""
    if benchmark.stats is not None:
        return benchmark.stats.stats.min
    return time_callable(fn, rounds=1, warmup=0, device=device).best


def throughput_info(seconds: float, *, events: int, patients: int, flops: int = 0,
                    gemm_peak: float | None = None) -> dict[str, float]:
    """The figures every benchmark reports, from one best time."""
    info = {"events_per_s": events / seconds, "patients_per_s": patients / seconds}
    gflops = flops / seconds / 1e9
    info["achieved_gflops"] = gflops
    if gemm_peak:
        info["fraction_of_gemm_peak"] = gflops / gemm_peak
    return info
