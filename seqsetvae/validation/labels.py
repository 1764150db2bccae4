"""Checks on labels and splits: binary, one per patient, none missing (a missing label is not 0),
both classes, prevalence drift between splits, and patients leaking across splits."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as sps

from ..data.errors import preview
from ..data.rules import label_rows, not_binary, repeated
from .base import Finding, RawData, capped, error, rows_at, warning
from .events import Bounds


def _columns_present(d: RawData) -> bool:
    src = d.source
    return d.labels is not None and {src.id_col, src.label_col} <= set(d.labels.columns)


def check_labels_binary(d: RawData, bounds: Bounds) -> list[Finding]:
    if not _columns_present(d):
        return []
    col, ids = d.labels[d.source.label_col], d.labels[d.source.id_col].astype(str)
    bad = np.flatnonzero(not_binary(col))
    if len(bad) == 0:
        return []
    shown = preview(f"{r} (patient {ids.iloc[r]}: {col.iloc[r]!r})" for r in bad)
    return [error("labels_binary", f"column {d.source.label_col!r} must be 0 or 1; "
                  f"{len(bad)} bad row(s): {shown}", rows_at(d.labels_file, bad))]


def check_labels_unique(d: RawData, bounds: Bounds) -> list[Finding]:
    if not _columns_present(d):
        return []
    ids = d.labels[d.source.id_col].astype(str)
    rows = np.flatnonzero(repeated(ids))
    values = d.labels[d.source.label_col]
    out = [error("labels_unique", f"patient {pid} has {len(g)} label rows (values "
                 f"{preview(values.iloc[g.to_numpy()].tolist())})", rows_at(d.labels_file, g))
           for pid, g in pd.Series(rows).groupby(ids.iloc[rows].to_numpy())]
    return capped(out, "patients with several label rows")


def check_labels_missing(d: RawData, bounds: Bounds) -> list[Finding]:
    """Every patient needs a label row (the original code silently used 0)."""
    if not _columns_present(d):
        return []
    ids = set(d.labels[d.source.id_col].astype(str))
    pats = d.patients
    missing = pats[label_rows(pats["patient_id"], sorted(ids)) < 0]
    out = capped([error("labels_missing", f"patient {p} ({s}) has no row in "
                        f"{d.labels_file}; a missing label is not 0", str(f))
                  for p, s, f in zip(missing["patient_id"], missing["split"], missing["file"])],
                 "unlabelled patients")
    extra = sorted(ids - set(pats["patient_id"]))
    if extra and len(pats):
        out.append(warning("labels_missing", f"{len(extra)} labelled patient(s) have no events "
                           f"in the checked splits: {preview(extra)}", d.labels_file))
    return out


def _prevalence(d: RawData) -> pd.DataFrame:
    """Per split: labelled patients n, positives k, prevalence p."""
    lab = d.labels_series
    pats = d.patients.drop_duplicates(["patient_id", "split"])
    y = pats["patient_id"].map(lab)
    table = pd.DataFrame({"split": pats["split"], "y": y}).dropna()
    g = table.groupby("split", sort=False)["y"].agg(n="size", k="sum")
    g["p"] = g["k"] / g["n"]
    return g


# What a split with one class costs, by split (the training split's case is an error).
ONE_CLASS_CONSEQUENCE = {
    "valid": "AUROC and AUPRC are undefined there (validation reports NaN); early stopping and "
             "best.pt still follow the validation loss",
    "test": "AUROC and AUPRC cannot be measured on it",
}


def check_label_classes(d: RawData, bounds: Bounds) -> list[Finding]:
    """Both classes in the training split (an error: a classifier cannot learn from one); one
    class in any other split is a warning stating what cannot be measured there."""
    if not _columns_present(d):
        return []
    prev = _prevalence(d)
    if prev.empty:
        return []
    single = prev[(prev["k"] == 0) | (prev["k"] == prev["n"])]
    out = [_one_class_finding(d, split, row) for split, row in single.iterrows()]
    if not any(f.severity == "error" for f in out):
        out += _all_one_class(d, prev)
    return out


def _one_class_finding(d: RawData, split: str, row) -> Finding:
    only, n = int(row["k"] > 0), int(row["n"])
    where = f"split {split} ({d.labels_file})"
    if split == "train":
        return error("label_classes", f"split {split!r} has only class {only} ({n} labelled "
                     "patients): a classifier cannot be trained on one class", where)
    consequence = ONE_CLASS_CONSEQUENCE.get(split, "AUROC and AUPRC are undefined there")
    return warning("label_classes", f"split {split!r} has only class {only} ({n} labelled "
                   f"patients): {consequence}", where)


def _all_one_class(d: RawData, prev: pd.DataFrame) -> list[Finding]:
    """Without a training split among the checked ones (a Layout B table without a split column,
    or other splits chosen), all labelled patients in one class is still an error."""
    k, n = prev["k"].sum(), prev["n"].sum()
    if 0 < k < n:
        return []
    return [error("label_classes", f"all {int(n)} labelled patients are class {int(k > 0)}; a "
                  "classifier needs both", d.labels_file)]


def check_prevalence_drift(d: RawData, bounds: Bounds) -> list[Finding]:
    """Warn when a split's prevalence differs from train by more than ``drift_threshold`` AND the
    difference is unlikely under one shared prevalence (chi-square, or Fisher's exact test when
    an expected count is below 5). Both: tiny splits drift by chance, huge ones significantly by
    trivial amounts."""
    if not _columns_present(d):
        return []
    prev = _prevalence(d)
    if "train" not in prev.index:
        return []
    t = prev.loc["train"]
    out = []
    for split, row in prev.drop(index="train").iterrows():
        table = np.array([[t["k"], t["n"] - t["k"]], [row["k"], row["n"] - row["k"]]])
        if (table.sum(axis=0) == 0).any():
            continue  # one class overall: label_classes reports it
        expected = sps.contingency.expected_freq(table)
        if (expected < 5).any():
            test, p = "Fisher exact", sps.fisher_exact(table).pvalue
        else:
            test, p = "chi-square", sps.chi2_contingency(table).pvalue
        diff = row["p"] - t["p"]
        if abs(diff) > bounds.drift_threshold and p < bounds.drift_alpha:
            out.append(warning("prevalence_drift", f"prevalence {row['p']:.3f} "
                               f"({int(row['k'])}/{int(row['n'])}) vs train {t['p']:.3f} "
                               f"({int(t['k'])}/{int(t['n'])}): difference {diff:+.3f} > "
                               f"{bounds.drift_threshold}, {test} p = {p:.2g} < "
                               f"{bounds.drift_alpha}", f"split {split}"))
    return out


def check_leakage(d: RawData, bounds: Bounds) -> list[Finding]:
    pats = d.patients.drop_duplicates(["patient_id", "split"])
    multi = pats[pats.duplicated("patient_id", keep=False)]
    out = [error("leakage", f"patient {pid} is in splits {' and '.join(g['split'])}",
                 " and ".join(g["file"].astype(str).unique()))
           for pid, g in multi.groupby("patient_id", sort=True)]
    return capped(out, "patients in several splits")
