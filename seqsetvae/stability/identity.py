"""What identifies the code that trains a run: a digest of a package's source files and the
numeric libraries' versions. The results folder keys runs by it, and a checkout of other code
(the gate's REF side) is keyed by its own package's digest."""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import numpy as np
import torch

PACKAGE_DIR = Path(__file__).resolve().parents[1]


def digest(*parts: bytes) -> str:
    """sha256 of the parts, each length-prefixed so that no two splits of one text collide."""
    h = hashlib.sha256()
    for part in parts:
        h.update(len(part).to_bytes(8, "little"))
        h.update(part)
    return h.hexdigest()


def source_digest(package_dir: Path) -> str:
    """A hash of every Python file of a package, by relative path and content."""
    files = sorted(package_dir.rglob("*.py"))
    return digest(*(p for f in files
                    for p in (f.relative_to(package_dir).as_posix().encode(), f.read_bytes())))


@functools.cache
def package_identity(package_dir: Path) -> dict:
    """What trains a run with the package at ``package_dir`` on this interpreter: its source
    and the numeric libraries."""
    return {"source": source_digest(package_dir), "torch": torch.__version__,
            "numpy": np.__version__}


def code_identity() -> dict:
    """The identity of the package this process runs."""
    return package_identity(PACKAGE_DIR)


code_identity()  # taken on import, so an edit made while a long session runs is not claimed
