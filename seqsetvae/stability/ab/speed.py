"""The speed verdict of the gate: time per training step, apart from stability.

Wall-clock speed moves with the load of a shared machine, so it is measured in timed rounds in
which the two sides take turns (A B B A A B ...: one side computes at a time, and the mirrored
order cancels a steady drift of the machine's speed), and each round of one side is paired with
the neighbouring round of the other. The paired rounds go through the comparison engine like
seeds (engine.py: a ratio statistic, one block). The verdict never enters the stability verdict
or ``--fail_on_worse`` (``--fail_on_slower`` asks for it).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np

from ..engine import UNMEASURED, Statistic, compare_fixed

STEP_TIME = Statistic("step_time", "time per training step", "higher", "ratio", 1.10)


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
    """Which side (0 = reference, 1 = candidate) computes at each turn: A B, B A, A B, ..."""
    return [side for r in range(rounds) for side in ((0, 1) if r % 2 == 0 else (1, 0))]


def speed_verdict(ref_seconds: list[float], tree_seconds: list[float],
                  design: SpeedDesign) -> dict:
    """Round i of each side is paired; effect: the candidate's time over the reference's
    (geometric mean); steps per second change by its inverse. Verdict "worse" means slower."""
    ref, tree = np.asarray(ref_seconds, float), np.asarray(tree_seconds, float)
    base = {"ref_seconds": ref.tolist(), "tree_seconds": tree.tolist(), "design": asdict(design)}
    if len(ref) != len(tree) or len(ref) < 3 or not (np.all(ref > 0) and np.all(tree > 0)):
        return {"verdict": UNMEASURED, **base}
    stat = replace(STEP_TIME, min_effect=design.min_effect)
    row = compare_fixed({stat.key: ref.tolist()}, {stat.key: tree.tolist()}, range(len(ref)),
                        (stat,), alpha=design.alpha, power=design.power)[stat.key]
    if row["identical"]:
        row.update(effect=1.0, ci_low=1.0, ci_high=1.0, p_worse=1.0, p_better=1.0,
                   resolution=design.min_effect)
    return {"verdict": row["verdict"], "time_ratio": row["effect"], "ci_low": row["ci_low"],
            "ci_high": row["ci_high"], "steps_per_second_ratio": 1.0 / row["effect"],
            "p_slower": row["p_worse"], "p_faster": row["p_better"],
            "resolution": row["resolution"], "rounds": len(ref), **base}
