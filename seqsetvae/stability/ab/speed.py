"""The speed verdict of `compare --against`: steps per second, apart from stability.

Wall-clock speed moves with the load of a shared machine, so it is measured in timed rounds in
which the two sides take turns (A B B A A B ...: one side computes at a time, and the mirrored
order cancels a steady drift of the machine's speed), and each round of one side is paired with
the neighbouring round of the other. Noise model: the per-pair log time ratios are independent
draws around the true ratio; a one-sided t-test on them says "slower" when the working tree is
slower than REF at level alpha and by at least the minimal effect. The verdict never enters the
stability verdict or ``--fail_on_worse`` (``--fail_on_slower`` asks for it).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

from ..variability import one_sided_t_tests

SLOWER, FASTER, SAME, UNMEASURED = "slower", "faster", "no detectable change", "not measured"


@dataclass(frozen=True)
class SpeedDesign:
    rounds: int = 6  # timed rounds per side
    steps: int = 10  # optimizer steps per round
    alpha: float = 0.05
    min_effect: float = 1.10  # time ratio: slower by at least 10% counts
    power: float = 0.80  # for the stated resolution

    def __post_init__(self):
        if self.rounds < 3 or self.steps < 1:
            raise ValueError(f"timed rounds need at least 3 rounds of 1 step, got "
                             f"{self.rounds} rounds of {self.steps}")


def round_order(rounds: int) -> list[int]:
    """Which side (0 = REF, 1 = working tree) computes at each turn: A B, B A, A B, ..."""
    return [side for r in range(rounds) for side in ((0, 1) if r % 2 == 0 else (1, 0))]


def speed_verdict(ref_seconds: list[float], tree_seconds: list[float],
                  design: SpeedDesign) -> dict:
    """Round i of each side is paired; effect: the working tree's time over REF's (geometric
    mean), steps per second change by its inverse."""
    ref, tree = np.asarray(ref_seconds, float), np.asarray(tree_seconds, float)
    if len(ref) != len(tree) or len(ref) < 3 or not (np.all(ref > 0) and np.all(tree > 0)):
        return {"verdict": UNMEASURED, "ref_seconds": ref.tolist(),
                "tree_seconds": tree.tolist(), "design": asdict(design)}
    log_ratio = np.log(tree / ref)
    mean, se, p_slower, p_faster = one_sided_t_tests(log_ratio)
    n = len(log_ratio)
    half = stats.t.ppf(0.975, n - 1) * se
    detectable = (stats.t.ppf(1 - design.alpha, n - 1) + stats.t.ppf(design.power, n - 1)) * se
    needed = math.log(design.min_effect)
    if p_slower < design.alpha and mean >= needed:
        verdict = SLOWER
    elif p_faster < design.alpha and -mean >= needed:
        verdict = FASTER
    else:
        verdict = SAME
    return {"verdict": verdict, "time_ratio": math.exp(mean), "ci_low": math.exp(mean - half),
            "ci_high": math.exp(mean + half), "steps_per_second_ratio": math.exp(-mean),
            "p_slower": p_slower, "p_faster": p_faster,
            "resolution": math.exp(max(detectable, needed)), "rounds": n,
            "ref_seconds": ref.tolist(), "tree_seconds": tree.tolist(),
            "design": asdict(design)}
