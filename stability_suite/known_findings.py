"""Measured results that contradict a claim or a property, kept visible rather than tuned away.

Each entry turns its test into a non-strict xfail whose reason carries the numbers (CPU fp32,
quick profile, 2026-11-29). The assertion still runs: XPASS in the summary means the finding no
longer holds there and the entry should be revisited. `--strict-findings` makes them plain failures.
"""

KNOWN_FINDINGS: dict[str, str] = {
    "test_variance.py::test_optimized_has_lower_loss_variability_than_baseline[pbcseq]": (
        "on pbcseq the guide's claim is not supported at alpha 0.05: step-change SD ratio "
        "optimized/baseline 0.306 (95% bootstrap CI 0.118-0.830), one-sided Wilcoxon p = 0.078, "
        "lower in 4/6 seeds (per-seed ratios 0.33, 1.57, 1.36, 0.10, 0.06, 0.19)"),
    "test_collapse.py::test_no_posterior_collapse[synthetic-optimized]": (
        "seed 1 of 6: shuffling z across sets does not hurt reconstruction (gap -3e-05, "
        "-0.01%); the other seeds +0.02% to +0.55%. After 40 steps at lr 1e-5 the decoder "
        "barely uses z yet"),
    "test_collapse.py::test_no_posterior_collapse[pbcseq-optimized]": (
        "0/16 active units in 5 of 6 seeds (KL/dim 0.026-0.044 nats): after 40 steps at the "
        "guide's learning rate the posterior means barely vary across pbcseq visits; the quick "
        "profile cannot tell 'not yet informative' from 'collapsed'"),
    "test_collapse.py::test_no_posterior_collapse[pbcseq-baseline]": (
        "0/16 active units in 5 of 6 seeds (KL/dim 0.012-0.019 nats), seed 3 shuffle gap "
        "-0.02%: same as pbcseq-optimized"),
}
