"""Shared set-up for the benchmarks: the training step under test, its per-set loop reference,
and a GEMM peak timed once per session (the denominator of every fraction-of-peak figure)."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

# tests/ is not a package on the import path when pytest starts from benchmarks/
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from seqsetvae import perf  # noqa: E402
from seqsetvae.config import preset  # noqa: E402
from seqsetvae.data import collate  # noqa: E402
from seqsetvae.model import build_model  # noqa: E402
from tests.factories import random_packed  # noqa: E402
from tests.reference import reference_forward  # noqa: E402

NUM_VARIABLES = 100


def pytest_addoption(parser):
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
def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class GemmPeak:
    """The best fp32 1024^3 matmul rate seen in this run, sampled around every benchmark: one
    sample at session start can land in a burst of load from other processes and deflate the
    denominator (fractions above 1). At session end every registered benchmark's fraction is
    recomputed against the final best, before pytest-benchmark writes its JSON."""

    def __init__(self, device: torch.device):
        self.device, self.best, self._infos = device, 0.0, []

    def sample(self) -> float:
        self.best = max(self.best, perf.gemm_peak_gflops(1024, rounds=10, device=self.device))
        return self.best

    def register(self, info: dict) -> None:
        self._infos.append(info)
        self.finalize()

    def finalize(self) -> None:
        for info in self._infos:
            info["gemm_peak_gflops"] = self.best
            info["fraction_of_gemm_peak"] = info.get("achieved_gflops", 0.0) / self.best
            info["torch_threads"] = torch.get_num_threads()


@pytest.fixture(scope="session")
def gemm_peak(device):
    tracker = GemmPeak(device)
    tracker.sample()
    yield tracker
    tracker.finalize()


@dataclass
class StepCase:
    """One training-step configuration: a model, an AdamW optimizer and a fixed batch."""

    model: torch.nn.Module
    forward: torch.nn.Module  # the model itself, or its torch.compile wrapper
    optimizer: torch.optim.Optimizer
    batch: object
    device: torch.device
    num_events: int
    num_patients: int

    def step(self) -> None:
        """Forward, backward, AdamW step, zero_grad: one optimizer step of training."""
        out = self.forward(self.batch, step=1)
        out.loss.backward()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)

    def reference(self) -> None:
        """The per-set loop reference, forward and backward (no optimizer step)."""
        out = reference_forward(self.model, self.batch, step=1)
        out.loss.backward()
        self.model.zero_grad(set_to_none=True)

    def sync(self) -> None:
        perf.synchronize(self.device)


def fixed_batch(shape: tuple[int, int, int], seed: int = 0):
    """Every patient has exactly S sets of exactly N events: no padding, so events/s is exact."""
    b, s, n = shape
    data = random_packed(b, s, n, num_variables=NUM_VARIABLES, seed=seed, min_sets=s,
                         min_events=n)
    return collate(data, range(b))


@pytest.fixture(scope="session")
def make_step(device, use_compile):
    def make(preset_name: str, shape: tuple[int, int, int], compile_model: bool | None = None):
        torch.manual_seed(0)
        model = build_model(NUM_VARIABLES, preset(preset_name)).to(device).train()
        batch = fixed_batch(shape).to(device)
        compiled = use_compile if compile_model is None else compile_model
        forward = torch.compile(model) if compiled else model
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
        return StepCase(model, forward, optimizer, batch, device, batch.num_events, shape[0])

    return make
