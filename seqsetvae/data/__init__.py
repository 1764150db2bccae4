"""Data layer: readers (Layout A and B), packing, collation, bucketing, built-in datasets."""

from .collate import Batch, collate
from .dataset import DataSource
from .errors import DataError, DataWarning
from .io import SPLITS, read_labels, read_layout_a, read_layout_b, read_stats, read_table
from .packed import PackedData, pack
from .sampler import BucketBatchSampler

__all__ = ["Batch", "BucketBatchSampler", "DataError", "DataSource", "DataWarning", "PackedData",
           "SPLITS", "collate", "pack", "read_labels", "read_layout_a", "read_layout_b",
           "read_stats", "read_table"]
