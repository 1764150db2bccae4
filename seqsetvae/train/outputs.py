"""The files a run writes beside its checkpoints, opened before the first step.

``open_run_files`` proves the run directory is writable and has room for the checkpoints, writes
config.json and opens metrics.jsonl and timing.jsonl (and TensorBoard if asked), so a run that
cannot write fails before its first step rather than at its first checkpoint. Who may write the
directory at all (the lock, refusing an existing run) is ``rundir``'s concern: the command line
settles it before a Trainer exists.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from typing import Any

import torch

from ..config import Config, save_config
from .errors import TrainingError
from .layout import RunLayout
from .metrics import JsonlWriter


@dataclass
class RunFiles:
    """The open sinks of a run; all None in a process that writes nothing (no output directory,
    or a rank other than 0)."""

    metrics: JsonlWriter | None = None  # one line per attempted step, deterministic
    timing: JsonlWriter | None = None  # the wall-clock figures of the same steps
    tb: Any = None  # torch.utils.tensorboard.SummaryWriter

    def sync(self) -> None:
        """Make the logged lines durable: a checkpoint counts them, so they must outlive it."""
        for sink in (self.metrics, self.timing):
            if sink is not None:
                sink.sync()

    def close(self) -> None:
        for sink in (self.metrics, self.timing, self.tb):
            if sink is not None:
                sink.close()


def open_run_files(layout: RunLayout, cfg: Config, model: torch.nn.Module, keep_lines: int,
                   tensorboard: bool) -> RunFiles:
    """``keep_lines``: the records of metrics.jsonl and timing.jsonl to keep (a resumed run's
    count at its checkpoint; lines logged after it are dropped and logged again)."""
    try:
        prepare_out_dir(layout, checkpoint_bytes(model))
        save_config(cfg, layout.config)
        files = RunFiles(JsonlWriter(layout.metrics, keep_lines=keep_lines),
                         JsonlWriter(layout.timing, keep_lines=keep_lines))
    except OSError as exc:
        raise TrainingError(f"{layout.root}: output directory is not writable "
                            f"({exc.strerror or exc})") from None
    if tensorboard:
        from torch.utils.tensorboard import SummaryWriter  # optional dependency

        files.tb = SummaryWriter(layout.tensorboard)
    return files


def checkpoint_bytes(model: torch.nn.Module) -> int:
    """Rough size of one checkpoint: weights plus AdamW's two moments, in float32."""
    return 3 * 4 * sum(p.numel() for p in model.parameters())


def prepare_out_dir(layout: RunLayout, checkpoint_size: int = 0) -> None:
    """Create the run directory and prove it is writable, with room for the checkpoints (a
    `last`, its previous copy and the one being written), before the first step. The probe is
    written and fsynced for real: a full disk or a read-only mount may only show at that point."""
    out_dir = layout.root
    try:
        layout.checkpoints.mkdir(parents=True, exist_ok=True)
        probe = out_dir / ".write_test"
        with open(probe, "wb") as fh:
            fh.write(b"\0" * 65536)
            fh.flush()
            os.fsync(fh.fileno())
        probe.unlink()
        free = shutil.disk_usage(out_dir).free
    except OSError as exc:
        raise TrainingError(f"{out_dir}: output directory is not writable ({exc.strerror})") \
            from None
    if free < 3 * checkpoint_size:
        raise TrainingError(f"{out_dir}: not enough free space for checkpoints (needs about "
                            f"{3 * checkpoint_size / 1e6:.1f} MB, {free / 1e6:.1f} MB free)")
