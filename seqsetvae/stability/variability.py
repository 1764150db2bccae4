"""Loss variability, in both of its readings, and paired-seed comparisons of two configs.

* Within-run noise: how much each update moves a loss measured on fixed probe batches, after
  warm-up and with the run's smooth downward trend removed (a fast-learning run would otherwise
  look "noisy" merely because its loss is still falling steeply).
* Between-seed spread: how far apart the final probe losses of the same config end up when only
  the seed changes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

TREND_DEGREE = 3  # a cubic follows a learning curve's bend without following its step-to-step noise
MIN_POINTS = TREND_DEGREE + 3  # probe values after warm-up: the trend's parameters plus 2 changes


def within_run_noise(probe_losses, warmup_steps: int) -> float:
    """Standard deviation of the step-to-step changes of the detrended probe loss after warm-up.

    The probe loss is evaluated on the same fixed batches after every optimizer step, so batch
    sampling noise is absent: what remains is how much each update moves the model's loss."""
    tail = np.asarray(probe_losses, dtype=float)[warmup_steps:]
    if len(tail) < MIN_POINTS:
        raise ValueError(f"need at least {MIN_POINTS} probe values after warm-up, "
                         f"got {len(tail)}")
    if not np.isfinite(tail).all():
        return float("inf")
    x = np.linspace(-1.0, 1.0, len(tail))
    trend = np.polynomial.Polynomial.fit(x, tail, TREND_DEGREE)(x)
    return float(np.std(np.diff(tail - trend), ddof=1))


def one_sided_t_tests(changes) -> tuple[float, float, float, float]:
    """Paired changes (one per seed or round): (mean, standard error, p that the mean change is
    above 0, p that it is below 0), one-sided one-sample t-tests."""
    w = np.asarray(changes, dtype=float)
    n, mean = len(w), float(w.mean())
    se = float(w.std(ddof=1) / np.sqrt(n))
    if se == 0.0:  # every pair moved by exactly the same amount
        return mean, 0.0, float(mean <= 0), float(mean >= 0)
    t = mean / se
    return mean, se, float(stats.t.sf(t, n - 1)), float(stats.t.cdf(t, n - 1))


def min_attainable_p(n: int) -> float:
    """Smallest one-sided p-value an exact signed-rank (or sign) test can give on n pairs: the
    chance that all n signs agree. A control with min_attainable_p(n) >= alpha cannot fail."""
    return 0.5 ** n


@dataclass
class PairedComparison:
    """Is `candidate` lower than `reference` on `statistic`, over the same seeds?"""

    statistic: str
    candidate: str
    reference: str
    seeds: list[int]
    candidate_values: list[float]  # per seed (spread: the final probe losses)
    reference_values: list[float]
    ratio: float  # candidate / reference (within-run: geometric mean of per-seed ratios)
    ci_low: float
    ci_high: float  # paired bootstrap confidence interval of the ratio
    p_value: float  # one-sided Wilcoxon signed-rank, H1: candidate lower
    min_attainable_p: float
    wins: int  # seeds where the candidate is lower
    alpha: float
    supported: bool  # p < alpha and ci_high < 1

    @property
    def verdict(self) -> str:
        word = "supported" if self.supported else "NOT supported"
        return (f"claim '{self.candidate} has lower {self.statistic} than {self.reference}' is "
                f"{word}: ratio {self.ratio:.3f} (95% CI {self.ci_low:.3f}-{self.ci_high:.3f}), "
                f"one-sided Wilcoxon p = {self.p_value:.4f} (smallest attainable "
                f"{self.min_attainable_p:.4f}), {self.wins}/{len(self.seeds)} seeds")

    def to_dict(self) -> dict:
        return {**asdict(self), "verdict": self.verdict}


def _paired(candidate, reference) -> tuple[np.ndarray, np.ndarray]:
    cand, ref = np.asarray(candidate, float), np.asarray(reference, float)
    if len(cand) != len(ref) or len(cand) < 2:
        raise ValueError("paired comparison needs the same seeds (at least 2) for both configs")
    return cand, ref


