"""The model's dropout (seqsetvae.model.layers.dropout: four 16-bit lanes per 64-bit random word)
against torch's F.dropout (one Bernoulli draw per element), forward and backward, at the width
of the full profile's set-encoder rows: timed interleaved in the same run, best against best.
The ratio is recorded (speedup_vs_torch_dropout), not gated. Nothing here does matmuls, so
achieved_gflops and fraction_of_gemm_peak are reported as 0 (kept for a uniform JSON schema).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from seqsetvae import perf
from seqsetvae.model.layers import dropout

ROWS, WIDTH, P = 4096, 512, 0.1  # a full-width step's feed-forward rows (model_dim 256 x 2)


def forward_backward(fn, x: torch.Tensor):
    def run():
        x.grad = None
        fn(x, P, True).sum().backward()
    return run


def test_dropout_mask(benchmark):
    previous = torch.get_num_threads()
    torch.set_num_threads(1)  # as a stability run's worker
    try:
        x = torch.randn(ROWS, WIDTH, requires_grad=True)
        ours, theirs = forward_backward(dropout, x), forward_backward(F.dropout, x)
        times = perf.time_interleaved({"ours": ours, "torch": theirs}, rounds=5)
        benchmark.pedantic(ours, rounds=5, iterations=1, warmup_rounds=1)
    finally:
        torch.set_num_threads(previous)
    speedup = times["torch"].best / times["ours"].best
    benchmark.extra_info.update(speedup_vs_torch_dropout=speedup, achieved_gflops=0.0,
                                fraction_of_gemm_peak=0.0, elements=ROWS * WIDTH)
    print(f"dropout {times['ours'].seconds} F.dropout {times['torch'].seconds} "
          f"speedup {speedup:.2f}x")
