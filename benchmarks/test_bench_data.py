"""Data loading throughput: one epoch of BucketBatchSampler batches collated to padded tensors.

The target is >= 1,000,000 events/s at the training batch size, so collation never limits a step
that takes ~0.1-1 s for a few thousand events. Collation does no matmuls, so achieved_gflops and
fraction_of_gemm_peak are reported as 0 (kept for a uniform JSON schema).
"""

from __future__ import annotations

import numpy as np
import pytest

from seqsetvae import perf
from seqsetvae.data import BucketBatchSampler, collate
from tests.factories import random_packed

# ~1000 ICU stays, 1-100 timestamps each, 1-20 measurements per timestamp: ~0.5 M events
NUM_PATIENTS, MAX_SETS, MAX_EVENTS = 1000, 100, 20


@pytest.fixture(scope="module")
def packed():
    return random_packed(NUM_PATIENTS, MAX_SETS, MAX_EVENTS, num_variables=100, seed=1)


def collate_epoch(data, batch_size: int) -> int:
    """Sample and collate every batch of one epoch; returns the real events seen (a check)."""
    sampler = BucketBatchSampler(data.num_sets, batch_size, shuffle=True, seed=0)
    return sum(collate(data, idx).num_events for idx in sampler)


@pytest.mark.parametrize("batch_size", [4, 32])
def test_collate_epoch(benchmark, packed, gemm_peak, batch_size):
    events = benchmark.pedantic(collate_epoch, args=(packed, batch_size), rounds=5,
                                warmup_rounds=1, iterations=1)
    assert events == packed.num_events
    if benchmark.stats is not None:
        seconds = benchmark.stats.stats.min
    else:
        seconds = perf.time_callable(lambda: collate_epoch(packed, batch_size), 1, 0).best
    info = perf.throughput_info(seconds, events=packed.num_events, patients=len(packed), flops=0)
    info.update(epoch_s=seconds, num_events=packed.num_events,
                padding_fraction=padding_fraction(packed, batch_size))
    benchmark.extra_info.update(info)
    gemm_peak.register(benchmark.extra_info)


def padding_fraction(data, batch_size: int) -> float:
    """Share of padded [B, S, N] slots: what bucketing saves the model, reported alongside."""
    slots = 0
    for idx in BucketBatchSampler(data.num_sets, batch_size, shuffle=True, seed=0):
        slots += int(np.prod(collate(data, idx).var_idx.shape))
    return 1.0 - data.num_events / slots
