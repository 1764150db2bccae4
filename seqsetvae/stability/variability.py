"""Loss variability, in both of its readings.

* Within-run noise: how much each update moves a loss measured on fixed probe batches, after
  warm-up and with the run's smooth downward trend removed (a fast-learning run would otherwise
  look "noisy" merely because its loss is still falling steeply).
* Between-seed spread: how far apart the final probe losses of the same config end up when only
  the seed changes; it is a property of a seed set, which the comparison engine's "spread" scale
  compares (engine.py).
"""

from __future__ import annotations

import numpy as np

TREND_DEGREE = 3  # a cubic follows a learning curve's bend without following its step-to-step noise
MIN_POINTS = TREND_DEGREE + 3  # probe values after warm-up: the trend's parameters plus 2 changes


def within_run_noise(probe_losses, warmup_steps: int) -> float:
    """Standard deviation of the step-to-step changes of the detrended probe loss after warm-up.

    The probe loss is evaluated on the same fixed batches after every optimizer step, so batch
    sampling noise is absent: what remains is how much each update moves the model's loss."""
    tail = np.asarray(probe_losses, dtype=float)[warmup_steps:]
    if len(tail) < MIN_POINTS:
        raise ValueError(f"need at least {MIN_POINTS} probe values after warm-up, "
                         f"got {len(tail)}")
    if not np.isfinite(tail).all():
        return float("inf")
    x = np.linspace(-1.0, 1.0, len(tail))
    trend = np.polynomial.Polynomial.fit(x, tail, TREND_DEGREE)(x)
    return float(np.std(np.diff(tail - trend), ddof=1))
