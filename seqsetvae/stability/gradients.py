"""Gradient behaviour over a run, from the norms the trainer logs per step.

Three ways a run's gradients go wrong, each with its own statistic: a few steps spike far above
the rest (spike ratio), the whole run drifts upwards (growth against the run's own early steps:
a uniformly exploding run has a small spike ratio), and clipping stops working (the norm the
optimizer received exceeds the clip value).
"""

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
    growth: float  # median of the last third / median of the first third (after warm-up)
    clipped_fraction: float  # steps whose applied norm was rescaled below the pre-clip norm
    clip_value: float  # 0: clipping disabled
    max_applied: float  # largest norm the optimizer received
    clip_overshoot: float  # max_applied / clip_value (> 1: the clip did not hold)

    def to_dict(self) -> dict:
        return asdict(self)


def gradient_report(grad_norms, clip_value: float, applied_norms=None,
                    warmup_steps: int = 0) -> GradientReport:
    """``grad_norms``: pre-clip global norms per step; ``applied_norms``: the norms after
    clipping, measured on the gradients the optimizer stepped with (default, for logs that lack
    them: what a working clip would have applied, so no overshoot is claimed without evidence)."""
    g = np.asarray(grad_norms, dtype=float)
    if applied_norms is None:
        a = np.minimum(g, clip_value) if clip_value > 0 else g
    else:
        a = np.asarray(applied_norms, dtype=float)
    finite = np.isfinite(g) & np.isfinite(a)
    gf, af = g[finite], a[finite]
    median = float(np.median(gf)) if len(gf) else float("nan")
    peak = float(gf.max()) if len(gf) else float("nan")
    max_applied = float(af.max()) if len(af) else float("nan")
    clipped = float((af < gf * (1 - 1e-4)).mean()) if len(gf) else 0.0
    return GradientReport(
        steps=len(g), all_finite=bool(finite.all()), nonfinite_steps=int((~finite).sum()),
        median=median, max=peak, spike_ratio=peak / median if median > 0 else float("inf"),
        growth=growth_ratio(g, warmup_steps), clipped_fraction=clipped, clip_value=clip_value,
        max_applied=max_applied,
        clip_overshoot=max_applied / clip_value if clip_value > 0 else float("nan"))


def growth_ratio(grad_norms, warmup_steps: int = 0) -> float:
    """Median norm of the last third of the steps over that of the first third, warm-up
    excluded: near 1 for a steady run, large when the norms climb step after step."""
    g = np.asarray(grad_norms, dtype=float)[warmup_steps:]
    g = g[np.isfinite(g)]
    if len(g) < 3:
        return float("nan")
    third = len(g) // 3
    early, late = float(np.median(g[:third])), float(np.median(g[-third:]))
    return late / early if early > 0 else float("inf")
