"""Shared set-up for the benchmarks: the training step under test, its per-set loop reference,
and a GEMM peak timed once per session (the denominator of every fraction-of-peak figure)."""

from __future__ import annotations

import os

import pytest
import torch

from seqsetvae import perf
from step_case import GEMM_DTYPES, PRECISIONS, TARGET_STEP_SPEEDUP, StepCase, make_step_case


def pytest_addoption(parser):  # --precision and --device: the root conftest.py
    parser.addoption("--compile", action="store_true", default=False,
                     help="wrap the model in torch.compile for the step benchmarks "
                          "(or set SEQSETVAE_BENCH_COMPILE=1)")
    parser.addoption("--threads", type=int, default=None,
                     help="torch intra-op threads (or SEQSETVAE_BENCH_THREADS); on a shared box "
                          "fewer threads than cores avoids OpenMP stalls behind other processes")


def pytest_configure(config):
    config.addinivalue_line("markers", "gate: short same-run-ratio benchmark checks for CI")
    threads = config.getoption("--threads") or os.environ.get("SEQSETVAE_BENCH_THREADS")
    if threads:
        torch.set_num_threads(int(threads))


@pytest.fixture(scope="session")
def use_compile(pytestconfig) -> bool:
    return pytestconfig.getoption("--compile") or os.environ.get("SEQSETVAE_BENCH_COMPILE") == "1"


@pytest.fixture(scope="session")
def precision(pytestconfig) -> str:
    """fp32 (default) or bf16; fractions of peak are then against a GEMM of the same dtype."""
    chosen = (pytestconfig.getoption("--precision")
              or os.environ.get("SEQSETVAE_BENCH_PRECISION", "fp32"))
    if chosen not in PRECISIONS:
        raise pytest.UsageError(f"--precision {chosen}: the benchmarks run "
                                f"{' or '.join(PRECISIONS)}")
    return chosen


@pytest.fixture(scope="session")
def device(pytestconfig) -> torch.device:
    chosen = pytestconfig.getoption("--device")
    return torch.device(chosen or ("cuda" if torch.cuda.is_available() else "cpu"))


class GemmPeak:
    """The best square-matmul rate (in the benchmarks' precision) seen in this run, sampled
    around every benchmark: one sample at session start can land in a burst of load from other
    processes and deflate the denominator (fractions above 1). At session end every registered
    benchmark's fraction is recomputed against the final best, before pytest-benchmark writes
    its JSON. 1024^3 saturates a CPU; a large GPU needs 8192^3."""

    def __init__(self, device: torch.device, precision: str):
        self.device, self.precision, self.best, self._infos = device, precision, 0.0, []
        self.size = 8192 if device.type == "cuda" else 1024

    def sample(self) -> float:
        rate = perf.gemm_peak_gflops(self.size, rounds=10, device=self.device,
                                     dtype=GEMM_DTYPES[self.precision])
        self.best = max(self.best, rate)
        return self.best

    def register(self, info: dict) -> None:
        self._infos.append(info)
        self.finalize()

    def finalize(self) -> None:
        for info in self._infos:
            info["gemm_peak_gflops"] = self.best
            info["precision"] = self.precision
            info["fraction_of_gemm_peak"] = info.get("achieved_gflops", 0.0) / self.best
            if "reference_s" in info:  # the speedup if every FLOP of the step ran at the peak
                ideal_step_s = info["gflop_per_step"] / self.best
                info["speedup_ceiling_at_gemm_peak"] = info["reference_s"] / ideal_step_s
                info["gemm_fraction_needed_for_target"] = (
                    TARGET_STEP_SPEEDUP / info["speedup_ceiling_at_gemm_peak"])
            info["torch_threads"] = torch.get_num_threads()


@pytest.fixture(scope="session")
def gemm_peak(device, precision):
    tracker = GemmPeak(device, precision)
    tracker.sample()
    yield tracker
    tracker.finalize()


@pytest.fixture(scope="session")
def make_step(device, use_compile, precision):
    def make(preset_name: str, shape: tuple[int, int, int], compile_model: bool | None = None,
             overrides: dict | None = None) -> StepCase:
        compiled = use_compile if compile_model is None else compile_model
        return make_step_case(preset_name, shape, device, compiled, overrides, precision)

    return make
