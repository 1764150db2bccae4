"""The git side of `seqsetvae gate REF`: which repository the running code lives in,
what REF names, and a temporary checkout of REF that is removed whatever happens.

Nothing here touches the user's checkout: REF is checked out with ``git worktree add --detach``
into a temporary folder, and the worktree (with its bookkeeping under .git) is removed after
the comparison, also after an error or an interrupt.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import seqsetvae

from ...errors import InputError

# The module each side of an A/B runs, as (module, file) newest layout first: a REF from before
# the A/B code had its own subpackage runs the old name. A REF with none predates the command.
ENTRY_POINTS = (("seqsetvae.stability.ab.worker", "seqsetvae/stability/ab/worker.py"),
                ("seqsetvae.stability.abrun", "seqsetvae/stability/abrun.py"))
# the worker that trains many runs per process; a REF without it gets one process per run
SERVING_POINTS = (("seqsetvae.stability.ab.serving_worker",
                   "seqsetvae/stability/ab/serving_worker.py"),)
# the timed rounds of the speed verdict; a REF without them gets no speed verdict
TIMING_POINTS = (("seqsetvae.stability.ab.timing_worker",
                  "seqsetvae/stability/ab/timing_worker.py"),
                 ("seqsetvae.stability.abtiming", "seqsetvae/stability/abtiming.py"))


def entry_module(root: Path, points=ENTRY_POINTS) -> str | None:
    """The module of ``points`` that the checkout at ``root`` has, or None."""
    return next((module for module, path in points if (root / path).is_file()), None)


class RevisionError(InputError):
    """REF or the repository cannot be used; the message says which and why."""


def git(repo: Path, *args: str, strip: bool = True) -> str:
    """stdout of ``git -C repo args``; a failure raises RevisionError with git's own words."""
    if shutil.which("git") is None:
        raise RevisionError("git is not installed or not on PATH: the gate checks REF out "
                            "with git")
    proc = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)
    if proc.returncode != 0:
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        raise RevisionError(f"git {args[0]} failed: {lines[-1] if lines else proc.returncode}")
    return proc.stdout.strip() if strip else proc.stdout


def package_repo() -> Path:
    """Root of the git checkout the running ``seqsetvae`` package was imported from: the working
    tree of an A/B is the code that is running, wherever the command was started."""
    package = Path(seqsetvae.__file__).resolve().parent
    root = package.parent
    try:
        top = Path(git(root, "rev-parse", "--show-toplevel")).resolve()
    except RevisionError as exc:
        if "not a git repository" in str(exc):
            raise RevisionError(f"{root} is not a git repository: the gate needs this "
                                "repository's history (a git clone, not an installed "
                                "copy)") from None
        raise
    if top != root:
        raise RevisionError(f"{package} is not at the top of a checkout of this repository "
                            f"(the enclosing git repository is {top})")
    return root


def resolve(repo: Path, ref: str) -> str:
    """The commit REF names, as a full hash."""
    if not ref or ref.startswith("-"):
        raise RevisionError(f"unknown revision {ref!r}")
    try:
        return git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    except RevisionError:
        raise RevisionError(f"unknown revision {ref!r} in {repo} (give a branch, tag or commit "
                            "of this repository)") from None


def require_entry_point(repo: Path, ref: str, commit: str) -> None:
    """Refuse a REF whose code cannot run its side of the comparison, before any work."""
    for _, path in ENTRY_POINTS:
        try:
            git(repo, "cat-file", "-e", f"{commit}:{path}")
            return
        except RevisionError:
            continue
    raise RevisionError(
        f"{ref} ({commit[:10]}) has no {ENTRY_POINTS[0][1]} (nor {ENTRY_POINTS[-1][1]}), the "
        "entry point each side of the gate runs: it predates this command; "
        "compare against a later revision")


def uncommitted(repo: Path) -> list[str]:
    """Paths with uncommitted changes (untracked files included, ignored ones not)."""
    entries = git(repo, "status", "--porcelain", "-z", "--untracked-files=all",
                  strip=False).split("\0")
    paths, skip = [], False
    for entry in filter(None, entries):
        if not skip:
            paths.append(entry[3:])
        skip = not skip and entry[0] in "RC"  # a rename is followed by its old path
    return paths


def head(repo: Path) -> str:
    return git(repo, "rev-parse", "HEAD")


@contextlib.contextmanager
def checkout(repo: Path, commit: str) -> Iterator[Path]:
    """A detached worktree of ``commit`` in a temporary folder, removed on the way out."""
    parent = Path(tempfile.mkdtemp(prefix="seqsetvae-ref-"))
    tree = parent / "tree"
    try:
        with _terminate_as_interrupt():
            git(repo, "worktree", "add", "--detach", "--quiet", str(tree), commit)
            yield tree
    finally:
        _remove_worktree(repo, tree)
        shutil.rmtree(parent, ignore_errors=True)


def _remove_worktree(repo: Path, tree: Path) -> None:
    # best effort on the way out: a failure here must not hide the error that got us here
    for args in (("worktree", "remove", "--force", str(tree)), ("worktree", "prune")):
        with contextlib.suppress(RevisionError):
            git(repo, *args)


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM ends the process without unwinding; as an interrupt, the worktree is removed."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
