"""Checks on the event rows: finite numbers, time order, set grouping, size bounds, duplicates
and empty patients. All vectorised over the whole table; findings are grouped per file."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..data.errors import preview
from ..data.rules import keyed_in_part, not_finite, numbers, steps_back
from .base import Finding, RawData, capped, error, numeric_like, row_findings, rows_at, warning


@dataclass(frozen=True)
class Bounds:
    """Plausibility bounds; crossing one is a warning (the data still loads)."""

    min_sets: int = 1  # sets per patient
    max_sets: int = 2000
    max_set_size: int = 256  # events per set
    drift_threshold: float = 0.05  # |prevalence(split) - prevalence(train)| that matters ...
    drift_alpha: float = 0.05  # ... and is unlikely to be chance (chi-square / Fisher p-value)


def check_finite(d: RawData, bounds: Bounds) -> list[Finding]:
    out = []
    for col, arr in (("value", d.value), ("minute", d.minute)):
        # non-numeric strings are the schema check's; here: missing, NaN and +-Inf numbers
        bad = numeric_like(d.events[col]) & not_finite(arr)

        def make(file, rows, pids, frame, col=col):
            shown = preview(f"{r} ({v!r})" for r, v in zip(rows, frame[col]))
            return error("finite", f"column {col!r} has {len(rows)} missing or non-finite "
                         f"value(s) (patients {preview(pids)}): rows {shown}", rows_at(file, rows))
        out += row_findings(d, bad, make)
    return out


def _by_unit_in_row_order(d: RawData) -> np.ndarray:
    """Event positions ordered by (unit, row in file): each patient's rows as written."""
    return np.lexsort((d.events["row"].to_numpy(), d.unit))


def check_time_order(d: RawData, bounds: Bounds) -> list[Finding]:
    """Rows that go back in time within a patient. pack() groups sets by key regardless, but a
    file in that state often means a broken export (and the original loader split such sets)."""
    order = _by_unit_in_row_order(d)
    order = order[np.isfinite(d.minute[order])]
    if len(order) < 2:
        return []
    back = np.zeros(len(d.events), bool)
    back[order[steps_back(d.unit[order], d.minute[order])]] = True

    def make(file, rows, pids, frame):
        return warning("time_order", f"rows not sorted by minute for patient(s) {preview(pids)}; "
                       f"first backwards step at row {rows[0]} (minute {frame['minute'].iloc[0]})"
                       "; sets will be grouped by key, not by row order", file)
    return row_findings(d, back, make, by_patient=d.layout == "B")


def check_set_grouping(d: RawData, bounds: Bounds) -> list[Finding]:
    """With set_index: a patient has it on every row or on none, one set has one minute, and
    set order follows time."""
    if "set_index" not in d.events.columns:
        return []
    idx = numbers(d.events["set_index"])
    out = _partial_set_index(d)
    ok = np.flatnonzero(np.isfinite(idx) & np.isfinite(d.minute))
    if len(ok) == 0:
        return out
    frame = pd.DataFrame({"unit": d.unit[ok], "set": idx[ok], "minute": d.minute[ok], "at": ok})
    g = frame.groupby(["unit", "set"], sort=True)["minute"].agg(["min", "max"])
    mixed = g.index[(g["max"] > g["min"]).to_numpy()]
    if len(mixed):
        bad = frame.set_index(["unit", "set"]).index.isin(mixed)
        mask = np.zeros(len(d.events), bool)
        mask[frame["at"].to_numpy()[bad]] = True

        def make(file, rows, pids, sub):
            sets = sorted(pd.unique(sub["set_index"]))
            return error("set_grouping", f"set_index {preview(sets)} of patient(s) "
                         f"{preview(pids)} span(s) several minutes; a set is one time point",
                         rows_at(file, rows))
        out += row_findings(d, mask, make, by_patient=True)
    # sets in index order must not go back in time
    g = g.reset_index()
    back = steps_back(g["unit"].to_numpy(), g["min"].to_numpy())
    if back.any():
        units = np.unique(g["unit"].to_numpy()[back])
        mask = np.isin(d.unit, units) & np.isfinite(idx)
        out += row_findings(d, mask, lambda file, rows, pids, sub: warning(
            "set_grouping", f"set_index order contradicts minute order for patient(s) "
            f"{preview(pids)}", file), by_patient=True)
    return out


