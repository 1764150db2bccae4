"""Checks on the per-variable tables: stats coverage and std > 0 (the original code kept raw
values for unknown variables and divided by a zero std), and the optional embedding table."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..data.errors import preview
from ..data.rules import not_finite, numbers, repeated, stats_rows, std_not_positive
from .base import Finding, RawData, capped, error, rows_at, warning
from .events import Bounds


def _stats_variables(d: RawData) -> pd.Series | None:
    if d.stats is None or "variable" not in d.stats.columns:
        return None
    return d.stats["variable"].astype(str)


def check_stats_coverage(d: RawData, bounds: Bounds) -> list[Finding]:
    known = _stats_variables(d)
    if known is None:
        return []
    ev = d.events[d.variable_ok]
    seen = ev.groupby("variable", sort=True)["patient_id"].unique()
    unknown = seen.index[stats_rows(seen.index.to_series(), known.tolist()) < 0]
    out = capped([error("stats_coverage", f"variable {v!r} is not in {d.stats_file} (patients "
                        f"{preview(sorted(seen[v]))}); it cannot be z-scored",
                        f"variable {v}") for v in unknown], "unknown variables")
    unused = sorted(set(known) - set(seen.index))
    if unused and len(ev):
        out.append(warning("stats_coverage", f"{len(unused)} variable(s) in stats never occur in "
                           f"the checked splits: {preview(unused)}", d.stats_file))
    return out


def check_stats_std(d: RawData, bounds: Bounds) -> list[Finding]:
    known = _stats_variables(d)
    if known is None or "std" not in d.stats.columns:
        return []
    std = numbers(d.stats["std"])
    bad = np.flatnonzero(np.isfinite(std) & std_not_positive(std))  # non-finite: the schema's
    return [error("stats_std", f"variable {known.iloc[r]!r} has std {std[r]}; z-scoring would "
                  f"divide by zero (or flip signs)", f"variable {known.iloc[r]} "
                  f"({rows_at(d.stats_file, [r])})") for r in bad]


def check_embeddings(d: RawData, bounds: Bounds, key_col: str = "Key") -> list[Finding]:
    """cached.csv (optional): a row per variable, every cell a finite number."""
    if d.embeddings is None:
        return []
    emb, where = d.embeddings, d.embeddings_file
    if key_col not in emb.columns:
        return [error("embeddings", f"key column {key_col!r} missing; found {list(emb.columns)}",
                      where)]
    keys = emb[key_col].astype(str)
    if emb.shape[1] == 1:
        return [error("embeddings", "no embedding columns besides the key", where)]
    out = _bad_cells(emb.drop(columns=key_col), keys, where)
    dup = sorted(set(keys[repeated(keys)]))
    if dup:
        out.append(error("embeddings", f"variable(s) with several rows: {preview(dup)}", where))
    known = _stats_variables(d)
    needed = set(known) if known is not None else set(d.events["variable"][d.variable_ok])
    out += capped([error("embeddings", f"no embedding row for variable {v!r}", f"variable {v}")
                   for v in sorted(needed - set(keys))], "variables without embeddings")
    return out


def _bad_cells(values: pd.DataFrame, keys: pd.Series, where: str) -> list[Finding]:
    """One finding per column holding cells that are missing, text or not finite: the loader
    refuses the whole table for any of them."""
    out = []
    for col in values.columns:
        bad = np.flatnonzero(not_finite(numbers(values[col])))
        if len(bad):
            shown = preview(f"{r} ({keys.iloc[r]}: {_cell(values[col].iloc[r])})" for r in bad)
            out.append(error("embeddings", f"column {col!r} must be a finite number; {len(bad)} "
                             f"bad row(s): {shown}", rows_at(where, bad)))
    return capped(out, "columns with bad cells")


def _cell(value) -> str:
    return repr(value) if isinstance(value, str) else str(value)  # nan reads as missing
