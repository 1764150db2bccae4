"""seqsetvae.perf: exact FLOP counts, timing bookkeeping, peak and memory helpers."""

from __future__ import annotations

import torch
from torch import nn

from seqsetvae import perf


def test_flop_count_of_a_matmul_is_exact():
    a, b = torch.randn(64, 32), torch.randn(32, 16)
    assert perf.count_flops(lambda: a @ b) == 2 * 64 * 32 * 16


def test_flop_count_of_linear_forward_and_backward():
    layer = nn.Linear(32, 16)
    x = torch.randn(8, 32, requires_grad=True)
    # forward x @ W^T, backward dX = dY @ W and dW = dY^T @ X: three equal-sized matmuls
    assert perf.count_flops(lambda: layer(x).sum().backward()) == 3 * 2 * 8 * 32 * 16


def test_elementwise_ops_count_no_flops():
    x = torch.randn(100)
    assert perf.count_flops(lambda: (x * x + 1).exp()) == 0


def test_time_callable_runs_warmup_then_rounds():
    calls = []
    timing = perf.time_callable(lambda: calls.append(1), rounds=4, warmup=2)
    assert len(calls) == 6 and len(timing.seconds) == 4
    assert 0 <= timing.best <= timing.median


def test_time_interleaved_alternates_callables():
    order = []
    out = perf.time_interleaved({"a": lambda: order.append("a"), "b": lambda: order.append("b")},
                                rounds=2, warmup=1)
    assert order == ["a", "b", "a", "b", "a", "b"]
    assert len(out["a"].seconds) == len(out["b"].seconds) == 2


def test_gemm_peak_is_a_positive_rate():
    assert perf.gemm_peak_gflops(n=128, rounds=3) > 0


def test_peak_memory_sees_a_large_temporary_allocation():
    size = 64 * 2**20  # 64 MiB, touched so the pages become resident

    def alloc():
        t = torch.ones(size // 4)
        return float(t[::4096].sum())

    mem = perf.peak_memory(alloc)
    assert mem.source in ("rss-sampled", "ru_maxrss")
    if mem.source == "rss-sampled":
        assert mem.delta_bytes >= size // 2  # sampling may miss a little; not half of it


def test_throughput_info_divides_by_the_time():
    info = perf.throughput_info(0.5, events=1000, patients=4, flops=10**9, gemm_peak=4.0)
    assert info == {"events_per_s": 2000.0, "patients_per_s": 8.0, "achieved_gflops": 2.0,
                    "fraction_of_gemm_peak": 0.5}


def test_best_benchmark_time_reads_the_stats_or_times_one_call():
    from types import SimpleNamespace

    calls = []
    kept = SimpleNamespace(stats=SimpleNamespace(stats=SimpleNamespace(min=0.25)))
    assert perf.best_benchmark_time(kept, lambda: calls.append(1)) == 0.25
    assert calls == []  # the benchmark's own rounds are the measurement
    disabled = SimpleNamespace(stats=None)
    assert perf.best_benchmark_time(disabled, lambda: calls.append(1)) > 0
    assert calls == [1]
