"""Stability statistics: the library behind `nox -s stability`, `seqsetvae compare` and the gate.

Each check is a function returning numbers or problems; thresholds live in ``verdicts`` and every
paired comparison goes through ``engine``."""

from .checks import (
    CHECKS,
    Problem,
    check_names,
    contract_problems,
    label_problems,
    output_problems,
)
from .collapse import PosteriorHealth, active_units, mutual_information, posterior_health
from .engine import Design, Statistic, compare, compare_fixed, describe
from .gradients import GradientReport, gradient_report
from .learning import LearningReport, learning_report
from .variability import within_run_noise

__all__ = ["CHECKS", "Design", "GradientReport", "LearningReport", "PosteriorHealth", "Problem",
           "Statistic", "active_units", "check_names", "compare", "compare_fixed",
           "contract_problems", "describe", "gradient_report", "label_problems", "learning_report",
           "mutual_information", "output_problems", "posterior_health", "within_run_noise"]
