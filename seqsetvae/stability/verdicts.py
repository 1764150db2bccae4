"""Thresholds of the stability properties and the findings they produce: the one source of
verdicts for the stability suite, `seqsetvae compare` and `seqsetvae diagnose`.

Each threshold was fixed from what it must reject (an untrained model, a decoder that ignores
z, a clip that stopped working), never tuned until a run passed. Each ``*_findings`` function
turns a library statistic into readable violations; an empty list means the property holds.
"""

from __future__ import annotations

import math

# property 0: it learns
MIN_PROBE_DROP = 0.05  # the probe loss ends at least 5% below its value at initialisation
MIN_VALID_AUROC = 0.70  # synthetic data only (known ground truth); chance is 0.5
# property 1: loss variability (paired seeds)
ALPHA = 0.05  # one-sided Wilcoxon signed-rank
# property 2: no posterior collapse. The bounds sit well above what an untrained model reaches
# (stability_suite/test_collapse.py), and a decoder that ignores z has a shuffle gap of exactly 0.
MIN_ACTIVE_FRACTION = 0.5  # dims with Var_x(mu_d) > 0.01 (Burda et al. 2016)
MIN_KL_PER_DIM = 0.01  # nats; a posterior this close to the prior carries ~nothing
MIN_SHUFFLE_GAP = 0.02  # shuffling z across sets worsens reconstruction by at least 2%
# property 3: bounded gradients and no divergence
MAX_SPIKE_RATIO = 10.0  # max / median pre-clip norm within a run
MAX_GROWTH = 10.0  # late / early median pre-clip norm: an order of magnitude is an explosion
MAX_RISE = 1.5  # probe loss may not climb to 1.5x the best value it had reached
MAX_CLIP_OVERSHOOT = 1.01  # applied norm / clip value (1% for float rounding)
MAX_CLIPPED_FRACTION = 0.5  # more than half of the steps clipped: the clip value is too tight

# the per-run properties, in the order reports list them
RUN_PROPERTIES = ("learns", "collapse", "gradients", "divergence", "clip", "contract")


def learning_findings(report, ground_truth: bool) -> list[str]:
    found = []
    if not report.relative_drop >= MIN_PROBE_DROP:  # NaN (non-finite probe) fails too
        found.append(f"probe loss {report.initial:.4f} -> {report.final:.4f} "
                     f"(drop {report.relative_drop:.1%} < {MIN_PROBE_DROP:.0%}): nothing learned")
    if ground_truth and not report.valid_auroc >= MIN_VALID_AUROC:
        found.append(f"validation AUROC {report.valid_auroc:.3f} < {MIN_VALID_AUROC} on data "
                     "whose labels are predictable")
    return found


def collapse_findings(health) -> list[str]:
    found = []
    if health.active_fraction < MIN_ACTIVE_FRACTION:
        found.append(f"active units {health.active_units}/{health.latent_dim} "
                     f"< {MIN_ACTIVE_FRACTION:.0%}")
    if health.kl_per_dim_mean < MIN_KL_PER_DIM:
        found.append(f"mean KL per dim {health.kl_per_dim_mean:.4f} < {MIN_KL_PER_DIM} nats")
    if not health.shuffle_gap_relative >= MIN_SHUFFLE_GAP:
        found.append(f"shuffling z across sets worsens reconstruction by only "
                     f"{health.shuffle_gap_relative:+.2%} (< {MIN_SHUFFLE_GAP:.0%}): the decoder "
                     "barely uses z")
    return found


def gradient_findings(report) -> list[str]:
    found = []
    if not report.all_finite:
        found.append(f"{report.nonfinite_steps} step(s) with a non-finite gradient norm")
    if report.spike_ratio > MAX_SPIKE_RATIO:
        found.append(f"spike ratio {report.spike_ratio:.1f} > {MAX_SPIKE_RATIO} "
                     f"(max {report.max:.3g}, median {report.median:.3g})")
    if report.growth > MAX_GROWTH:
        found.append(f"gradient norm grew {report.growth:.1f}x from the run's early steps "
                     f"(> {MAX_GROWTH}x)")
    return found


def divergence_findings(report) -> list[str]:
    if not report.worst_rise <= MAX_RISE:
        return [f"probe loss climbed to {report.worst_rise:.2f}x the best value it had reached "
                f"(> {MAX_RISE}x): training diverged"]
    return []


def clip_findings(report) -> list[str]:
    """The clip must hold: no step may hand the optimizer a norm above the clip value."""
    if report.clip_value > 0 and not report.clip_overshoot <= MAX_CLIP_OVERSHOOT:
        return [f"the optimizer received a gradient norm of {report.max_applied:.3g}, "
                f"{report.clip_overshoot:.2f}x the clip value {report.clip_value}: clipping "
                "is not applied"]
    return []


def clip_tightness_findings(report) -> list[str]:
    if report.clipped_fraction > MAX_CLIPPED_FRACTION:
        return [f"{report.clipped_fraction:.0%} of steps clipped at {report.clip_value} "
                f"(> {MAX_CLIPPED_FRACTION:.0%}: clip value too tight)"]
    return []


def run_findings(trace, ground_truth: bool) -> dict[str, list]:
    """Every per-run property of one traced run: property name -> findings (text; under
    "contract", the Problems themselves, which print as text and name their check)."""
    return {"learns": learning_findings(trace.learning, ground_truth),
            "collapse": collapse_findings(trace.posterior),
            "gradients": gradient_findings(trace.gradients),
            "divergence": divergence_findings(trace.learning),
            "clip": clip_findings(trace.gradients),
            "contract": list(trace.contract_problems)}


def findings_text(findings: dict[str, list]) -> dict[str, list[str]]:
    """Findings as JSON-able text: each Problem as the "check: message" line reports show."""
    return {prop: [str(f) for f in found] for prop, found in findings.items()}


def control_margin(statistic: float, threshold: float, upper: bool = True) -> float:
    """How far a control's statistic clears its threshold: statistic / threshold for an upper
    bound (threshold / statistic for a lower bound); >= 2 is the suite's required margin."""
    if upper:
        return statistic / threshold if math.isfinite(statistic) else math.inf
    return threshold / statistic if statistic > 0 else math.inf
