"""Gradient contract over a run (DESIGN.md 7.3), from the pre-clip global norms the trainer logs."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass
class GradientReport:
    steps: int
    all_finite: bool
    nonfinite_steps: int
    median: float
    max: float
    spike_ratio: float  # max / median of the finite pre-clip norms
    clipped_fraction: float  # steps whose pre-clip norm exceeded the clip value
    clip_value: float

    def to_dict(self) -> dict:
        return asdict(self)


def gradient_report(grad_norms, clip_value: float) -> GradientReport:
    g = np.asarray(grad_norms, dtype=float)
    finite = g[np.isfinite(g)]
    median = float(np.median(finite)) if len(finite) else float("nan")
    peak = float(finite.max()) if len(finite) else float("nan")
    clipped = float((finite > clip_value).mean()) if clip_value > 0 and len(finite) else 0.0
    return GradientReport(steps=len(g), all_finite=bool(len(finite) == len(g)),
                          nonfinite_steps=int(len(g) - len(finite)), median=median, max=peak,
                          spike_ratio=peak / median if median > 0 else float("inf"),
                          clipped_fraction=clipped, clip_value=clip_value)
