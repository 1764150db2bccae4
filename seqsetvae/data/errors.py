"""Data errors and warnings that always say where the problem is."""

from __future__ import annotations

import warnings

from ..errors import DATA_ERROR, InputError


class DataError(InputError):
    """Unusable input. The message names the file, row, patient, variable or field."""


class DatasetInvalid(DataError):
    """The dataset failed its checks."""

    exit_code = DATA_ERROR


class DataWarning(UserWarning):
    """Suspicious but usable input; the message names its location."""


def warn(message: str) -> None:
    warnings.warn(message, DataWarning, stacklevel=3)


def preview(items, limit: int = 5) -> str:
    """'a, b, c (+12 more)' for messages that name many offenders."""
    items = [str(i) for i in items]
    more = f" (+{len(items) - limit} more)" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more
