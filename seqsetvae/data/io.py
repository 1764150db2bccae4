"""Readers for the data contract (docs/reference/data-checks.md: the data contract).

Layout A: ``DATA_DIR/{train,valid,test}/<patient_id>.parquet`` with columns variable, value,
minute and optional set_index; ``stats.csv`` (variable, mean, std); ``oc.csv`` (id, label).
Layout B: one long parquet/CSV table with a patient id column and optional split column.
Every reader returns plain pandas objects; failures raise DataError naming the file. The rules
the side tables must meet are those of ``rules.py``, which the validator applies too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .errors import DataError
from .rules import not_binary, not_finite, numbers, repeated

SPLITS = ("train", "valid", "test")
EVENT_COLUMNS = ("variable", "value", "minute")
DEFAULT_ID_COL = "ts_id"
DEFAULT_LABEL_COL = "in_hospital_mortality"


@dataclass
class EventTable:
    """Long events of one split: columns patient_id (str), variable (str), value, minute,
    optional set_index; ``sources`` maps patient id to the file it came from."""

    events: pd.DataFrame
    sources: dict[str, str]
    empty_patients: list[str]  # files that held no rows (kept so labels stay aligned)


def read_table(path: str | Path, text_columns: tuple[str, ...] = ()) -> pd.DataFrame:
    """A parquet or CSV file as a DataFrame; unreadable files raise DataError naming the path.
    ``text_columns`` (ids) are read as strings, so "001" stays "001"."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        if path.suffix == ".parquet":
            df = pq.ParquetFile(path).read().to_pandas()
            for col in text_columns:
                if col in df.columns:
                    df[col] = df[col].astype(str)
            return df
        if path.suffix in (".csv", ".gz"):
            return pd.read_csv(path, dtype=dict.fromkeys(text_columns, str))
    except (pa.ArrowException, OSError, ValueError, pd.errors.ParserError) as exc:
        raise DataError(f"{path}: unreadable ({type(exc).__name__}: {exc})") from None
    raise DataError(f"{path}: expected a .parquet or .csv file")


def require_columns(df, columns, where: str) -> None:
    """``df``: a DataFrame or an Arrow schema."""
    found = list(df.names if isinstance(df, pa.Schema) else df.columns)
    missing = [c for c in columns if c not in found]
    if missing:
        raise DataError(f"{where}: missing column(s) {missing}; found {found}")


def patient_files(data_dir: str | Path, split: str) -> list[Path]:
    split_dir = Path(data_dir) / split
    if not split_dir.is_dir():
        raise DataError(f"{split_dir}: split directory not found")
    return sorted(split_dir.glob("*.parquet"))


def read_layout_a(data_dir: str | Path, split: str) -> EventTable:
    """All patient files of one split as one long table."""
    tables, sources, empty = [], {}, []
    for path in patient_files(data_dir, split):
        pid = path.stem
        try:
            table = pq.ParquetFile(path).read()
        except (pa.ArrowException, OSError) as exc:
            raise DataError(f"{path}: unreadable ({type(exc).__name__}: {exc})") from None
        require_columns(table.schema, EVENT_COLUMNS, str(path))
        keep = [c for c in (*EVENT_COLUMNS, "set_index") if c in table.column_names]
        sources[pid] = str(path)
        if table.num_rows == 0:
            empty.append(pid)
            continue
        try:
            table = table.select(keep).cast(pa.schema([_ARROW_TYPES[c] for c in keep]))
        except (pa.ArrowException, ValueError) as exc:
            raise DataError(f"{path}: column types must be variable: text, value and minute: "
                            f"numbers, set_index: integer ({exc})") from None
        tables.append(table.append_column("patient_id", pa.array([pid] * table.num_rows)))
    if not sources:
        raise DataError(f"{Path(data_dir) / split}: no patient .parquet files")
    if not tables:
        return EventTable(_empty_events(), sources, empty)
    # one Arrow concatenation and one pandas conversion, rather than a DataFrame per file
    events = pa.concat_tables(tables, promote_options="default").to_pandas()
    return EventTable(events[["patient_id", *keep_union(events)]], sources, empty)


