"""The packed (ragged) in-memory dataset, built once per split.

Events are stored flat, grouped by set, sets grouped by patient; two offset arrays recover the
nesting. Collation into padded [B, S, N] tensors is pure index arithmetic (see collate.py).
The known traps of the original loader are errors or warnings that name their location:
unlabelled patients, variables missing from stats, std == 0 and unsorted rows. Each is a rule of
``rules.py``, the same the validator applies; here the first one broken stops the load.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .errors import DataError, preview, warn
from .io import EventTable
from .rules import (
    keyed_in_part,
    label_rows,
    not_finite,
    not_integer,
    numbers,
    positions_in,
    set_key,
    stats_rows,
    std_not_positive,
    steps_back,
)


@dataclass
class PackedData:
    patient_ids: np.ndarray  # [P] str
    labels: np.ndarray  # [P] float32 in {0, 1}
    set_offsets: np.ndarray  # [P + 1] int64: sets of patient p are set_offsets[p]:set_offsets[p+1]
    event_offsets: np.ndarray  # [num_sets + 1] int64
    set_times: np.ndarray  # [num_sets] float32, minutes
    var_idx: np.ndarray  # [E] int64 into `variables`
    values: np.ndarray  # [E] float32, z-scored
    variables: list[str]

    def __len__(self) -> int:
        return len(self.patient_ids)

    @property
    def num_sets(self) -> np.ndarray:
        return np.diff(self.set_offsets)

    @property
    def num_events(self) -> int:
        return len(self.values)


def pack(table: EventTable, stats: pd.DataFrame, labels: pd.Series,
         unknown_variables: str = "error") -> PackedData:
    """Z-score, group into sets and pack one split.

    ``unknown_variables``: "error" (default) or "drop" (events of variables absent from stats are
    removed with a warning naming them). Never keeps raw values silently.
    """
    ev = table.events
    variables = list(stats.index)
    _check_stats(stats)
    _check_finite(ev, table)

    pid_list = sorted(table.sources)
    label_pos = label_rows(pd.Series(pid_list, dtype=object), labels.index.astype(str).tolist())
    missing = [pid_list[i] for i in np.flatnonzero(label_pos < 0)]
    if missing:
        raise DataError(f"{len(missing)} patient(s) have no label: {preview(missing)} "
                        f"(first file: {table.sources[missing[0]]}); a missing label is not 0")

    var_idx = stats_rows(ev["variable"], variables)
    unknown = var_idx < 0
    if unknown.any():
        names = sorted(ev["variable"][unknown].astype(str).unique())
        where = preview(sorted(ev["patient_id"][unknown].unique()))
        msg = f"variable(s) {preview(names)} not in stats (patients {where})"
        if unknown_variables != "drop":
            raise DataError(msg + "; add them to stats.csv or pass unknown_variables='drop'")
        warn(msg + "; their events were dropped")
        ev, var_idx = ev[~unknown], var_idx[~unknown]

    mean = stats["mean"].to_numpy(np.float64)[var_idx]
    std = stats["std"].to_numpy(np.float64)[var_idx]
    values = ((ev["value"].to_numpy(np.float64) - mean) / std).astype(np.float32)

    patient_code = positions_in(ev["patient_id"], pid_list)
    key = _set_keys(ev, patient_code, pid_list, table)
    minute = ev["minute"].to_numpy(np.float64)
    _warn_unsorted(patient_code, key, pid_list, table)

    # Stable sort by (patient, set key): a set is every row of a patient with the same key, no
    # matter where the rows sit in the file.
    order = np.lexsort((key, patient_code))
    patient_code, key, minute = patient_code[order], key[order], minute[order]
    var_idx, values = var_idx[order], values[order]

    new_set = np.ones(len(order), dtype=bool)
    if len(order):
        new_set[1:] = (patient_code[1:] != patient_code[:-1]) | (key[1:] != key[:-1])
    set_starts = np.flatnonzero(new_set)
    event_offsets = np.append(set_starts, len(order)).astype(np.int64)
    set_patient = patient_code[set_starts]
    set_times = np.minimum.reduceat(minute, set_starts) if len(order) else np.zeros(0)
    sets_per_patient = np.bincount(set_patient, minlength=len(pid_list))
    set_offsets = np.concatenate([[0], np.cumsum(sets_per_patient)]).astype(np.int64)

    return PackedData(
        patient_ids=np.asarray(pid_list, dtype=object),
        labels=labels.to_numpy(np.float32)[label_pos],
        set_offsets=set_offsets,
        event_offsets=event_offsets,
        set_times=set_times.astype(np.float32),
        var_idx=var_idx.astype(np.int64),
        values=values,
        variables=variables,
    )


def _check_stats(stats: pd.DataFrame) -> None:
    bad = stats.index[std_not_positive(stats["std"].to_numpy())]
    if len(bad):
        raise DataError(f"stats: std must be > 0; variable(s) {preview(bad)} have std "
                        f"{preview(stats.loc[bad, 'std'].tolist())} (would divide by zero)")


def _check_finite(ev: pd.DataFrame, table: EventTable) -> None:
    """Values and minutes finite; text that is not a number is refused here too (the validator
    leaves it to its schema check)."""
    for col in ("value", "minute"):
        num = numbers(ev[col])
        bad = not_finite(num)
        if bad.any():
            raise _rows_error(ev, bad, col, "non-finite or non-numeric value(s)", table)
        ev[col] = num  # numeric from here on (no-op when already float)


def _rows_error(ev: pd.DataFrame, bad: np.ndarray, col: str, what: str, table: EventTable,
                show=str) -> DataError:
    """The loader's error for rows of ``col`` that break a rule: the file and patient of the
    first, its value, and every table row."""
    first = int(np.flatnonzero(bad)[0])
    pid = ev["patient_id"].iloc[first]
    return DataError(f"{table.sources.get(pid, pid)}: column {col!r} has {bad.sum()} {what}, "
                     f"first {show(ev[col].iloc[first])} (patient {pid}); table rows "
                     f"{preview(ev.index[bad])}")


def _as_written(value) -> str:
    """A cell as the user wrote it: 1.5 or 'abc', not a numpy scalar's repr."""
    return repr(value.item() if hasattr(value, "item") else value)


