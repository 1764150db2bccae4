"""Data throughput: one epoch of BucketBatchSampler batches collated to padded tensors, from
memory and from a parquet file on disk (read, z-score, pack, then collate).

The target is >= 1,000,000 events/s at the training batch size, so data never limits a step
that processes a few thousand events. Nothing here does matmuls, so achieved_gflops and
fraction_of_gemm_peak are reported as 0 (kept for a uniform JSON schema).
"""

from __future__ import annotations

import numpy as np
import pytest

from event_tables import write_layout_b
from seqsetvae import perf
from seqsetvae.data import BucketBatchSampler, DataSource, collate
from tests.factories import random_packed

# ~1000 ICU stays, 1-100 timestamps each, 1-20 measurements per timestamp: ~0.5 M events
NUM_PATIENTS, MAX_SETS, MAX_EVENTS = 1000, 100, 20


@pytest.fixture(scope="module")
def packed():
    return random_packed(NUM_PATIENTS, MAX_SETS, MAX_EVENTS, num_variables=100, seed=1)


def collate_epoch(data, batch_size: int) -> list:
    """Sample and collate every batch of one epoch (checked after timing, not inside it: a
    torch reduction per batch costs about as much as collating a small batch)."""
    sampler = BucketBatchSampler(data.num_sets, batch_size, shuffle=True, seed=0)
    return [collate(data, idx) for idx in sampler]


def events_in(batches) -> int:
    return sum(b.num_events for b in batches)


@pytest.mark.parametrize("batch_size", [4, 32])
def test_collate_epoch(benchmark, packed, gemm_peak, batch_size):
    batches = benchmark.pedantic(collate_epoch, args=(packed, batch_size), rounds=5,
                                 warmup_rounds=1, iterations=1)
    assert events_in(batches) == packed.num_events
    seconds = perf.best_benchmark_time(benchmark, lambda: collate_epoch(packed, batch_size))
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


@pytest.fixture(scope="module")
def layout_b(tmp_path_factory):
    """400,000 events of 15,000 patients in one parquet file, with stats.csv and oc.csv."""
    root = tmp_path_factory.mktemp("layout_b")
    write_layout_b(root)
    return DataSource.resolve(events=root / "events.parquet")


def test_load_and_collate_epoch(benchmark, layout_b, gemm_peak):
    """What a training run pays before its first step (read, z-score, pack the train split),
    plus one epoch of batches; each part is also timed on its own. The Layout B table has ~4
    events per set, so a batch of 4 patients holds ~100 events and per-batch overhead shows."""
    def load_and_collate():
        data = layout_b.load("train")
        return data, collate_epoch(data, batch_size=4)

    data, batches = benchmark.pedantic(load_and_collate, rounds=3, warmup_rounds=1,
                                       iterations=1)
    assert events_in(batches) == data.num_events
    seconds = perf.best_benchmark_time(benchmark, load_and_collate)
    load_s = perf.time_callable(lambda: layout_b.load("train"), rounds=3).best
    collate_s = perf.time_callable(lambda: collate_epoch(data, 4), rounds=3).best
    info = perf.throughput_info(seconds, events=data.num_events, patients=len(data), flops=0)
    info.update(epoch_s=seconds, num_events=data.num_events, batches=len(batches),
                load_s=load_s, load_events_per_s=data.num_events / load_s,
                collate_s=collate_s, collate_events_per_s=data.num_events / collate_s)
    benchmark.extra_info.update(info)
    gemm_peak.register(benchmark.extra_info)
