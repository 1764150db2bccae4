"""How many seeds a before-merge verdict needs, and how its error rate is kept.

The gate looks at its statistics after every block of seeds (6, 12, 18 ... up to a cap) and
stops as soon as the verdict is settled, so a clear regression costs one block and only an
undecided comparison pays for more seeds. Repeating a 5% test at every look would raise the
false-alarm rate with each look; instead the family-wise rate ``alpha`` is spent across looks
(``alpha / looks`` each, a Bonferroni split that holds whatever the dependence between looks) and,
within a look, across the gating statistics with Holm's step-down procedure. The union bound over
looks and Holm within each look keep the chance that any statistic is wrongly called worse, at
any look, at most ``alpha``.

A statistic is decided at a look when it is called worse, or when the worse end of its one-sided
``1 - futility`` confidence bound lies below its minimal effect ("within minimal effect"): more
seeds could not make it a regression that counts. Stopping for that reason (futility) never
raises the false-alarm rate, since it only ever ends a test without a rejection.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Design:
    block: int = 6  # seeds per look
    max_seeds: int = 18  # the cap: no look after this many seeds
    alpha: float = 0.05  # family-wise false-alarm rate over every gating statistic and look
    futility: float = 0.05  # decided "within minimal effect" at this one-sided confidence
    power: float = 0.80  # the power at which the report states each statistic's resolution

    def __post_init__(self):
        if self.block < 2 or self.max_seeds < self.block:
            raise ValueError(f"a sequential design needs blocks of at least 2 seeds and a cap of "
                             f"at least one block, got block {self.block}, cap {self.max_seeds}")
        if not (0 < self.alpha < 1 and 0 < self.futility < 1 and 0 < self.power < 1):
            raise ValueError("alpha, futility and power must lie between 0 and 1")

    def looks(self) -> list[int]:
        """Seeds at each look: every full block up to the cap (a last partial block included)."""
        sizes = list(range(self.block, self.max_seeds + 1, self.block))
        return sizes if sizes[-1] == self.max_seeds else [*sizes, self.max_seeds]

    def alpha_per_look(self) -> float:
        return self.alpha / len(self.looks())

    def look_index(self, seeds: int) -> int | None:
        """Which look ``seeds`` seeds complete (None: not a look of this design)."""
        looks = self.looks()
        return looks.index(seeds) if seeds in looks else None


def holm_adjusted(pvalues) -> np.ndarray:
    """Holm's step-down adjusted p-values: a hypothesis is rejected at family-wise level a when
    its adjusted p-value is below a. NaN (untestable) entries stay NaN and count as tested."""
    p = np.asarray(pvalues, dtype=float)
    m = len(p)
    order = np.argsort(np.where(np.isnan(p), np.inf, p), kind="stable")
    scaled = np.minimum(1.0, (m - np.arange(m)) * np.where(np.isnan(p[order]), 1.0, p[order]))
    adjusted = np.empty(m)
    adjusted[order] = np.maximum.accumulate(scaled)
    adjusted[np.isnan(p)] = np.nan
    return adjusted
