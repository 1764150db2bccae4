"""Column contracts (docs/reference/data-checks.md) as pandera schemas, validated lazily so
every broken column and row is reported at once. Types only: whether numbers are finite,
labels binary or std positive are separate checks, so one bad cell is reported once, by the
check that owns it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaError, SchemaErrors

from ..data.errors import preview
from ..data.io import SPLITS
from ..data.rules import not_finite, not_integer, numbers, repeated
from .base import MAX_FINDINGS, Finding, RawData, error, is_text, numeric_like

CHECK = "schema"


def _is_number(s: pd.Series) -> pd.Series:
    return pd.Series(numeric_like(s), index=s.index)


def _is_integer(s: pd.Series) -> pd.Series:
    return pd.Series(~not_integer(s), index=s.index)


def _is_unique(s: pd.Series) -> pd.Series:
    return pd.Series(~repeated(s.astype(str)), index=s.index)


def _is_finite(s: pd.Series) -> pd.Series:
    return pd.Series(~not_finite(numbers(s)), index=s.index)


NUMBER = pa.Check(_is_number, error="a number")
TEXT = pa.Check(is_text, error="a non-empty string")
INTEGER = pa.Check(_is_integer, error="an integer")
UNIQUE = pa.Check(_is_unique, error="unique")
FINITE = pa.Check(_is_finite, error="a finite number")


def events_schema(patient_col: str | None = None, split_col: str | None = None):
    cols = {"variable": pa.Column(checks=TEXT, nullable=False),
            "value": pa.Column(checks=NUMBER, nullable=True),  # NaN: the finite check's job
            "minute": pa.Column(checks=NUMBER, nullable=True),
            "set_index": pa.Column(checks=INTEGER, nullable=True, required=False)}
    if patient_col:
        cols[patient_col] = pa.Column(nullable=False)
    if split_col:
        cols[split_col] = pa.Column(checks=pa.Check.isin(SPLITS), nullable=False, required=False)
    return pa.DataFrameSchema(cols, name="events")


def stats_schema():
    return pa.DataFrameSchema({"variable": pa.Column(checks=[TEXT, UNIQUE]),
                               "mean": pa.Column(checks=FINITE), "std": pa.Column(checks=FINITE)},
                              name="stats")


def labels_schema(id_col: str, label_col: str):
    # label values (binary, present) belong to the labels_binary check
    return pa.DataFrameSchema({id_col: pa.Column(nullable=False),
                               label_col: pa.Column(nullable=True)}, name="labels")


def check_schema(d: RawData) -> list[Finding]:
    src, out = d.source, []
    if d.layout == "B" and d.events_frame is not None:
        out += _validate(events_schema(src.patient_col, src.split_col), d.events_frame,
                         _one(str(src.events_path)), str(src.events_path))
    elif d.layout == "A":
        ev = d.events
        out += _validate(events_schema(), ev[[c for c in ev.columns
                                              if c not in ("patient_id", "split", "file", "row")]],
                         lambda rows: _by_file(ev, rows), "(patient files)")
        for name, frame in d.unfit:  # files missing required columns
            out += _validate(events_schema(), frame, _one(name), name)
    if d.stats is not None:
        out += _validate(stats_schema(), d.stats, _one(d.stats_file), d.stats_file)
    if d.labels is not None:
        out += _validate(labels_schema(src.id_col, src.label_col), d.labels,
                         _one(d.labels_file), d.labels_file)
    return out


def _one(name: str):
    """Locator for a single file: its table index is its row number."""
    return lambda rows: [(name, rows, rows)]


def _by_file(ev: pd.DataFrame, idx: np.ndarray):
    """Combined-table indices -> [(file, rows within that file, combined-table indices)]."""
    sub = ev.iloc[idx].assign(_at=idx)
    return [(str(f), g["row"].to_numpy(), g["_at"].to_numpy())
            for f, g in sub.groupby("file", observed=True)]


def _validate(schema: pa.DataFrameSchema, df: pd.DataFrame, locate, where: str) -> list[Finding]:
    try:
        schema.validate(df, lazy=True)
        return []
    except SchemaErrors as exc:
        cases = exc.failure_cases
    except SchemaError as exc:  # pragma: no cover - lazy=True collects into SchemaErrors
        return [error(CHECK, str(exc), schema.name)]
    out = []
    for (column, check), group in cases.groupby(["column", "check"], dropna=False, sort=False):
        check = str(check)
        if check == "column_in_dataframe":
            for name in group["failure_case"]:
                out.append(error(CHECK, f"{schema.name}: required column {name!r} missing; "
                                 f"found {list(df.columns)}", where))
            continue
        idx = pd.to_numeric(group["index"], errors="coerce").dropna().to_numpy(np.int64)
        values = dict(zip(idx, group["failure_case"].loc[group["index"].notna()]))
        want = {"not_nullable": "present (not empty)", "field_uniqueness": "unique"}.get(check,
                                                                                      check)
        files = locate(idx)
        for n, (file, rows, at) in enumerate(files):
            if n == MAX_FINDINGS:
                out.append(error(CHECK, f"... and {len(files) - n} more file(s) where column "
                                 f"{column!r} is not {want}", "(several files)"))
                break
            shown = preview([f"{r} ({values.get(i, '?')!r})" for r, i in zip(rows, at)])
            out.append(error(CHECK, f"{schema.name}: column {column!r} must be {want}; "
                             f"{len(rows)} bad row(s): {shown}", f"{file} rows {preview(rows)}"))
        if not files:
            out.append(error(CHECK, f"{schema.name}: column {column!r} fails {want}", where))
    return out

