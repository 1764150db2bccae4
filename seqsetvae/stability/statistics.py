"""The statistics the comparison engine compares, read off a traced run.

Each is one the stability suite computes, by the same library function, with the direction that
counts against a candidate and the smallest change that counts at all (a real but tiny change is
not a regression a reviewer should be stopped by). The engine (engine.py) knows nothing of runs;
this table is where runs become numbers.
"""

from __future__ import annotations

from .engine import Statistic, compare_fixed, in_family
from .runs import Profile, RunTrace
from .variability import within_run_noise

STATISTICS = (
    Statistic("within_run_noise", "within-run noise", "higher", "ratio", 1.10,
              lambda r, p: within_run_noise(r.probe, p.warmup_steps)),
    # a property of the whole seed set; outside the gate's family (docs: gate calibration)
    Statistic("between_seed_spread", "between-seed spread (final probe loss)", "higher",
              "spread", 1.10, lambda r, p: r.learning.final, gates=False),
    Statistic("final_probe_loss", "final probe loss", "higher", "ratio", 1.02,
              lambda r, p: r.learning.final),
    Statistic("probe_drop", "probe loss drop", "lower", "difference", -0.02,
              lambda r, p: r.learning.relative_drop, percent=True),
    Statistic("valid_auroc", "validation AUROC", "lower", "difference", -0.02,
              lambda r, p: r.learning.valid_auroc),
    Statistic("active_fraction", "active units", "lower", "difference", -0.10,
              lambda r, p: r.posterior.active_fraction, percent=True),
    Statistic("kl_per_dim", "KL per dim", "lower", "ratio", 0.80,
              lambda r, p: r.posterior.kl_per_dim_mean),
    Statistic("shuffle_gap", "shuffle gap", "lower", "difference", -0.01,
              lambda r, p: r.posterior.shuffle_gap_relative, percent=True),
    Statistic("grad_spike_ratio", "gradient spike ratio", "higher", "ratio", 1.25,
              lambda r, p: r.gradients.spike_ratio),
    Statistic("grad_growth", "gradient growth", "higher", "ratio", 1.25,
              lambda r, p: r.gradients.growth),
    Statistic("clipped_fraction", "clipped steps", "higher", "difference", 0.10,
              lambda r, p: r.gradients.clipped_fraction, percent=True),
    Statistic("max_applied_norm", "largest applied gradient norm", "higher", "ratio", 1.25,
              lambda r, p: r.gradients.max_applied),
)
BY_KEY = {s.key: s for s in STATISTICS}

# The guide's headline claim, in both readings of "loss variance", tested as one family.
VARIABILITY = (in_family(BY_KEY["within_run_noise"]), in_family(BY_KEY["between_seed_spread"]))


def statistic_values(traces: list[RunTrace], profile: Profile,
                     statistics=STATISTICS) -> dict[str, list[float]]:
    """Every statistic's per-seed values of one side's runs (in seed order), computed once."""
    return {s.key: [float(s.value(t, profile)) for t in traces] for s in statistics}


def variability_claims(candidate: list[RunTrace], reference: list[RunTrace],
                       profile: Profile) -> dict[str, dict]:
    """The guide's headline claim, "the candidate's loss varies less", over paired seeds: both
    readings as one Holm family, one-sided. Key -> the engine's row; the claim holds for a
    reading whose verdict is "better". The suite and `seqsetvae compare` both call this, so
    they cannot disagree on the same runs."""
    seeds = [t.seed for t in candidate]
    if seeds != [t.seed for t in reference]:
        raise ValueError(f"paired comparison needs the same seeds on both sides, got {seeds} "
                         f"and {[t.seed for t in reference]}")
    return compare_fixed(statistic_values(reference, profile, VARIABILITY),
                         statistic_values(candidate, profile, VARIABILITY), seeds, VARIABILITY)