_ARROW_TYPES = {"variable": pa.field("variable", pa.string()),
                "value": pa.field("value", pa.float64()),
                "minute": pa.field("minute", pa.float64()),
                "set_index": pa.field("set_index", pa.int64())}


def keep_union(events: pd.DataFrame) -> list[str]:
    return [c for c in (*EVENT_COLUMNS, "set_index") if c in events.columns]


def read_layout_b(path: str | Path, split: str | None = None, patient_col: str = "patient_id",
                  split_col: str = "split") -> EventTable:
    """One long table; ``split`` selects rows of that split when the table has a split column."""
    df = read_table(path, text_columns=(patient_col, split_col))
    require_columns(df, (patient_col, *EVENT_COLUMNS), str(path))
    if split is not None:
        if split_col not in df.columns:
            raise DataError(f"{path}: no {split_col!r} column, so split {split!r} cannot be "
                            "selected; add the column (train/valid/test)")
        df = df[df[split_col] == split]
    df = df.rename(columns={patient_col: "patient_id"})  # already text: read_table's text_columns
    sources = {pid: f"{path} (patient {pid})" for pid in df["patient_id"].unique().tolist()}
    return EventTable(df.reset_index(drop=True), sources, [])


def read_stats(path: str | Path) -> pd.DataFrame:
    """The params map: index variable (str), columns mean, std (float)."""
    df = read_table(path)
    require_columns(df, ("variable", "mean", "std"), str(path))
    df = df.assign(variable=df["variable"].astype(str))
    dup = df["variable"][repeated(df["variable"])]
    if len(dup):
        raise DataError(f"{path}: variable(s) listed twice: {sorted(set(dup))}")
    for col in ("mean", "std"):
        num = numbers(df[col])
        bad = df["variable"][not_finite(num)]
        if len(bad):
            raise DataError(f"{path}: column {col!r} is not a finite number for variable(s) "
                            f"{list(bad)}")
        df[col] = num
    return df.set_index("variable")[["mean", "std"]]


def read_labels(path: str | Path, id_col: str = DEFAULT_ID_COL,
                label_col: str = DEFAULT_LABEL_COL) -> pd.Series:
    """Labels indexed by patient id (str). Raises on duplicates, missing or non-binary labels."""
    df = read_table(path, text_columns=(id_col,))
    require_columns(df, (id_col, label_col), str(path))
    ids = df[id_col].astype(str)
    dup = ids[repeated(ids)]
    if len(dup):
        raise DataError(f"{path}: patient(s) with more than one label row: {sorted(set(dup))[:10]}")
    bad = not_binary(df[label_col])
    if bad.any():
        rows = [f"row {i + 2} (patient {ids.iloc[i]}: {df[label_col].iloc[i]})"
                for i in np.flatnonzero(bad)[:10]]
        raise DataError(f"{path}: column {label_col!r} must be 0 or 1; bad: {', '.join(rows)}")
    return pd.Series(numbers(df[label_col]).astype(np.float32), index=ids.to_numpy(),
                     name=label_col)


def read_embeddings(path: str | Path, key_col: str = "Key") -> pd.DataFrame:
    """cached.csv: one row per variable, a key column and D float columns."""
    df = read_table(path)
    require_columns(df, (key_col,), str(path))
    keys = df[key_col].astype(str)
    dup = keys[repeated(keys)]
    if len(dup):
        raise DataError(f"{path}: variable(s) with several embedding rows: {sorted(set(dup))}")
    values = df.drop(columns=key_col).apply(numbers)
    if values.shape[1] == 0 or not_finite(values.to_numpy()).any():
        raise DataError(f"{path}: embedding columns must be finite floats")
    return values.set_axis(pd.Index(keys, name=key_col)).astype(np.float32)


def _empty_events() -> pd.DataFrame:
    return pd.DataFrame({"patient_id": pd.Series(dtype=str), "variable": pd.Series(dtype=str),
                         "value": pd.Series(dtype=float), "minute": pd.Series(dtype=float)})
