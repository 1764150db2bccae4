"""The data rules, each defined once and applied by both readers of a dataset.

The loader (``io.py``, ``packed.py``) raises DataError at the first rule broken; the validator
(``seqsetvae.validation``) turns every row that breaks one into a located finding. Each rule is a
vectorised predicate over whole columns: a boolean mask (True where the rule is broken) or
positions (-1 where a lookup finds nothing). What a caller does with a hit (its message, its
severity, which rows it leaves to another check) stays with the caller.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def numbers(col: pd.Series) -> np.ndarray:
    """A column as float64, NaN where a cell is missing or not a number (text is not parsed as
    anything but a number), so the numeric rules below see what pandas reads."""
    if col.dtype.kind not in "fiub":
        col = pd.to_numeric(col, errors="coerce")
    return col.to_numpy(np.float64, na_value=np.nan)


def not_finite(values: np.ndarray) -> np.ndarray:
    """Values, minutes, stats and embeddings must be finite: one NaN or inf poisons every loss
    and gradient it reaches."""
    return ~np.isfinite(np.asarray(values, dtype=np.float64))


def positions_in(column: pd.Series, names: list[str]) -> np.ndarray:
    """Position of each value of a text column in ``names``, -1 where absent: an Arrow hash
    lookup, much faster than pandas' indexers on Arrow-backed strings."""
    text = pa.array(column.astype(str), type=pa.string())
    found = pc.index_in(text, value_set=pa.array(names, type=pa.string()))
    return pc.fill_null(found, -1).to_numpy(zero_copy_only=False).astype(np.int64)


def stats_rows(variables: pd.Series, stats_variables: list[str]) -> np.ndarray:
    """Row of each variable in stats, -1 where it has none: every variable needs a mean and std,
    or its values cannot be z-scored (raw values would silently join z-scored ones)."""
    return positions_in(variables, stats_variables)


def std_not_positive(std: np.ndarray) -> np.ndarray:
    """A variable's std must be > 0: z-scoring divides by it (0 divides by zero, a negative std
    flips the sign of every value). NaN is not > 0 either."""
    return ~(np.asarray(std) > 0)


def steps_back(group: np.ndarray, time: np.ndarray) -> np.ndarray:
    """True at each position whose time is earlier than the previous position's in the same
    group: rows going back in time within a patient, often the mark of a broken export."""
    back = np.zeros(len(time), dtype=bool)
    if len(time) > 1:
        back[1:] = (group[1:] == group[:-1]) & (time[1:] < time[:-1])
    return back


def not_integer(set_index: pd.Series) -> np.ndarray:
    """A set_index is a whole number, or empty (the row is then keyed by its minute): a
    fractional key would split a set, and a text key would silently fall back to the minute."""
    num = numbers(set_index)
    return ~(set_index.isna().to_numpy() | (~np.isnan(num) & (num == np.floor(num))))


def set_key(set_index: np.ndarray, minute: np.ndarray) -> np.ndarray:
    """Each row's set key: its set_index where given (not NaN), else its minute. The rows of a
    patient that share a key form one set, wherever they sit in the file."""
    return np.where(np.isnan(set_index), minute, set_index)


def keyed_in_part(group: np.ndarray, given: np.ndarray) -> np.ndarray:
    """True on every row of a group (non-negative codes) that gives set_index on some rows and
    not on others: a patient's keys are all set numbers or all minutes, never a mix of both."""
    if len(group) == 0:
        return np.zeros(0, dtype=bool)
    n = int(group.max()) + 1
    some = np.bincount(group, weights=given, minlength=n) > 0
    not_all = np.bincount(group, weights=~given, minlength=n) > 0
    return (some & not_all)[group]


def label_rows(patient_ids: pd.Series, label_ids: list[str]) -> np.ndarray:
    """Row of each patient in the labels, -1 where it has none: every patient needs a label,
    and a missing label is not 0."""
    return positions_in(patient_ids, label_ids)


def not_binary(labels: pd.Series) -> np.ndarray:
    """A label must read as the number 0 or 1; text, empty cells and other numbers are not
    labels of a binary outcome."""
    return ~np.isin(numbers(labels), [0, 1])


def repeated(ids: pd.Series) -> np.ndarray:
    """True on every row whose id occurs more than once: a patient has one label row, a
    variable one stats row and one embedding row, or which one holds is a guess."""
    return ids.duplicated(keep=False).to_numpy(bool)
