"""Fixed points where a test can reach into a training step, e.g. to plant a NaN and check that
the step is skipped, or into a checkpoint write, to kill the process inside it. The default
hooks do nothing, so the loop has no test-only branches.

A Trainer calls the hooks it was given (``Trainer(..., hooks=...)``) or, without any, those
installed process-wide when it was built: a test that runs the command line in a child process
installs its hooks there (``install`` or ``installed``) before calling ``seqsetvae.cli.main``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from ..data.collate import Batch


class StepHooks:
    """Called by the Trainer. ``attempt`` is the current optimizer-step attempt: 1-based, skipped
    steps included (the line number in metrics.jsonl), the same after a kill and ``--resume``."""

    def on_batch(self, attempt: int, batch: Batch) -> None:
        """A micro-batch on the device, before the forward pass; may edit it in place."""

    def on_loss(self, attempt: int, loss: torch.Tensor) -> torch.Tensor:
        """A micro-batch's loss, before the backward pass; the returned loss is the one
        backpropagated and logged."""
        return loss

    def on_grads(self, attempt: int, params: list[torch.nn.Parameter]) -> None:
        """The parameters after this rank's backward passes, before the gradients are summed
        across ranks, unscaled and clipped; may edit ``p.grad`` in place."""

    def on_checkpoint(self, path: Path) -> None:
        """Checkpoint ``path`` is written and synced under a temporary name, the one it replaces
        already moved aside, and not yet renamed into place: a crash here must be recoverable."""


_installed = StepHooks()


def current() -> StepHooks:
    """The hooks a Trainer built now without explicit hooks uses."""
    return _installed


def install(hooks: StepHooks) -> StepHooks:
    """Make ``hooks`` the process-wide default; returns the previous default."""
    global _installed
    previous, _installed = _installed, hooks
    return previous


@contextlib.contextmanager
def installed(hooks: StepHooks) -> Iterator[StepHooks]:
    """``install(hooks)`` for the ``with`` block only."""
    previous = install(hooks)
    try:
        yield hooks
    finally:
        install(previous)
