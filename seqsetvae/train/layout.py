"""The files of a run directory, named once: the trainer writes them, resume, the run-directory
guard and `diagnose` read them, and nothing else spells a file name."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RunLayout:
    root: Path

    def __post_init__(self):
        object.__setattr__(self, "root", Path(self.root))

    @classmethod
    def of_checkpoint(cls, checkpoint: Path) -> RunLayout:
        """The run a checkpoint file lies in (RUN/checkpoints/NAME.pt)."""
        return cls(Path(checkpoint).parent.parent)

    # what the run logs
    @property
    def config(self) -> Path:
        return self.root / "config.json"

    @property
    def metrics(self) -> Path:  # one deterministic record per train step
        return self.root / "metrics.jsonl"

    @property
    def timing(self) -> Path:  # wall-clock, kept apart so metrics.jsonl repeats exactly
        return self.root / "timing.jsonl"

    @property
    def summary(self) -> Path:
        return self.root / "summary.json"

    @property
    def nonfinite_report(self) -> Path:
        return self.root / "nonfinite_report.json"

    @property
    def tensorboard(self) -> Path:
        return self.root / "tensorboard"

    @property
    def lock(self) -> Path:
        return self.root / "train.lock"

    # checkpoints
    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    def checkpoint(self, name: str) -> Path:
        return self.checkpoints / f"{name}.pt"

    @property
    def last(self) -> Path:
        return self.checkpoint("last")

    @property
    def last_prev(self) -> Path:  # the previous good `last`, a fallback if `last` is damaged
        return self.checkpoint("last.prev")

    @property
    def best(self) -> Path:
        return self.checkpoint("best")

    def resume_candidates(self) -> list[Path]:
        """Checkpoints to resume from, newest first. `best` holds the same full state as `last`
        at the validation that improved: a resume point of last resort (later steps redone)."""
        return [self.last, self.last_prev, self.best]

    def has_checkpoints(self) -> bool:
        return any(self.checkpoints.glob("*.pt"))
