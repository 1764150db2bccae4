"""Small random inputs for model tests."""

from __future__ import annotations

import numpy as np

from seqsetvae.config import Config, preset
from seqsetvae.data.collate import Batch, collate
from seqsetvae.data.packed import PackedData


def random_packed(num_patients: int, max_sets: int, max_events: int, num_variables: int = 10,
                  seed: int = 0, min_sets: int = 1, min_events: int = 1) -> PackedData:
    rng = np.random.default_rng(seed)
    n_sets = rng.integers(min_sets, max_sets + 1, num_patients)
    sizes = rng.integers(min_events, min(max_events, num_variables) + 1, int(n_sets.sum()))
    times = np.concatenate([np.sort(rng.uniform(0, 5000, n)) for n in n_sets]).astype(np.float32)
    num_events = int(sizes.sum())
    return PackedData(
        patient_ids=np.array([f"p{i}" for i in range(num_patients)], dtype=object),
        labels=rng.integers(0, 2, num_patients).astype(np.float32),
        set_offsets=np.concatenate([[0], np.cumsum(n_sets)]).astype(np.int64),
        event_offsets=np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
        set_times=times,
        # a set holds each variable at most once, as in real data (set_index / minute grouping)
        var_idx=np.concatenate([rng.choice(num_variables, k, replace=False) for k in sizes])
        if num_events else np.zeros(0, np.int64),
        values=rng.normal(size=num_events).astype(np.float32) * 2,
        variables=[f"v{i}" for i in range(num_variables)],
    )


def random_batch(B: int = 3, S: int = 5, N: int = 4, seed: int = 0, **kw) -> Batch:
    return collate(random_packed(B, S, N, seed=seed, **kw), range(B))


# the widths every small test model uses, in the API and on the command line
SMALL_SIZES = {"model_dim": 32, "latent_dim": 8, "ff_dim": 64, "num_inducing": 4}


def small_flags(**more) -> list[str]:
    """``--set`` flags for SMALL_SIZES and ``more`` config fields."""
    return [arg for k, v in {**SMALL_SIZES, **more}.items() for arg in ("--set", f"{k}={v}")]


def small_config(name: str = "baseline", **overrides) -> Config:
    """A preset at test size: same knobs, small widths."""
    return preset(name).replace(**{**SMALL_SIZES, "set_heads": 4, **overrides})
