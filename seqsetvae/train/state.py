"""Where a run stands: the loop position and counters a checkpoint saves and a resume restores."""

from __future__ import annotations

import dataclasses
import enum
import math
from dataclasses import dataclass, field


class Stop(enum.Enum):
    """Why a run stopped; ``TrainState.stop_reason`` holds the sentence with its numbers."""

    MAX_STEPS = "max_steps"
    EARLY_STOPPING = "early stopping"
    MAX_EPOCHS = "max_epochs"
    NONFINITE = "non-finite"


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
    stop: Stop | None = None  # not saved: a resumed run may go further

    def counters(self) -> dict:
        """What a checkpoint saves of the state besides the history."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if f.name not in ("history", "stop")}

    def stopped(self, stop: Stop, reason: str) -> None:
        self.stop, self.stop_reason = stop, reason
