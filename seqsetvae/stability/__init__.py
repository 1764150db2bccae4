"""Stability statistics: the library behind `nox -s stability` and `seqsetvae compare`.

Each check is a function returning numbers or problems; thresholds and verdicts live in
``verdicts``."""

from .checks import CHECKS, check_names, contract_problems, label_problems, output_problems
from .collapse import PosteriorHealth, active_units, mutual_information, posterior_health
from .gradients import GradientReport, gradient_report
from .learning import LearningReport, learning_report
from .variability import PairedComparison, compare_paired, compare_spread, within_run_noise

__all__ = ["CHECKS", "GradientReport", "LearningReport", "PairedComparison", "PosteriorHealth",
           "active_units", "check_names", "compare_paired", "compare_spread", "contract_problems",
           "gradient_report", "label_problems", "learning_report", "mutual_information",
           "output_problems", "posterior_health", "within_run_noise"]
