"""Shared pieces of the data checks: the Finding record, the raw (unpacked) dataset every check
reads, and helpers that turn masks over event rows into located findings.

Row numbers are 0-based data rows of the file they came from (the header is not counted; a CSV's
row r sits on line r + 2).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from ..data.errors import preview
from ..data.rules import not_binary, numbers, repeated, set_key

MAX_FINDINGS = 20  # per check and kind: beyond that one finding counts the rest


@dataclass(frozen=True)
class Finding:
    severity: str  # "error" | "warning"
    check: str
    message: str
    location: str  # file, row, patient, variable or split


def error(check: str, message: str, location: str) -> Finding:
    return Finding("error", check, message, location)


def warning(check: str, message: str, location: str) -> Finding:
    return Finding("warning", check, message, location)


@dataclass
class RawData:
    """A dataset as read, before any packing. ``events`` holds every readable event row with
    columns patient_id, split, file, row, variable, value, minute and optional set_index, values
    exactly as in the files (strings stay strings); ``patients`` lists every patient seen
    (patient_id, split, file, rows), including empty and unreadable files."""

    source: object
    splits: tuple[str, ...]
    layout: str  # "A" or "B"
    events: pd.DataFrame
    patients: pd.DataFrame
    stats: pd.DataFrame | None = None
    stats_file: str = ""
    labels: pd.DataFrame | None = None
    labels_file: str = ""
    embeddings: pd.DataFrame | None = None
    embeddings_file: str = ""
    read_findings: list[Finding] = field(default_factory=list)
    unfit: list[tuple[str, pd.DataFrame]] = field(default_factory=list)  # files failing columns
    events_frame: pd.DataFrame | None = None  # Layout B: the whole table, for the schema check

    # -- numeric views of the event columns (computed once, shared by the checks) ------------
    @cached_property
    def value(self) -> np.ndarray:
        return numbers(self.events["value"])

    @cached_property
    def minute(self) -> np.ndarray:
        return numbers(self.events["minute"])

    @cached_property
    def variable_ok(self) -> np.ndarray:
        return is_text(self.events["variable"]).to_numpy(bool)

    @cached_property
    def key(self) -> np.ndarray:
        """The set key (``rules.set_key``: set_index where given, else the minute)."""
        if "set_index" not in self.events.columns:
            return self.minute
        return set_key(numbers(self.events["set_index"]), self.minute)

    @cached_property
    def unit(self) -> np.ndarray:
        """One code per (split, patient): the unit of a sequence."""
        ev = self.events
        codes, _ = pd.factorize(ev["split"].astype(str) + "\x00" + ev["patient_id"].astype(str))
        return codes.astype(np.int64)

    @cached_property
    def units(self) -> pd.DataFrame:
        """patient_id, split, file of each unit code (row u describes code u)."""
        _, first = np.unique(self.unit, return_index=True)
        units = self.events.iloc[first][["patient_id", "split", "file"]]
        return units.astype({"file": str}).reset_index(drop=True)

    @cached_property
    def sets(self) -> SetIndex:
        return SetIndex.build(self)

    @cached_property
    def labels_series(self) -> pd.Series:
        """Usable labels: id -> 0/1 for ids with exactly one binary label row."""
        if self.labels is None:
            return pd.Series(dtype=float)
        src = self.source
        ids = self.labels[src.id_col].astype(str)
        col = self.labels[src.label_col]
        ok = ~not_binary(col) & ~repeated(ids)
        return pd.Series(numbers(col)[ok], index=ids[ok].to_numpy())


@dataclass
class SetIndex:
    """Events of usable rows (finite key, known unit) sorted by (unit, key): the sets."""

    order: np.ndarray  # event rows, sorted
    starts: np.ndarray  # first position in ``order`` of each set
    sizes: np.ndarray  # events per set
    set_unit: np.ndarray  # unit code of each set
    seq_len: pd.Series  # sets per unit code

    @classmethod
    def build(cls, d: RawData) -> SetIndex:
        rows = np.flatnonzero(np.isfinite(d.key))
        unit, key = d.unit[rows], d.key[rows]
        order = rows[np.lexsort((key, unit))]
        u, k = d.unit[order], d.key[order]
        new = np.ones(len(order), bool)
        new[1:] = (u[1:] != u[:-1]) | (k[1:] != k[:-1])
        starts = np.flatnonzero(new)
        sizes = np.diff(np.append(starts, len(order)))
        set_unit = u[starts]
        seq_len = pd.Series(set_unit).value_counts().sort_index()
        return cls(order, starts, sizes, set_unit, seq_len)


def numeric_like(col: pd.Series) -> np.ndarray:
    """True where a cell is a number (or missing): strings that are not numbers are False."""
    if col.dtype.kind in "fiub":
        return np.ones(len(col), bool)
    return ~np.isnan(numbers(col)) | col.isna().to_numpy(bool)


def is_text(s: pd.Series) -> pd.Series:
    """Non-empty strings. pandas' string dtypes hold only strings (or NA), so they vectorise;
    object columns may mix in numbers and need a per-cell look."""
    if isinstance(s.dtype, pd.StringDtype):
        return s.notna() & (s.str.len() > 0)
    if s.dtype == object:
        return s.map(lambda x: isinstance(x, str) and x != "").astype(bool)
    return pd.Series(False, index=s.index)


def row_findings(d: RawData, mask: np.ndarray, make, by_patient: bool = False) -> list[Finding]:
    """One finding per file (or per patient) holding masked event rows.

    ``make(file, rows, patients, frame)`` returns a Finding; ``frame`` is the masked rows of that
    file, so the message can quote values. Capped at MAX_FINDINGS plus one count of the rest.
    """
    idx = np.flatnonzero(mask)
    if len(idx) == 0:
        return []
    sub = d.events.iloc[idx]
    group_col = "patient_id" if by_patient else "file"
    out = []
    groups = sub.groupby(group_col, sort=False, observed=True)
    for n, (_, frame) in enumerate(groups):
        if n == MAX_FINDINGS:
            rest = groups.ngroups - MAX_FINDINGS
            first = out[0]
            out.append(Finding(first.severity, first.check,
                               f"... and {rest} more {group_col.replace('_id', '')}(s) like the "
                               f"above ({len(idx)} rows in all)", d.events["file"].iloc[idx[0]]
                               if d.layout == "B" else "(several files)"))
            break
        out.append(make(str(frame["file"].iloc[0]), frame["row"].to_numpy(),
                        sorted(frame["patient_id"].astype(str).unique()), frame))
    return out


def rows_at(file: str, rows) -> str:
    rows = list(rows)
    return f"{file} row{'s' if len(rows) > 1 else ''} {preview(rows)}"


def capped(findings: list[Finding], noun: str) -> list[Finding]:
    """Keep MAX_FINDINGS findings and count the rest in one more."""
    if len(findings) <= MAX_FINDINGS:
        return findings
    first, rest = findings[0], len(findings) - MAX_FINDINGS
    return findings[:MAX_FINDINGS] + [Finding(first.severity, first.check,
                                              f"... and {rest} more {noun} like the above",
                                              "(several)")]


def short(path) -> str:
    return str(Path(path)) if path else "(none)"
