"""Metric sinks (JSONL, optional TensorBoard) and ranking metrics without extra dependencies."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from scipy.stats import rankdata

from ..fileio import atomic_write_text


def auroc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve via the rank-sum statistic; NaN when one class is absent."""
    labels = np.asarray(labels).astype(bool)
    n_pos, n_neg = labels.sum(), (~labels).sum()
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(scores)
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def auprc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Average precision: mean precision at the rank of each positive."""
    labels = np.asarray(labels).astype(bool)
    if labels.sum() == 0:
        return float("nan")
    order = np.argsort(-np.asarray(scores), kind="stable")
    hits = labels[order]
    precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float(precision[hits].mean())


class JsonlWriter:
    """Append one JSON object per line, flushed, so a crash loses at most the current line."""

    def __init__(self, path: str | Path, keep_lines: int | None = None):
        """``keep_lines``: keep only the first that many records of an existing file (a resumed
        run drops what was logged after its checkpoint; 0 starts the file afresh)."""
        self.path = Path(path)
        if keep_lines is not None and self.path.exists():
            kept = [line + "\n" for line in _whole_lines(self.path)][:keep_lines]
            # atomic: a crash while resuming must not lose the kept lines
            atomic_write_text(self.path, "".join(kept))
        self.fh = open(self.path, "a")

    def write(self, record: dict) -> None:
        self.fh.write(json.dumps(record) + "\n")
        self.fh.flush()

    def sync(self) -> None:
        """Make the lines durable; called before a checkpoint that counts them is written."""
        os.fsync(self.fh.fileno())

    def close(self) -> None:
        self.fh.close()


def read_jsonl(path: str | Path) -> list[dict]:
    """The records of a JSONL file; a line cut short by a crash (unparseable) is skipped."""
    return [json.loads(line) for line in _whole_lines(path)]


def _whole_lines(path: str | Path) -> list[str]:
    lines = []
    for line in Path(path).read_text().splitlines():
        try:
            json.loads(line)
        except json.JSONDecodeError:  # empty, or cut short by a crash mid-write
            continue
        lines.append(line)
    return lines
