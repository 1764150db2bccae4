"""Resuming a run: which checkpoint to resume from, and loading one back into a Trainer.

A checkpoint holds the whole state of a run (``contents.TrainingCheckpoint``): weights, optimizer,
scheduler, scaler, the loop position and counters, the validation history and the RNG state, so a
resumed run repeats the uninterrupted one bit for bit. ``resume_latest`` searches a run's
checkpoints newest first and skips damaged ones with a warning instead of stopping at the first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import torch

from .checkpoint import CheckpointError, first_line
from .contents import TrainingCheckpoint
from .layout import RunLayout
from .state import TrainState


class Trainer(Protocol):
    """What resuming reads and replaces (``trainer.Trainer`` has it); named here so that this
    module does not import the trainer that imports it."""

    device: torch.device
    layout: RunLayout
    train_data: object  # PackedData: its ``variables`` must match the checkpoint's
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    state: TrainState

    def warn(self, message: str) -> None: ...

def resume_run(trainer: Trainer, resume_from: str | Path | None) -> bool:
    """Load ``resume_from`` into ``trainer``: a checkpoint file, "auto" for the run's newest
    readable one, or None (start fresh). Returns whether a checkpoint was loaded."""
    if resume_from == "auto":
        return resume_latest(trainer) is not None
    if resume_from is not None:
        load_state(trainer, resume_from)
        return True
    return False


def load_state(trainer: Trainer, path: str | Path) -> None:
    """Load a checkpoint of this model and data into ``trainer``; an unreadable file or any
    mismatch is a CheckpointError naming the file."""
    ckpt = TrainingCheckpoint.load(path, map_location=trainer.device)
    if ckpt.variables != list(trainer.train_data.variables):
        raise CheckpointError(f"{path}: checkpoint was trained on other variables")
    try:
        trainer.model.load_state_dict(ckpt.model)
        trainer.optimizer.load_state_dict(ckpt.optimizer)
        trainer.scheduler.load_state_dict(ckpt.scheduler)
        trainer.scaler.load_state_dict(ckpt.scaler)
        state = TrainState(**ckpt.counters, history=ckpt.history)
        torch.set_rng_state(ckpt.rng.cpu())
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{path}: not a checkpoint of this model and data "
                              f"({type(exc).__name__}: {first_line(exc)})") from None
    trainer.state = state
    trainer.state.stop_reason = None  # a resumed run may go further (e.g. a larger max_steps)


def resume_latest(trainer: Trainer) -> Path | None:
    """Resume from the newest readable checkpoint of ``resume_candidates``; None (start fresh)
    when the run has none yet. Damaged checkpoints are reported and skipped; if all are damaged,
    stop rather than overwrite them with a fresh run."""
    candidates = trainer.layout.resume_candidates()
    damaged = []
    for path in candidates:
        if not path.exists():
            continue
        try:
            load_state(trainer, path)
        except CheckpointError as exc:
            trainer.warn(f"{exc}; trying an older checkpoint")
            damaged.append(path)
            continue
        if path != candidates[0]:
            trainer.warn(f"{candidates[0]} is missing or damaged; resumed from the older "
                         f"checkpoint {path} (step {trainer.state.step})")
        return path
    if damaged:
        raise CheckpointError(f"no usable checkpoint in {trainer.layout.checkpoints} (all "
                              f"damaged); move them away to start afresh or pass --resume FILE")
    trainer.warn(f"no checkpoint in {trainer.layout.checkpoints} yet; starting fresh")
    return None