def _set_keys(ev: pd.DataFrame, patient_code: np.ndarray, pid_list,
              table: EventTable) -> np.ndarray:
    """The set key of each row (``rules.set_key``: set_index where given, else the minute).

    A patient file without set_index, in a dataset where other files have it, groups by minute;
    reading its missing keys as keys of their own would make every event a set. A patient with
    set_index on some rows only is refused (``rules.keyed_in_part``), as is a set_index that is
    not a whole number (``rules.not_integer``)."""
    minute = ev["minute"].to_numpy(np.float64)
    if "set_index" not in ev.columns:
        return minute
    bad = not_integer(ev["set_index"])
    if bad.any():
        raise _rows_error(ev, bad, "set_index", "value(s) that are not whole numbers", table,
                          show=_as_written)
    idx = numbers(ev["set_index"])
    partly = keyed_in_part(patient_code, ~np.isnan(idx))
    mixed = sorted({pid_list[c] for c in np.unique(patient_code[partly])})
    if mixed:
        raise DataError(f"{table.sources.get(mixed[0], mixed[0])}: set_index is given on some "
                        f"rows and missing on others for patient(s) {preview(mixed)}; give it on "
                        "every row of a patient or on none")
    return set_key(idx, minute)


def _warn_unsorted(patient_code: np.ndarray, key: np.ndarray, pid_list, table: EventTable) -> None:
    """Time order is judged on the set key, in table row order (``rules.steps_back``)."""
    back = steps_back(patient_code, key)
    if back.any():
        pids = sorted({pid_list[c] for c in patient_code[back]})
        warn(f"rows not sorted by time for {len(pids)} patient(s): "
             f"{preview(table.sources[p] for p in pids)}; sets were grouped by key, not row order")
