"""A realistic-size synthetic Layout B table for the data benchmarks (validation, loading)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

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


def write_layout_b(root: Path) -> pd.DataFrame:
    """events.parquet, stats.csv and oc.csv under ``root``; returns the events."""
    events, stats, labels = make_events()
    events.to_parquet(root / "events.parquet", index=False)
    stats.to_csv(root / "stats.csv", index=False)
    labels.to_csv(root / "oc.csv", index=False)
    return events
