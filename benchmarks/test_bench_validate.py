"""Validation speed on a realistic size: 400,000 events of 15,000 patients as one Layout B table,
and 15,000 Layout A patient files. Budgets (2-core machine): 20 s and 60 s."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from event_tables import write_layout_b
from seqsetvae.data import DataSource
from seqsetvae.validation import validate_dataset


@pytest.fixture(scope="module")
def bench_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench")
    events = write_layout_b(root)
    layout_a = root / "layout_a"
    bounds = np.flatnonzero(np.r_[True, events["patient_id"].to_numpy()[1:]
                                  != events["patient_id"].to_numpy()[:-1], True])
    table = pa.Table.from_pandas(events[["variable", "value", "minute"]], preserve_index=False)
    for split in ("train", "valid", "test"):
        (layout_a / split).mkdir(parents=True)

    def write(i):
        lo, hi = bounds[i], bounds[i + 1]
        pid, split = events["patient_id"].iat[lo], events["split"].iat[lo]
        pq.write_table(table.slice(lo, hi - lo), layout_a / split / f"{pid}.parquet")

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(write, range(len(bounds) - 1)))
    return root, len(events)


def _run(benchmark, source, n_events):
    times = []

    def once():
        t = time.perf_counter()
        report = validate_dataset(source)
        times.append(time.perf_counter() - t)
        return report

    report = benchmark.pedantic(once, rounds=1, iterations=1)
    benchmark.extra_info["events_per_s"] = round(n_events / times[0])
    benchmark.extra_info["seconds"] = round(times[0], 2)
    assert report.ok, [f for f in report.errors][:5]
    return times[0]


def test_layout_b_400k_events(benchmark, bench_data):
    root, n = bench_data
    src = DataSource.resolve(events=root / "events.parquet")
    assert _run(benchmark, src, n) < 20


def test_layout_a_15k_files(benchmark, bench_data):
    root, n = bench_data
    src = DataSource.resolve(root / "layout_a", root / "stats.csv", root / "oc.csv")
    assert _run(benchmark, src, n) < 60