def paired_bootstrap_ci(statistic, n: int, n_resamples: int, confidence: float,
                        random_state: int) -> tuple[float, float]:
    """Percentile interval of ``statistic(indices)`` over seed indices resampled with replacement
    (pairs stay together). ``indices`` is an [n_resamples, n] matrix, one resample per row, and
    ``statistic`` returns one value per row; rows where it is undefined are dropped."""
    values = bootstrap_values(statistic, n, n_resamples, random_state)
    tail = (1 - confidence) / 2 * 100
    return float(np.percentile(values, tail)), float(np.percentile(values, 100 - tail))


def bootstrap_values(statistic, n: int, n_resamples: int, random_state: int) -> np.ndarray:
    """The finite values of ``statistic`` over paired resamples (see paired_bootstrap_ci)."""
    indices = np.random.default_rng(random_state).integers(0, n, (n_resamples, n))
    values = np.asarray(statistic(indices), dtype=float)
    return values[np.isfinite(values)]


def compare_paired(candidate: list[float], reference: list[float], seeds: list[int],
                   names: tuple[str, str] = ("candidate", "reference"), alpha: float = 0.05,
                   n_resamples: int = 9999, confidence: float = 0.95, random_state: int = 0,
                   statistic: str = "within-run loss noise") -> PairedComparison:
    """Within-run reading: per-seed positive statistics, compared through their log ratios."""
    cand, ref = _paired(candidate, reference)
    if not (np.all(cand > 0) and np.all(ref > 0)):
        raise ValueError("variability statistics must be positive")
    # a diverged run (infinite noise) ranks as the largest change instead of breaking the test
    log_ratio = np.clip(np.log(cand / ref), -50.0, 50.0)
    p = float(stats.wilcoxon(log_ratio, alternative="less").pvalue) \
        if np.any(log_ratio != 0) else 1.0
    lo, hi = paired_bootstrap_ci(lambda i: log_ratio[i].mean(axis=1), len(cand), n_resamples,
                                 confidence, random_state)
    lo, hi = float(np.exp(lo)), float(np.exp(hi))
    return PairedComparison(
        statistic=statistic, candidate=names[0], reference=names[1], seeds=list(seeds),
        candidate_values=cand.tolist(), reference_values=ref.tolist(),
        ratio=float(np.exp(log_ratio.mean())), ci_low=lo, ci_high=hi, p_value=p,
        min_attainable_p=min_attainable_p(len(cand)), wins=int((log_ratio < 0).sum()),
        alpha=alpha, supported=bool(p < alpha and hi < 1.0))


def compare_spread(candidate_finals: list[float], reference_finals: list[float],
                   seeds: list[int], names: tuple[str, str] = ("candidate", "reference"),
                   alpha: float = 0.05, n_resamples: int = 9999, confidence: float = 0.95,
                   random_state: int = 0) -> PairedComparison:
    """Between-seed reading: is the candidate's final probe loss less spread over seeds?

    Test: one-sided Wilcoxon signed-rank on the paired absolute deviations from each config's
    median (a paired Brown-Forsythe comparison); ratio: SD(candidate) / SD(reference) with a
    paired bootstrap CI over seeds."""
    cand, ref = _paired(candidate_finals, reference_finals)
    dev_c, dev_r = np.abs(cand - np.median(cand)), np.abs(ref - np.median(ref))
    diff = dev_c - dev_r
    p = float(stats.wilcoxon(diff, alternative="less").pvalue) if np.any(diff != 0) else 1.0

    def log_sd_ratio(i):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(np.std(cand[i], axis=1, ddof=1) / np.std(ref[i], axis=1, ddof=1))

    lo, hi = paired_bootstrap_ci(log_sd_ratio, len(cand), n_resamples, confidence, random_state)
    return PairedComparison(
        statistic="between-seed spread of the final probe loss", candidate=names[0],
        reference=names[1], seeds=list(seeds), candidate_values=cand.tolist(),
        reference_values=ref.tolist(),
        ratio=float(np.std(cand, ddof=1) / np.std(ref, ddof=1)) if np.std(ref) > 0
        else float("inf"),
        ci_low=float(np.exp(lo)), ci_high=float(np.exp(hi)), p_value=p,
        min_attainable_p=min_attainable_p(len(cand)), wins=int((diff < 0).sum()), alpha=alpha,
        supported=bool(p < alpha and np.exp(hi) < 1.0))
