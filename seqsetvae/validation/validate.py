"""Validate a dataset before training on it (docs/reference/data-checks.md: every check).

``validate_dataset(source)`` reads Layout A or B tolerantly, runs every check of CHECKS and returns
a ValidationReport. It never stops at the first problem and never raises on bad data: a file that
cannot be read, a broken column or a crashing check each become a Finding with a location.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from ..data.io import SPLITS
from ..fileio import write_json
from .base import Finding, RawData, error
from .events import (
    Bounds,
    check_duplicates,
    check_empty_patients,
    check_finite,
    check_set_bounds,
    check_set_grouping,
    check_time_order,
)
from .labels import (
    check_label_classes,
    check_labels_binary,
    check_labels_missing,
    check_labels_unique,
    check_leakage,
    check_prevalence_drift,
)
from .model_batch import check_model_batch
from .read import load_raw
from .schema import check_schema
from .variables import check_embeddings, check_stats_coverage, check_stats_std

__all__ = ["CHECKS", "CHECK_DOCS", "Bounds", "Finding", "ValidationReport", "load_raw", "run_check",
           "summarize", "validate_dataset"]

# name -> check(raw, bounds); files_readable is the reading step itself
CHECKS = {
    "files_readable": lambda d, b: list(d.read_findings),
    "schema": lambda d, b: check_schema(d),
    "finite": check_finite,
    "time_order": check_time_order,
    "set_grouping": check_set_grouping,
    "set_bounds": check_set_bounds,
    "duplicates": check_duplicates,
    "stats_coverage": check_stats_coverage,
    "stats_std": check_stats_std,
    "labels_binary": check_labels_binary,
    "labels_unique": check_labels_unique,
    "labels_missing": check_labels_missing,
    "label_classes": check_label_classes,
    "prevalence_drift": check_prevalence_drift,
    "leakage": check_leakage,
    "empty_patients": check_empty_patients,
    "embeddings": check_embeddings,
    "model_batch": check_model_batch,
}

# name -> (what it catches, severity): `check-data --help` prints this, and
# docs/reference/data-checks.md's table of checks is generated from it
CHECK_DOCS = {
    "files_readable": ("a patient file, stats, labels or embeddings table that cannot be read; a "
                       "split without patients (Layout A: no directory or no .parquet files, "
                       "Layout B: no rows)", "error; warning: non-parquet files ignored"),
    "schema": ("required columns missing or of the wrong type: variable text, value and minute "
               "numbers, set_index integer, split train/valid/test; stats variable unique, mean "
               "and std finite; labels id and label columns", "error"),
    "finite": ("a missing, NaN or infinite value or minute", "error"),
    "time_order": ("rows going back in time within a patient (sets are still grouped by time)",
                   "warning"),
    "set_grouping": ("set_index on some rows of a patient only; one set_index spanning several "
                     "minutes", "error; warning: set_index order against minute order"),
    "set_bounds": ("a set larger than --max_set_size; a patient with fewer than --min_sets or "
                   "more than --max_sets sets", "warning"),
    "duplicates": ("the same variable twice in one set, with equal or different values",
                   "warning"),
    "stats_coverage": ("a variable missing from stats (it could not be z-scored)",
                       "error; warning: stats variables that never occur"),
    "stats_std": ("a std of 0 or below (z-scoring would divide by zero)", "error"),
    "labels_binary": ("a label that is not 0 or 1, or is empty", "error"),
    "labels_unique": ("a patient with several label rows", "error"),
    "labels_missing": ("a patient without a label row (a missing label is not 0)",
                       "error; warning: labelled patients without events"),
    "label_classes": ("a training split with one class (or all labelled patients in one class)",
                      "error; warning: one class in valid or test, where AUROC and AUPRC are "
                      "undefined"),
    "prevalence_drift": ("a split whose prevalence differs from train's by more than 0.05 and "
                         "significantly (chi-square or Fisher)", "warning"),
    "leakage": ("a patient in two splits", "error"),
    "empty_patients": ("a patient file without events (kept with zero sets)", "warning"),
    "embeddings": ("cached.csv: no key column, a cell that is not a finite number, a variable "
                   "with several rows or none", "error"),
    "model_batch": ("the loader refusing the training split; a real batch failing in a small "
                    "model, with wrong shapes or non-finite outputs",
                    "error; warning: the loader's warnings"),
}


@dataclass
class ValidationReport:
    findings: list[Finding] = field(default_factory=list)
    summary: dict = field(default_factory=dict)
    checks: list[str] = field(default_factory=list)  # the checks that ran

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def of(self, check: str) -> list[Finding]:
        return [f for f in self.findings if f.check == check]

    def to_dict(self) -> dict:
        return {"ok": self.ok, "errors": len(self.errors), "warnings": len(self.warnings),
                "checks": self.checks, "summary": self.summary,
                "findings": [asdict(f) for f in self.findings]}

    def to_json(self, path) -> Path:
        return write_json(path, self.to_dict())

    def summary_lines(self) -> list[str]:
        return format_summary(self.summary)


def run_check(name: str, raw: RawData, bounds: Bounds) -> list[Finding]:
    """One check; a crash inside it is itself an error finding, never an exception."""
    try:
        return list(CHECKS[name](raw, bounds))
    except Exception as exc:
        return [error(name, f"internal: the check crashed ({type(exc).__name__}: {exc})",
                      "(check)")]


def validate_dataset(source, splits=SPLITS, checks=None, **bounds) -> ValidationReport:
    """All checks (or the named ``checks``) on ``source``; ``bounds`` are Bounds fields."""
    unknown = set(bounds) - {f.name for f in fields(Bounds)}
    if unknown:
        raise TypeError(f"unknown bound(s) {sorted(unknown)}; known: "
                        f"{[f.name for f in fields(Bounds)]}")
    limits = Bounds(**bounds)
    raw = load_raw(source, tuple(splits))
    names = list(CHECKS) if checks is None else list(checks)
    findings = [f for name in names for f in run_check(name, raw, limits)]
    try:
        summary = summarize(raw)
    except Exception as exc:  # the summary is a courtesy; never lose the findings over it
        summary = {"error": f"{type(exc).__name__}: {exc}"}
    return ValidationReport(findings, summary, names)


def summarize(d: RawData) -> dict:
    pats, lab = d.patients, d.labels_series
    s = d.sets
    split_of_set = d.units["split"].to_numpy()[s.set_unit] if len(s.set_unit) else np.array([])
    per_split = {}
    for split in sorted(set(pats["split"]), key=_split_order):
        ids = pats.loc[pats["split"] == split, "patient_id"]
        y = ids.map(lab).dropna()
        per_split[split] = {
            "patients": int(len(ids)),
            "events": int((d.events["split"] == split).sum()),
            "sets": int((split_of_set == split).sum()),
            "labelled": int(len(y)),
            "prevalence": round(float(y.mean()), 4) if len(y) else None,
        }
    seq = s.seq_len.to_numpy()
    return {"layout": d.layout, "splits": per_split,
            "patients": int(pats["patient_id"].nunique()), "events": int(len(d.events)),
            "sets": int(len(s.sizes)), "variables": int(d.events["variable"][d.variable_ok]
                                                        .nunique()),
            "set_size": _percentiles(s.sizes), "sequence_length": _percentiles(seq)}


def _split_order(name: str):
    return (SPLITS.index(name), name) if name in SPLITS else (len(SPLITS), name)


def _percentiles(x: np.ndarray) -> dict:
    if len(x) == 0:
        return {}
    q = np.percentile(x, [50, 90, 99])
    return {"min": int(x.min()), "p50": float(q[0]), "p90": float(q[1]), "p99": float(q[2]),
            "max": int(x.max())}


def format_summary(summary: dict) -> list[str]:
    """A short fixed-width table: one row per split, then the shape percentiles."""
    if "splits" not in summary:
        return [f"summary unavailable: {summary.get('error', '?')}"]
    lines = [f"{'split':<8}{'patients':>10}{'events':>11}{'sets':>9}{'prevalence':>12}"]
    for name, row in summary["splits"].items():
        prev = "-" if row["prevalence"] is None else f"{row['prevalence']:.3f}"
        lines.append(f"{name:<8}{row['patients']:>10}{row['events']:>11}{row['sets']:>9}"
                     f"{prev:>12}")
    for key in ("set_size", "sequence_length"):
        p = summary.get(key) or {}
        if p:
            lines.append(f"{key}: min {p['min']}, p50 {p['p50']:g}, p90 {p['p90']:g}, "
                         f"p99 {p['p99']:g}, max {p['max']}")
    lines.append(f"layout {summary['layout']}, {summary['variables']} variables")
    return lines
