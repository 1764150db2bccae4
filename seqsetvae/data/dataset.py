"""Locating a dataset's files and loading its splits as PackedData."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .errors import DataError
from .io import (
    DEFAULT_ID_COL,
    DEFAULT_LABEL_COL,
    EventTable,
    read_embeddings,
    read_labels,
    read_layout_a,
    read_layout_b,
    read_stats,
)
from .packed import PackedData, pack


def find_beside(data_dir: Path, name: str) -> Path | None:
    """``name`` in the data dir, else in its parent (the seed guide's layouts use both)."""
    for folder in (data_dir, data_dir.parent):
        if (folder / name).is_file():
            return folder / name
    return None


@dataclass
class DataSource:
    """Where a dataset lives: ``data_dir`` (Layout A) or ``events_path`` (Layout B)."""

    data_dir: Path | None = None
    events_path: Path | None = None  # Layout B long table
    params_map_path: Path | None = None
    label_path: Path | None = None
    embeddings_path: Path | None = None
    id_col: str = DEFAULT_ID_COL
    label_col: str = DEFAULT_LABEL_COL
    patient_col: str = "patient_id"
    split_col: str = "split"

    @classmethod
    def resolve(cls, data_dir=None, params_map_path=None, label_path=None, events=None,
                embeddings_path=None, require_side_files: bool = True, **cols) -> DataSource:
        """Fill stats/labels/embeddings defaults from the data dir; raise if stats or labels
        cannot be found, unless ``require_side_files`` is False (the validator reports them)."""
        if (data_dir is None) == (events is None):
            raise DataError("give exactly one of a data directory (Layout A) or an events table "
                            "(Layout B)")
        base = Path(data_dir) if data_dir is not None else Path(events).parent
        if data_dir is not None and not base.is_dir():
            raise DataError(f"{base}: data directory not found")
        stats = Path(params_map_path) if params_map_path else find_beside(base, "stats.csv")
        labels = Path(label_path) if label_path else find_beside(base, "oc.csv")
        if stats is None and require_side_files:
            raise DataError(f"{base}: no stats.csv here or in the parent; pass --params_map_path")
        if labels is None and require_side_files:
            raise DataError(f"{base}: no oc.csv here or in the parent; pass --label_path")
        emb = Path(embeddings_path) if embeddings_path else find_beside(base, "cached.csv")
        return cls(Path(data_dir) if data_dir else None, Path(events) if events else None,
                   stats, labels, emb, **cols)

    def stats(self) -> pd.DataFrame:
        return read_stats(self.params_map_path)

    def labels(self) -> pd.Series:
        return read_labels(self.label_path, self.id_col, self.label_col)

    def embeddings(self) -> pd.DataFrame | None:
        return read_embeddings(self.embeddings_path) if self.embeddings_path else None

    def events(self, split: str) -> EventTable:
        if self.data_dir is not None:
            return read_layout_a(self.data_dir, split)
        return read_layout_b(self.events_path, split, self.patient_col, self.split_col)

    def splits(self) -> tuple[PackedData, PackedData]:
        """The train and valid splits, packed against one read of the stats and labels."""
        stats, labels = self.stats(), self.labels()
        return self.load("train", stats, labels), self.load("valid", stats, labels)

    def load(self, split: str, stats=None, labels=None, **pack_kwargs) -> PackedData:
        stats = self.stats() if stats is None else stats
        labels = self.labels() if labels is None else labels
        return pack(self.events(split), stats, labels, **pack_kwargs)
