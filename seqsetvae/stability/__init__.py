"""Stability statistics: the library behind `nox -s stability` and `seqsetvae compare`.

Each check is a function returning numbers or problems; thresholds live in stability_suite/."""

from .collapse import PosteriorHealth, active_units, mutual_information, posterior_health
from .contract import contract_problems, label_problems, output_problems
from .gradients import GradientReport, gradient_report
from .variability import PairedComparison, compare_paired, step_change_sd

__all__ = ["GradientReport", "PairedComparison", "PosteriorHealth", "active_units",
           "compare_paired", "contract_problems", "gradient_report", "label_problems",
           "mutual_information", "output_problems", "posterior_health", "step_change_sd"]
