"""Where a run stands: the loop position and counters a checkpoint saves and a resume restores."""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass
class TrainState:
    step: int = 0  # optimizer steps taken
    epoch: int = 0
    micro: int = 0  # micro-batches consumed in the current epoch
    attempts: int = 0  # train steps run, skipped ones included (= lines in metrics.jsonl)
    skipped: int = 0  # steps skipped for non-finite loss or gradients
    consecutive_skips: int = 0
    best_val: float = math.inf
    bad_validations: int = 0  # validations since the best one (early stopping)
    stop_reason: str | None = None
    history: list = field(default_factory=list)  # validation records