def _partial_set_index(d: RawData) -> list[Finding]:
    """Rows without set_index in a patient whose other rows have one: the loader refuses such a
    patient (its rows would fall back to minutes, mixed with set numbers). A patient with no
    set_index at all is fine: its sets are its minutes. A cell that is there but not an integer
    is the schema check's."""
    given = d.events["set_index"].notna().to_numpy(bool)

    def make(file, rows, pids, frame):
        return error("set_grouping", f"set_index is missing on {len(rows)} row(s) of patient(s) "
                     f"{preview(pids)} whose other rows have one; give it on every row of a "
                     "patient or on none", rows_at(file, rows))
    return row_findings(d, keyed_in_part(d.unit, given) & ~given, make, by_patient=True)


def check_set_bounds(d: RawData, bounds: Bounds) -> list[Finding]:
    s = d.sets
    out = []
    big = np.flatnonzero(s.sizes > bounds.max_set_size)
    if len(big):
        first = s.order[s.starts[big]]
        ev = d.events.iloc[first]
        for (file, pid), g in ev.groupby(["file", "patient_id"], observed=True, sort=False):
            sizes = s.sizes[big][np.isin(first, g.index.to_numpy())]
            out.append(warning("set_bounds", f"patient {pid}: {len(g)} set(s) larger than "
                               f"max_set_size={bounds.max_set_size} (sizes {preview(sizes)})",
                               rows_at(str(file), g["row"].to_numpy())))
        out = capped(out, "patients with large sets")
    units = d.units
    lens = s.seq_len.reindex(range(len(units)), fill_value=0).to_numpy()
    for word, mask, limit in (("fewer", lens < bounds.min_sets, f"min_sets={bounds.min_sets}"),
                              ("more", lens > bounds.max_sets, f"max_sets={bounds.max_sets}")):
        mask &= lens > 0  # no sets at all is empty_patients' finding
        hits = units[mask]
        found = [warning("set_bounds", f"patient {p} has {n} set(s), {word} than {limit}", f)
                 for p, f, n in zip(hits["patient_id"], hits["file"], lens[mask])]
        out += capped(found, f"patients with {word} sets")
    return out


def check_duplicates(d: RawData, bounds: Bounds) -> list[Finding]:
    """The same variable twice in one set: both kinds are warnings, told apart in the message.

    Identical rows usually mean a repeated export and only double that event's weight. Different
    values are two readings of one variable at one time: legitimate in ICU data (repeat labs in
    the same minute), accepted by pack() and handled by the set encoder as a multiset, but also
    the mark of a bad join or of two sets whose times collide (the built-in synthetic generator
    can round two set times to the same minute). Neither breaks training, so neither is an error.
    """
    ok = np.flatnonzero(np.isfinite(d.key) & d.variable_ok)
    if len(ok) < 2:
        return []
    var_code, _ = pd.factorize(d.events["variable"].to_numpy()[ok])
    frame = pd.DataFrame({"u": d.unit[ok], "k": d.key[ok], "v": var_code,
                          "x": d.value[ok]})
    dup = frame.duplicated(["u", "k", "v"], keep=False).to_numpy()
    if not dup.any():
        return []
    sub = frame[dup]
    n_values = sub.groupby(["u", "k", "v"])["x"].transform("nunique").to_numpy()
    conflict, repeat = np.zeros(len(d.events), bool), np.zeros(len(d.events), bool)
    conflict[ok[dup][n_values > 1]] = True
    again = sub.duplicated(["u", "k", "v", "x"], keep="first").to_numpy() & (n_values <= 1)
    repeat[ok[dup][again]] = True

    def make(kind, severity):
        def build(file, rows, pids, frame):
            shown = preview(f"{r} ({v}@{m})" for r, v, m in
                            zip(rows, frame["variable"], frame["minute"]))
            return severity("duplicates", f"{kind} for patient(s) {preview(pids)}: rows {shown}",
                            rows_at(file, rows))
        return build
    return (row_findings(d, conflict, make("same variable twice in one set with different "
                                            "values", warning))
            + row_findings(d, repeat, make("identical duplicate event rows", warning)))


def check_empty_patients(d: RawData, bounds: Bounds) -> list[Finding]:
    empty = d.patients[d.patients["rows"] == 0]
    return capped([warning("empty_patients", f"patient {p} ({s}) has no events; it is kept with "
                           "zero sets", f) for p, s, f in
                   zip(empty["patient_id"], empty["split"], empty["file"])], "empty patients")
