"""Loss variability per run and the paired-seed comparison of two configs (DESIGN.md 7.1)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats


def step_change_sd(probe_losses, warmup_steps: int) -> float:
    """Standard deviation of step-to-step changes of the probe loss after warm-up.

    The probe loss is evaluated on the same fixed batches after every optimizer step, so batch
    sampling noise is absent: what remains is how much each update moves the model's loss."""
    tail = np.asarray(probe_losses, dtype=float)[warmup_steps:]
    if len(tail) < 3:
        raise ValueError(f"need at least 3 probe values after warm-up, got {len(tail)}")
    return float(np.std(np.diff(tail), ddof=1))


@dataclass
class PairedComparison:
    """Is `candidate` less variable than `reference` on the same seeds?"""

    candidate: str
    reference: str
    seeds: list[int]
    candidate_stats: list[float]
    reference_stats: list[float]
    ratios: list[float]  # candidate / reference per seed
    ratio: float  # geometric mean of the ratios
    ci_low: float
    ci_high: float  # bootstrap confidence interval of the geometric-mean ratio
    p_value: float  # one-sided Wilcoxon signed-rank on log ratios (H1: candidate < reference)
    wins: int  # seeds where candidate < reference
    alpha: float
    supported: bool  # p < alpha and ci_high < 1

    @property
    def verdict(self) -> str:
        word = "supported" if self.supported else "NOT supported"
        return (f"claim '{self.candidate} has lower loss variability than {self.reference}' is "
                f"{word}: ratio {self.ratio:.3f} (95% CI {self.ci_low:.3f}-{self.ci_high:.3f}), "
                f"one-sided Wilcoxon p = {self.p_value:.4f}, {self.wins}/{len(self.seeds)} seeds")

    def to_dict(self) -> dict:
        return {**asdict(self), "verdict": self.verdict}


def compare_paired(candidate: list[float], reference: list[float], seeds: list[int],
                   names: tuple[str, str] = ("candidate", "reference"), alpha: float = 0.05,
                   n_resamples: int = 9999, confidence: float = 0.95,
                   random_state: int = 0) -> PairedComparison:
    cand, ref = np.asarray(candidate, float), np.asarray(reference, float)
    if len(cand) != len(ref) or len(cand) < 2:
        raise ValueError("paired comparison needs the same seeds (at least 2) for both configs")
    if not (np.all(cand > 0) and np.all(ref > 0)):
        raise ValueError("variability statistics must be positive")
    log_ratio = np.log(cand / ref)
    p = float(stats.wilcoxon(log_ratio, alternative="less").pvalue)
    ci = stats.bootstrap((log_ratio,), np.mean, confidence_level=confidence,
                         n_resamples=n_resamples, method="percentile",
                         random_state=np.random.default_rng(random_state)).confidence_interval
    lo, hi = float(np.exp(ci.low)), float(np.exp(ci.high))
    return PairedComparison(
        candidate=names[0], reference=names[1], seeds=list(seeds),
        candidate_stats=cand.tolist(), reference_stats=ref.tolist(),
        ratios=np.exp(log_ratio).tolist(), ratio=float(np.exp(log_ratio.mean())),
        ci_low=lo, ci_high=hi, p_value=p, wins=int((log_ratio < 0).sum()), alpha=alpha,
        supported=bool(p < alpha and hi < 1.0))
