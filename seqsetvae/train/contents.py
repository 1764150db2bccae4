"""What a training checkpoint holds, written and read in one place: the trainer saves one,
resume loads it back, `diagnose` reads its config and weights. Structured fields (counters,
history, config, variables) are stored as JSON text so the file holds tensors and plain values
only, which ``torch.load(weights_only=True)`` reads."""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path

import torch

from ..config import Config, ConfigError
from .checkpoint import CheckpointError, first_line, load_checkpoint

# what `diagnose` reads; resume needs every field
RUN_KEYS = ("model", "config", "variables", "trainer")
ALL_KEYS = ("model", "optimizer", "scheduler", "scaler", "trainer", "history", "rng", "config",
            "variables")


@dataclass
class TrainingCheckpoint:
    model: dict
    optimizer: dict
    scheduler: dict
    scaler: dict
    counters: dict  # TrainState without its history
    history: list
    rng: torch.Tensor  # for code that draws outside fit's seeded micro-batches
    config: dict  # Config.to_flat()
    variables: list[str]

    def to_state(self) -> dict:
        return {"model": self.model, "optimizer": self.optimizer, "scheduler": self.scheduler,
                "scaler": self.scaler, "trainer": self.counters,
                "history": json.dumps(self.history), "rng": self.rng,
                "config": json.dumps(self.config), "variables": json.dumps(self.variables)}

    @classmethod
    def load(cls, path: str | Path, map_location="cpu") -> TrainingCheckpoint:
        """Every field, for a resume; a CheckpointError naming the file otherwise."""
        state = load_checkpoint(path, map_location=map_location, require=ALL_KEYS)
        with _as_checkpoint_error(path):
            return cls(state["model"], state["optimizer"], state["scheduler"], state["scaler"],
                       dict(state["trainer"]), json.loads(state["history"]), state["rng"],
                       json.loads(state["config"]), _variables(path, state))


def read_run(path: str | Path) -> tuple[Config, list[str], dict, int]:
    """(config, variables, model weights, optimizer step) of a checkpoint, for `diagnose`."""
    state = load_checkpoint(path, require=RUN_KEYS)
    with _as_checkpoint_error(path):
        cfg = Config.from_flat(json.loads(state["config"]), source=str(path))
        return cfg, _variables(path, state), state["model"], int(state["trainer"]["step"])


def _variables(path, state) -> list[str]:
    variables = json.loads(state["variables"])
    if not isinstance(variables, list):
        raise CheckpointError(f"{path}: not a training checkpoint (variables is not a list)")
    return variables


@contextlib.contextmanager
def _as_checkpoint_error(path):
    """Malformed fields become one CheckpointError line naming the file."""
    try:
        yield
    except CheckpointError:
        raise
    except (ConfigError, TypeError, ValueError, KeyError) as exc:
        raise CheckpointError(f"{path}: not a training checkpoint of this version "
                              f"({type(exc).__name__}: {first_line(exc)})") from None
