"""Property 0, "it learns", and loss divergence: statistics of the probe-loss curve of a run.

A property measured on a run that learned nothing proves nothing (an untrained model has no
collapse to detect), so every run first has to show that training worked."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass
class LearningReport:
    initial: float  # probe loss before the first step
    final: float  # probe loss after the last step
    relative_drop: float  # 1 - final / initial (> 0: the loss fell)
    worst_rise: float  # max over t of probe[t] / min(probe[:t]): 1 for a loss that never rose
    valid_auroc: float  # on the whole validation split after training (NaN: one class only)

    def to_dict(self) -> dict:
        return asdict(self)


def learning_report(probe_losses, valid_auroc: float = float("nan")) -> LearningReport:
    p = np.asarray(probe_losses, dtype=float)
    if len(p) < 2:
        raise ValueError(f"need the probe loss before and after training, got {len(p)} values")
    if not np.isfinite(p).all():
        return LearningReport(float(p[0]), float(p[-1]), float("nan"), float("inf"), valid_auroc)
    best_so_far = np.minimum.accumulate(p)
    return LearningReport(initial=float(p[0]), final=float(p[-1]),
                          relative_drop=float(1.0 - p[-1] / p[0]),
                          worst_rise=float((p[1:] / best_so_far[:-1]).max()),
                          valid_auroc=float(valid_auroc))
