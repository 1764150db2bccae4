"""Atomic, finite, weights-only checkpoints.

A checkpoint is written to a temporary file in the same directory, fsynced, then renamed over the
old one, so a crash mid-write leaves the previous checkpoint intact. Loading uses
``torch.load(weights_only=True)``: no pickled code is ever executed. A CRC32 of the contents is
stored alongside and checked on load, because ``torch.load`` does not notice flipped bytes inside
tensor data.
"""

from __future__ import annotations

import os
import pickle
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import torch

from ..errors import InputError


class CheckpointError(InputError, RuntimeError):
    """A checkpoint that cannot be written or read; the message names the file."""


def all_finite(obj) -> bool:
    flags = [torch.isfinite(t).all() for t in _tensors(obj) if t.is_floating_point()]
    return bool(torch.stack(flags).all()) if flags else True  # one host sync, not one per tensor


def _tensors(obj):
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, dict):
        for value in obj.values():
            yield from _tensors(value)
    elif isinstance(obj, (list, tuple)):
        for value in obj:
            yield from _tensors(value)


def content_crc(obj, crc: int = 0) -> int:
    """CRC32 over tensors (dtype, shape, bytes) and other values (repr), in traversal order."""
    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu().contiguous().reshape(-1)
        crc = zlib.crc32(f"{t.dtype}{tuple(obj.shape)}".encode(), crc)
        return zlib.crc32(t.view(torch.uint8).numpy(), crc)
    if isinstance(obj, dict):
        for key, value in obj.items():
            crc = content_crc(value, zlib.crc32(repr(key).encode(), crc))
        return crc
    if isinstance(obj, (list, tuple)):
        for value in obj:
            crc = content_crc(value, crc)
        return crc
    return zlib.crc32(repr(obj).encode(), crc)


def save_checkpoint(state: dict, path: str | Path, previous: str | Path | None = None,
                    before_rename: Callable[[], None] | None = None) -> CheckpointError | None:
    """Write ``state`` to ``path`` atomically; ``previous``: keep the replaced file under that name.

    The old file is only moved aside once the new one is complete and fsynced, so at every
    instant either ``path`` or ``previous`` holds a whole checkpoint. A replaced file that fails
    its integrity check is not kept: it would push a good ``previous`` out. Returns why it was
    not kept, else None. ``before_rename`` is called in the one window where ``path`` is absent
    (the old file rotated, the new one not yet renamed): where a crash test aims."""
    path = Path(path)
    discarded = None
    if not all_finite(state["model"]) or not all_finite(state["optimizer"]):
        raise CheckpointError(f"{path}: refusing to save a checkpoint with non-finite tensors")
    tmp = path.with_name(f".{path.name}.tmp")
    state = {**state, "crc32": content_crc(state)}
    try:
        with open(tmp, "wb") as fh:
            torch.save(state, fh)
            fh.flush()
            os.fsync(fh.fileno())
        if previous is not None and path.exists():
            discarded = integrity_error(path)
            if discarded is None:
                os.replace(path, previous)
        if before_rename is not None:
            before_rename()
        os.replace(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)  # make the renames themselves durable
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except (OSError, RuntimeError) as exc:  # full disk, lost permissions (torch.save: RuntimeError)
        tmp.unlink(missing_ok=True)
        reason = getattr(exc, "strerror", None) or first_line(exc)
        raise CheckpointError(f"{path}: cannot write checkpoint ({reason})") from None
    return discarded


def integrity_error(path: Path) -> CheckpointError | None:
    """Why ``path`` is no checkpoint to fall back on (unreadable, unsafe, failing its CRC, not a
    state dict), or None if it is one."""
    try:
        state = load_checkpoint(path)
    except CheckpointError as exc:
        return exc
    if not isinstance(state, dict) or "model" not in state:
        return CheckpointError(f"{path}: not a training checkpoint")
    return None


def load_checkpoint(path: str | Path, map_location="cpu", require: tuple[str, ...] = ()) -> dict:
    """A checkpoint's state dict. ``require``: keys the caller reads; a file without them is not
    the checkpoint it expects. Every failure is a CheckpointError naming the file."""
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"{path}: is a directory, not a checkpoint file")
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    reason = _not_an_archive(path)
    if reason:
        raise CheckpointError(f"{path}: unreadable or unsafe checkpoint ({reason})")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # truncated, garbled or carrying a pickle payload
        raise CheckpointError(f"{path}: unreadable or unsafe checkpoint "
                              f"({_load_failure(exc)})") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: not a training checkpoint (it holds a "
                              f"{type(state).__name__}, not a state dict)")
    if "crc32" in state:  # files from before the CRC have none
        crc = state.pop("crc32")
        if crc != content_crc(state):
            raise CheckpointError(f"{path}: unreadable or unsafe checkpoint (contents do not "
                                  f"match their CRC32: the file is damaged)")
    missing = [k for k in require if k not in state]
    if missing:
        raise CheckpointError(f"{path}: not a training checkpoint (no {', '.join(missing)})")
    return state


def _not_an_archive(path: Path) -> str | None:
    """torch.save writes a zip archive whose directory sits at the end: an empty file, another
    kind of file and a truncated checkpoint all fail this before torch.load is asked."""
    try:
        with open(path, "rb") as fh:
            if not fh.read(1):
                return "empty file"
            if not zipfile.is_zipfile(fh):
                return "not a complete checkpoint archive: truncated, or not a checkpoint file"
    except OSError as exc:
        return f"cannot read it: {exc.strerror or exc}"
    return None


def _load_failure(exc: Exception) -> str:
    if isinstance(exc, pickle.UnpicklingError):  # the weights-only unpickler refused an object
        return "it holds objects other than tensors and plain values; they are not loaded"
    return f"{type(exc).__name__}: {first_line(exc)}"


def first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [""])[0][:200]
