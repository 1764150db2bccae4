"""Tolerant reading for the checks: every file that can be read is kept, every one that cannot
becomes a ``files_readable`` finding. Unlike ``pack()`` nothing here stops at the first problem.

Layout A reads each patient file with pyarrow and concatenates the well-typed ones in Arrow (one
pandas conversion for the whole split); files with other column types go through pandas one by one
so the schema check can still point at their rows.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..data.errors import DataError
from ..data.io import EVENT_COLUMNS, SPLITS, read_table
from .base import Finding, RawData, error, warning

CHECK = "files_readable"
_TARGET = {"variable": pa.string(), "value": pa.float64(), "minute": pa.float64(),
           "set_index": pa.int64()}


def load_raw(source, splits=SPLITS) -> RawData:
    findings: list[Finding] = []
    if source.data_dir is not None:
        raw = _layout_a(source, tuple(splits), findings)
    elif source.events_path is not None:
        raw = _layout_b(source, tuple(splits), findings)
    else:
        findings.append(error(CHECK, "no data directory (Layout A) or events table (Layout B) "
                              "given", "(source)"))
        raw = RawData(source, tuple(splits), "A", _no_events(), _no_patients())
    raw.read_findings = findings + raw.read_findings
    raw.stats, raw.stats_file = _side_table(source.params_map_path, "stats (params map)", raw)
    # ids as text, exactly as the loader reads them ("007" stays "007")
    raw.labels, raw.labels_file = _side_table(source.label_path, "labels", raw,
                                              text_columns=(source.id_col,))
    if source.embeddings_path is not None:  # optional: absent is fine
        raw.embeddings, raw.embeddings_file = _side_table(source.embeddings_path, "embeddings",
                                                          raw)
    return raw


def _side_table(path, what: str, raw: RawData, text_columns: tuple[str, ...] = ()):
    if path is None:
        raw.read_findings.append(error(CHECK, f"no {what} file given or found beside the data",
                                       "(source)"))
        return None, ""
    try:
        return read_table(path, text_columns), str(path)
    except DataError as exc:  # the location names the file; the message need not repeat it
        raw.read_findings.append(error(CHECK, str(exc).removeprefix(f"{path}: "), str(path)))
    except Exception as exc:  # anything else the parsers throw is still a finding
        raw.read_findings.append(error(CHECK, f"unreadable ({type(exc).__name__}: {exc})",
                                       str(path)))
    return None, str(path)


# -- Layout A ------------------------------------------------------------------------------------
def _read_parquet(path: Path):
    try:
        return pq.ParquetFile(path).read(), None
    except Exception as exc:
        return None, f"unreadable ({type(exc).__name__}: {exc})"


def _fits(schema: pa.Schema) -> bool:
    """Required columns present with the types the fast path can cast without loss of meaning."""
    types = {f.name: f.type for f in schema}
    if any(c not in types for c in EVENT_COLUMNS):
        return False
    var = types["variable"]
    if pa.types.is_dictionary(var):
        var = var.value_type
    if not (pa.types.is_string(var) or pa.types.is_large_string(var)):
        return False
    if not all(pa.types.is_integer(types[c]) or pa.types.is_floating(types[c])
               for c in ("value", "minute")):
        return False
    return "set_index" not in types or pa.types.is_integer(types["set_index"])


def _layout_a(source, splits, findings) -> RawData:
    data_dir = Path(source.data_dir)
    if not data_dir.is_dir():
        findings.append(error(CHECK, "data directory not found", str(data_dir)))
        return RawData(source, splits, "A", _no_events(), _no_patients())
    jobs = []  # (split, path)
    for split in splits:
        folder = data_dir / split
        if not folder.is_dir():
            findings.append(error(CHECK, f"split directory {split!r} not found", str(folder)))
            continue
        files = sorted(folder.glob("*.parquet"))
        if not files:
            findings.append(error(CHECK, f"split {split!r} has no patient .parquet files",
                                  str(folder)))
        others = [p.name for p in folder.iterdir() if p.suffix != ".parquet" and p.is_file()]
        if others:
            findings.append(warning(CHECK, f"{len(others)} non-parquet file(s) ignored, e.g. "
                                    f"{others[0]}", str(folder)))
        jobs += [(split, p) for p in files]

    # Arrow releases the GIL while decoding, so a few threads overlap file reads.
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda job: _read_parquet(job[1]), jobs))

    fast, slow, meta = [], [], []  # meta: (pid, split, file, rows) per patient file
    unfit = []
    for (split, path), (table, problem) in zip(jobs, results):
        pid, name = path.stem, str(path)
        if problem:
            findings.append(error(CHECK, problem, name))
            meta.append((pid, split, name, -1))
            continue
        meta.append((pid, split, name, table.num_rows))
        if _fits(table.schema):
            if table.num_rows:
                fast.append((pid, split, name, _cast(table)))
            continue
        df = _to_pandas(table, name, findings)
        if df is None:
            continue
        if all(c in df.columns for c in EVENT_COLUMNS):
            if len(df):
                slow.append((pid, split, name, df))
        else:
            unfit.append((name, df))

    events = _combine_a(fast, slow)
    patients = pd.DataFrame(meta, columns=["patient_id", "split", "file", "rows"])
    raw = RawData(source, splits, "A", events, patients if len(meta) else _no_patients())
    raw.unfit = unfit
    return raw


def _cast(table: pa.Table) -> pa.Table:
    cols = [c for c in _TARGET if c in table.column_names]
    return pa.table({c: table.column(c).cast(_TARGET[c]) for c in cols})


def _to_pandas(table: pa.Table, name: str, findings) -> pd.DataFrame | None:
    try:
        return table.to_pandas()
    except Exception as exc:
        findings.append(error(CHECK, f"unreadable ({type(exc).__name__}: {exc})", name))
        return None


def _combine_a(fast, slow) -> pd.DataFrame:
    parts = []
    if fast:
        with_idx = any("set_index" in t.column_names for *_, t in fast)
        tables = [t if (not with_idx or "set_index" in t.column_names)
                  else t.append_column("set_index", pa.nulls(t.num_rows, pa.int64()))
                  for *_, t in fast]
        df = pa.concat_tables(tables).to_pandas()
        if with_idx:  # nullable ints so files without set_index read as missing, not NaN floats
            df["set_index"] = df["set_index"].astype("Int64")
        parts.append(_tag(df, [(p, s, f, t.num_rows) for p, s, f, t in fast]))
    for pid, split, name, df in slow:
        parts.append(_tag(df.reset_index(drop=True), [(pid, split, name, len(df))]))
    if not parts:
        return _no_events()
    return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]


def _tag(df: pd.DataFrame, owners) -> pd.DataFrame:
    """Prefix patient_id, split, file and the row within its file, one run per owner file."""
    lengths = np.array([n for *_, n in owners], dtype=np.int64)
    first = np.repeat(np.cumsum(lengths) - lengths, lengths)
    cols = {
        "patient_id": np.repeat(np.array([o[0] for o in owners], dtype=object), lengths),
        "split": np.repeat(np.array([o[1] for o in owners], dtype=object), lengths),
        "file": pd.Categorical(np.repeat(np.array([o[2] for o in owners], dtype=object),
                                         lengths)),
        "row": np.arange(int(lengths.sum()), dtype=np.int64) - first,
    }
    keep = [c for c in df.columns if c not in cols]
    return pd.concat([pd.DataFrame(cols), df[keep].reset_index(drop=True)], axis=1)


# -- Layout B ------------------------------------------------------------------------------------
def _layout_b(source, splits, findings) -> RawData:
    path = str(source.events_path)
    try:
        df = read_table(source.events_path, (source.patient_col, source.split_col))
    except DataError as exc:
        findings.append(error(CHECK, str(exc), path))
        return RawData(source, splits, "B", _no_events(), _no_patients())
    except Exception as exc:
        findings.append(error(CHECK, f"unreadable ({type(exc).__name__}: {exc})", path))
        return RawData(source, splits, "B", _no_events(), _no_patients())
    raw = RawData(source, splits, "B", _no_events(), _no_patients(), events_frame=df)
    pcol, scol = source.patient_col, source.split_col
    if pcol not in df.columns or not all(c in df.columns for c in EVENT_COLUMNS):
        return raw  # the schema check names the missing columns
    if scol in df.columns:
        split = df[scol].astype(str).to_numpy(object)
        keep = np.isin(split, list(splits))
    else:  # no split column: the whole table is one sequence pool
        split, keep = np.full(len(df), "all", dtype=object), np.ones(len(df), bool)
    ev = pd.DataFrame({"patient_id": df[pcol].astype(str).to_numpy(object), "split": split,
                       "file": pd.Categorical.from_codes(np.zeros(len(df), np.int8), [path]),
                       "row": np.arange(len(df), dtype=np.int64)})
    for c in (*EVENT_COLUMNS, "set_index"):
        if c in df.columns:
            ev[c] = df[c].to_numpy()
    raw.events = ev[keep].reset_index(drop=True)
    if scol in df.columns:  # Layout A's counterpart: a split directory without patient files
        for name in sorted(set(splits) - set(raw.events["split"]), key=splits.index):
            findings.append(error(CHECK, f"split {name!r} has no rows (column {scol!r})", path))
    counts = raw.events.groupby(["patient_id", "split"], sort=True).size()
    raw.patients = pd.DataFrame({"patient_id": counts.index.get_level_values(0),
                                 "split": counts.index.get_level_values(1),
                                 "file": path, "rows": counts.to_numpy()})
    return raw


def _no_events() -> pd.DataFrame:
    return pd.DataFrame({"patient_id": pd.Series(dtype=object), "split": pd.Series(dtype=object),
                         "file": pd.Categorical([]), "row": pd.Series(dtype=np.int64),
                         "variable": pd.Series(dtype=object), "value": pd.Series(dtype=float),
                         "minute": pd.Series(dtype=float)})


def _no_patients() -> pd.DataFrame:
    return pd.DataFrame({"patient_id": pd.Series(dtype=object), "split": pd.Series(dtype=object),
                         "file": pd.Series(dtype=object), "rows": pd.Series(dtype=np.int64)})
