"""Traces compared number for number."""

from __future__ import annotations

import dataclasses
import json


def numbers(trace) -> str:
    """Every number of a RunTrace but its wall time, NaN included, as canonical text."""
    fields = {k: v for k, v in dataclasses.asdict(trace).items() if k != "seconds"}
    return json.dumps(fields, sort_keys=True)
