"""Corrupted copies of a small clean Layout A dataset, one kind of damage per function.

Every function takes the dataset's root (a copy the caller owns) and returns what the validator
should name: the file, patient or variable it damaged.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

ID, LABEL = "ts_id", "in_hospital_mortality"


def patient_file(root: Path, split: str = "train", n: int = 0) -> Path:
    return sorted((root / split).glob("*.parquet"))[n]


def read(path: Path) -> pd.DataFrame:
    return pq.read_table(path).to_pandas()


def write(df: pd.DataFrame, path: Path) -> Path:
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), path)
    return path


def edit_csv(path: Path, fn) -> None:
    fn(pd.read_csv(path)).to_csv(path, index=False)


def truncate(root: Path) -> Path:
    f = patient_file(root)
    f.write_bytes(f.read_bytes()[: len(f.read_bytes()) // 2])
    return f


def string_values(root: Path) -> Path:
    f = patient_file(root)
    df = read(f).astype({"value": str})  # a text column, as a bad export writes it
    df.loc[2, "value"] = "high"
    return write(df, f)


def drop_minute(root: Path) -> Path:
    f = patient_file(root, n=1)
    return write(read(f).drop(columns="minute"), f)


def inf_value(root: Path) -> Path:
    f = patient_file(root)
    df = read(f)
    df.loc[3, "value"] = np.inf
    return write(df, f)


def nan_minute(root: Path) -> Path:
    f = patient_file(root)
    df = read(f)
    df.loc[1, "minute"] = np.nan
    return write(df, f)


def reverse_rows(root: Path) -> Path:
    f = patient_file(root)
    return write(read(f).iloc[::-1].reset_index(drop=True), f)


def set_index_two_minutes(root: Path) -> Path:
    """set_index 0 spans the first two time points."""
    f = patient_file(root)
    df = read(f)
    codes = pd.factorize(df["minute"])[0]
    df["set_index"] = np.maximum(codes - 1, 0).astype(np.int64)
    return write(df, f)


def set_index_on_some_rows(root: Path) -> Path:
    """set_index on the first rows of a patient only (the rest left empty)."""
    f = patient_file(root)
    df = read(f)
    codes = pd.Series(pd.factorize(df["minute"])[0], dtype="Int64")
    codes[len(df) // 2:] = pd.NA
    return write(df.assign(set_index=codes), f)


def set_index_in_one_file(root: Path) -> tuple[Path, Path]:
    """Clean, not corrupt: one patient file has set_index, the others (as the contract allows)
    have none. Returns that file and one without."""
    f = patient_file(root)
    df = read(f)
    write(df.assign(set_index=pd.factorize(df["minute"])[0].astype(np.int64)), f)
    return f, patient_file(root, n=1)


def duplicate_row(root: Path) -> Path:
    f = patient_file(root)
    df = read(f)
    return write(pd.concat([df, df.iloc[[0]]], ignore_index=True), f)


def conflicting_duplicate(root: Path) -> Path:
    f = patient_file(root)
    df = read(f)
    extra = df.iloc[[0]].assign(value=df["value"].iloc[0] + 1.0)
    return write(pd.concat([df, extra], ignore_index=True), f)


def drop_stats_variable(root: Path) -> str:
    var = read(patient_file(root))["variable"].iloc[0]
    edit_csv(root / "stats.csv", lambda s: s[s["variable"] != var])
    return var


def zero_std(root: Path) -> str:
    stats = pd.read_csv(root / "stats.csv")
    var = stats["variable"].iloc[1]
    stats.loc[1, "std"] = 0.0
    stats.to_csv(root / "stats.csv", index=False)
    return var


def label_two(root: Path) -> str:
    oc = pd.read_csv(root / "oc.csv")
    oc.loc[4, LABEL] = 2
    oc.to_csv(root / "oc.csv", index=False)
    return str(oc.loc[4, ID])


def duplicate_label(root: Path) -> str:
    oc = pd.read_csv(root / "oc.csv")
    pd.concat([oc, oc.iloc[[3]]]).to_csv(root / "oc.csv", index=False)
    return str(oc.loc[3, ID])


def delete_label(root: Path) -> tuple[str, Path]:
    f = patient_file(root, "valid")
    edit_csv(root / "oc.csv", lambda oc: oc[oc[ID].astype(str) != f.stem])
    return f.stem, f


def one_class(root: Path) -> None:
    edit_csv(root / "oc.csv", lambda oc: oc.assign(**{LABEL: 0}))


def one_class_split(root: Path, split: str = "train", label: int = 0) -> str:
    """Every patient of ``split`` gets ``label``; the other splits keep both classes."""
    members = {p.stem for p in (root / split).glob("*.parquet")}
    edit_csv(root / "oc.csv", lambda oc: oc.assign(
        **{LABEL: np.where(oc[ID].astype(str).isin(members), label, oc[LABEL])}))
    return split


def drift(root: Path) -> None:
    """valid: all positive; train: one positive."""
    train = {p.stem for p in (root / "train").glob("*.parquet")}
    first = sorted(train)[0]

    def fn(oc):
        ids = oc[ID].astype(str)
        y = np.where(ids.isin(train), (ids == first).astype(int), oc[LABEL])
        valid = {p.stem for p in (root / "valid").glob("*.parquet")}
        return oc.assign(**{LABEL: np.where(ids.isin(valid), 1, y)})
    edit_csv(root / "oc.csv", fn)


def leak(root: Path) -> str:
    f = patient_file(root)
    shutil.copy(f, root / "test" / f.name)
    return f.stem


def empty_file(root: Path) -> Path:
    f = patient_file(root, "test")
    return write(read(f).iloc[:0], f)


def embeddings(root: Path, missing: bool = True, nan_row: bool = False,
               text_column: bool = False) -> tuple[Path, str]:
    stats = pd.read_csv(root / "stats.csv")
    rng = np.random.default_rng(0)
    emb = pd.DataFrame(rng.normal(size=(len(stats), 4)), columns=[f"d{i}" for i in range(4)])
    emb.insert(0, "Key", stats["variable"])
    gone = str(stats["variable"].iloc[-1])
    if missing:
        emb = emb.iloc[:-1]
    if nan_row:
        emb.loc[0, "d3"] = np.nan
    if text_column:  # every row the same width, but one column is not numbers
        emb["d2"] = "high"
    emb.to_csv(root / "cached.csv", index=False)
    return root / "cached.csv", gone


def drop_split_rows(events: Path, split: str = "valid") -> str:
    """Layout B: the table keeps its split column but has no rows of ``split``."""
    df = pd.read_parquet(events)
    df[df["split"] != split].to_parquet(events, index=False)
    return split


def to_layout_b(root: Path, out: Path) -> Path:
    """The same data as one long table with patient_id and split columns."""
    frames = [read(f).assign(patient_id=f.stem, split=split)
              for split in ("train", "valid", "test") for f in sorted((root / split).glob("*"))]
    df = pd.concat(frames, ignore_index=True)
    out.mkdir(parents=True, exist_ok=True)
    df.to_parquet(out / "events.parquet", index=False)
    shutil.copy(root / "stats.csv", out / "stats.csv")
    shutil.copy(root / "oc.csv", out / "oc.csv")
    return out / "events.parquet"
