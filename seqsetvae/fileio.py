"""Atomic file writes: a reader (or a crash) never sees half a file."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write to a temporary file in the target folder, fsync, then rename over ``path``."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json(path: str | Path, obj, indent: int = 2) -> Path:
    """``obj`` as indented JSON with a final newline, written atomically into ``path``'s folder
    (created if missing). The one JSON writer of the package: reports, summaries, golden files."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write_text(path, json.dumps(obj, indent=indent, default=_plain) + "\n")


def _plain(x):
    """numpy and torch scalars as Python numbers; anything else json cannot write (a path) as
    text."""
    return x.item() if hasattr(x, "item") else str(x)
