"""Dataset validation: tolerant reading and every data check, collected into one report.

``data/`` loads a dataset and stops at its first error; this package reads the same files
tolerantly and reports every problem it finds, each with a location. Both judge the data by the
same rules (``seqsetvae.data.rules``).
"""

from .base import Finding
from .validate import CHECK_DOCS, ValidationReport, validate_dataset

__all__ = ["CHECK_DOCS", "Finding", "ValidationReport", "validate_dataset"]
