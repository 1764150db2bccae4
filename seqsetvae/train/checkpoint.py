"""Atomic, finite, weights-only checkpoints.

A checkpoint is written to a temporary file in the same directory, fsynced, then renamed over the
old one, so a crash mid-write leaves the previous checkpoint intact. Loading uses
``torch.load(weights_only=True)``: no pickled code is ever executed.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be written or read; the message names the file."""


def all_finite(obj) -> bool:
    if isinstance(obj, torch.Tensor):
        return not obj.is_floating_point() or bool(torch.isfinite(obj).all())
    if isinstance(obj, dict):
        return all(all_finite(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return all(all_finite(v) for v in obj)
    return True


def save_checkpoint(state: dict, path: str | Path) -> None:
    path = Path(path)
    if not all_finite(state["model"]) or not all_finite(state["optimizer"]):
        raise CheckpointError(f"{path}: refusing to save a checkpoint with non-finite tensors")
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as fh:
        torch.save(state, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)  # make the rename itself durable
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def load_checkpoint(path: str | Path, map_location="cpu") -> dict:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # truncated, garbled or carrying a pickle payload
        raise CheckpointError(f"{path}: unreadable or unsafe checkpoint "
                              f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]})") from None
