"""Thresholds of the stability properties, chosen before looking at results (never tuned to pass).

Each `*_findings` function turns a library statistic into human-readable violations; an empty
list means the property holds.
"""

from __future__ import annotations

ALPHA = 0.05  # one-sided Wilcoxon signed-rank, paired seeds
MAX_SPIKE_RATIO = 10.0  # max / median pre-clip gradient norm within a run
MAX_CLIPPED_FRACTION = 0.5  # more than half of the steps clipped: the clip value is too tight
MIN_ACTIVE_FRACTION = 0.05  # at least 1 in 20 latent dims with Var_x(mu_d) > 0.01 (Burda et al.)
MIN_KL_PER_DIM = 0.01  # nats; a posterior this close to the prior carries ~nothing
MIN_SHUFFLE_GAP = 0.0  # shuffling z across sets must make reconstruction worse


def gradient_findings(report) -> list[str]:
    found = []
    if not report.all_finite:
        found.append(f"{report.nonfinite_steps} step(s) with a non-finite pre-clip norm")
    if report.spike_ratio > MAX_SPIKE_RATIO:
        found.append(f"spike ratio {report.spike_ratio:.1f} > {MAX_SPIKE_RATIO} "
                     f"(max {report.max:.3g}, median {report.median:.3g})")
    return found


def clip_findings(report) -> list[str]:
    if report.clipped_fraction > MAX_CLIPPED_FRACTION:
        return [f"{report.clipped_fraction:.0%} of steps clipped at {report.clip_value} "
                f"(> {MAX_CLIPPED_FRACTION:.0%}: clip value too tight)"]
    return []


def collapse_findings(health) -> list[str]:
    found = []
    if health.active_fraction < MIN_ACTIVE_FRACTION:
        found.append(f"active units {health.active_units}/{health.latent_dim} "
                     f"< {MIN_ACTIVE_FRACTION:.0%}")
    if health.kl_per_dim_mean < MIN_KL_PER_DIM:
        found.append(f"mean KL per dim {health.kl_per_dim_mean:.4f} < {MIN_KL_PER_DIM} nats")
    if health.shuffle_gap <= MIN_SHUFFLE_GAP:
        found.append(f"shuffling z across sets does not hurt reconstruction "
                     f"(gap {health.shuffle_gap:.2e})")
    return found
