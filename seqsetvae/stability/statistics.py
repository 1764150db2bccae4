"""The statistics the comparison engine compares, read off a traced run.

Each is one the stability suite computes, by the same library function, with the direction that
counts against a candidate and the smallest change that counts at all (a real but tiny change is
not a regression a reviewer should be stopped by). The engine (engine.py) knows nothing of runs;
this table is where runs become numbers. Statistics read a run's ``measurements`` (the numbers a
summary keeps per run), so a published summary can be judged again without its runs.
"""

from __future__ import annotations

from .engine import Statistic, compare_fixed, in_family
from .runs import Profile, RunTrace
from .variability import within_run_noise


def at(*path: str):
    """A reader of one number from a run's measurements (``measurements`` below)."""
    def read(m: dict) -> float:
        for key in path:
            m = m[key]
        return float(m)
    return read


STATISTICS = (
    Statistic("within_run_noise", "within-run noise", "higher", "ratio", 1.10,
              at("within_run_noise")),
    # a property of the whole seed set; outside the gate's family (docs: gate calibration)
    Statistic("between_seed_spread", "between-seed spread (final probe loss)", "higher",
              "spread", 1.10, at("final_probe_loss"), gates=False),
    Statistic("final_probe_loss", "final probe loss", "higher", "ratio", 1.02,
              at("final_probe_loss")),
    Statistic("probe_drop", "probe loss drop", "lower", "difference", -0.02,
              at("learning", "relative_drop"), percent=True),
    Statistic("valid_auroc", "validation AUROC", "lower", "difference", -0.02,
              at("learning", "valid_auroc")),
    Statistic("active_fraction", "active units", "lower", "difference", -0.10,
              at("posterior", "active_fraction"), percent=True),
    Statistic("kl_per_dim", "KL per dim", "lower", "ratio", 0.80,
              at("posterior", "kl_per_dim_mean")),
    Statistic("shuffle_gap", "shuffle gap", "lower", "difference", -0.01,
              at("posterior", "shuffle_gap_relative"), percent=True),
    Statistic("grad_spike_ratio", "gradient spike ratio", "higher", "ratio", 1.25,
              at("gradients", "spike_ratio")),
    Statistic("grad_growth", "gradient growth", "higher", "ratio", 1.25,
              at("gradients", "growth")),
    Statistic("clipped_fraction", "clipped steps", "higher", "difference", 0.10,
              at("gradients", "clipped_fraction"), percent=True),
    Statistic("max_applied_norm", "largest applied gradient norm", "higher", "ratio", 1.25,
              at("gradients", "max_applied")),
)
BY_KEY = {s.key: s for s in STATISTICS}

# The guide's headline claim, in both readings of "loss variance", tested as one family.
VARIABILITY = (in_family(BY_KEY["within_run_noise"]), in_family(BY_KEY["between_seed_spread"]))


def measurements(trace: RunTrace, profile: Profile) -> dict:
    """Every number of one run that a statistic reads (JSON-able): what a summary keeps per run,
    so verdicts can be recomputed from a published summary without its runs."""
    return {"seed": trace.seed,
            "within_run_noise": within_run_noise(trace.probe, profile.warmup_steps),
            "final_probe_loss": trace.learning.final,
            "learning": trace.learning.to_dict(),
            "gradients": trace.gradients.to_dict(),
            "posterior": trace.posterior.to_dict(),
            "contract_problems": [str(p) for p in trace.contract_problems],
            "steps_per_second": trace.steps_per_second}


def values_of(runs: list[dict], statistics=STATISTICS) -> dict[str, list[float]]:
    """Per statistic, the per-seed values of one side's run measurements (in seed order)."""
    return {s.key: [s.value(m) for m in runs] for s in statistics}


def statistic_values(traces: list[RunTrace], profile: Profile,
                     statistics=STATISTICS) -> dict[str, list[float]]:
    """Every statistic's per-seed values of one side's runs (in seed order), computed once."""
    return values_of([measurements(t, profile) for t in traces], statistics)


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
