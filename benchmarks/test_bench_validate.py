"""Validation speed on a realistic size: 400,000 events of 15,000 patients as one Layout B table,
and 15,000 Layout A patient files. Budgets (2-core machine): 20 s and 60 s."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from seqsetvae.data import DataSource
from seqsetvae.data.validate import validate_dataset

PATIENTS, EVENTS, VARIABLES = 15_000, 400_000, 20


def make_events(seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Sorted events (patient, minute), stats and labels, all drawn with numpy at once."""
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(EVENTS - PATIENTS, np.full(PATIENTS, 1 / PATIENTS)) + 1
    patient = np.repeat(np.arange(PATIENTS), counts)
    # ~4 events per set: minutes are integer multiples of 60 within a patient
    minute = rng.integers(0, counts.repeat(counts) // 4 + 1) * 60.0
    order = np.lexsort((minute, patient))
    patient, minute = patient[order], minute[order]
    # distinct variables within a set (rank in set + a random offset), so the clean data has no
    # duplicate events; sets hold ~4 events, far fewer than VARIABLES
    new_set = np.r_[True, (patient[1:] != patient[:-1]) | (minute[1:] != minute[:-1])]
    set_id = np.cumsum(new_set) - 1
    rank = np.arange(EVENTS) - np.flatnonzero(new_set)[set_id]
    var = (rng.integers(0, VARIABLES, set_id[-1] + 1)[set_id] + rank) % VARIABLES
    names = np.array([f"v{i:02d}" for i in range(VARIABLES)], dtype=object)
    events = pd.DataFrame({"patient_id": np.char.mod("p%05d", patient),
                           "variable": names[var], "value": rng.normal(size=EVENTS),
                           "minute": minute})
    split = np.array(["train", "valid", "test"])[rng.choice(3, PATIENTS, p=[0.7, 0.15, 0.15])]
    events["split"] = split[patient]
    stats = pd.DataFrame({"variable": names, "mean": 0.0, "std": 1.0})
    labels = pd.DataFrame({"ts_id": np.char.mod("p%05d", np.arange(PATIENTS)),
                           "in_hospital_mortality": (rng.random(PATIENTS) < 0.2).astype(int)})
    return events, stats, labels


@pytest.fixture(scope="module")
def bench_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench")
    events, stats, labels = make_events()
    events.to_parquet(root / "events.parquet", index=False)
    stats.to_csv(root / "stats.csv", index=False)
    labels.to_csv(root / "oc.csv", index=False)
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
