"""The run directory of `seqsetvae train`: one trainer at a time, and no run lost by mistake.

A trainer holds an exclusive ``flock`` on ``RUN/train.lock`` for its whole life. The kernel drops
the lock when the process ends however it ends (SIGKILL included), so a lock left by a dead
trainer never blocks the next one; the file itself only names the holder for the refusal message.
A directory that already holds a run is refused unless the run is resumed, or moved aside whole
with ``--overwrite`` (nothing is deleted). Under torchrun only rank 0 does any of this.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from .layout import RunLayout


class RunDirError(RuntimeError):
    """The run directory cannot be used as asked (holds a run, or is in use); one line."""


def is_rank_zero(environ=os.environ) -> bool:
    """As the trainer decides it: RANK only counts under torchrun (WORLD_SIZE > 1)."""
    return int(environ.get("WORLD_SIZE", "1")) <= 1 or int(environ.get("RANK", "0")) == 0


# -- what is there --------------------------------------------------------------------------------
def existing_run(out: Path) -> str | None:
    """A one-line description of the run ``out`` holds (steps, last write), or None if it holds
    nothing worth keeping: no checkpoint, no summary and no logged step."""
    if not out.is_dir():
        return None
    steps, layout = _logged_steps(out), RunLayout(out)
    if steps is None and not layout.summary.exists() and not layout.has_checkpoints():
        return None
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(_last_write(out)))
    count = "an unknown number of" if steps is None else str(steps)
    return f"{count} step(s) logged, last written {when}"


def _logged_steps(out: Path) -> int | None:
    """The step of the last whole record of metrics.jsonl (read from its tail only)."""
    try:
        with open(RunLayout(out).metrics, "rb") as fh:
            fh.seek(max(0, fh.seek(0, os.SEEK_END) - 65536))
            tail = fh.read().decode(errors="replace").splitlines()
    except OSError:
        return None
    for line in reversed(tail):
        with contextlib.suppress(ValueError, TypeError, KeyError):
            return int(json.loads(line)["step"])
    return None


def _last_write(out: Path) -> float:
    lock = RunLayout(out).lock
    times = [p.stat().st_mtime for p in out.rglob("*") if p != lock and p.is_file()]
    return max(times, default=out.stat().st_mtime)


def refusal(out: Path, run: str) -> str:
    return (f"{out} already holds a run ({run}); pass --resume to continue it, or --overwrite "
            f"to move it aside to {out.name}.old-<time> and start afresh")


def move_aside(out: Path) -> Path:
    """Rename the whole directory to a free ``<name>.old-<time>`` beside it: one atomic step, so
    the old run is either all here or all there."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for n in range(1, 1000):
        aside = out.with_name(f"{out.name}.old-{stamp}" + (f"-{n}" if n > 1 else ""))
        if not aside.exists():
            break
    try:
        os.rename(out, aside)
    except OSError as exc:
        raise RunDirError(f"{out}: cannot move the previous run aside to {aside} "
                          f"({exc.strerror or exc})") from None
    return aside


# -- the lock -------------------------------------------------------------------------------------
class RunLock:
    """An exclusive flock on ``out/train.lock``, created with ``out`` if needed."""

    def __init__(self, out: Path, fd: int | None, created: Path | None):
        self.out, self.fd, self.created = out, fd, created

    @classmethod
    def acquire(cls, out: Path) -> RunLock:
        created = _first_missing(out)
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise NotWritable(out, exc) from None
        return cls(out, _locked_fd(RunLayout(out).lock), created)

    @property
    def path(self) -> Path:
        return RunLayout(self.out).lock

    def moved(self, new_out: Path) -> None:
        """The directory was renamed with the lock file in it; the lock goes with the file."""
        self.out, self.created = new_out, None  # never remove a directory that holds a run

    def release(self) -> None:
        """Remove the lock file, then unlock. A trainer that opened the file before the removal
        sees it is gone once it gets the lock, and starts over on the new file."""
        if self.fd is None:
            return
        with contextlib.suppress(OSError):
            if _same_file(self.fd, self.path):
                self.path.unlink()
        os.close(self.fd)
        self.fd = None
        _remove_empty(self.out, self.created)


class NotWritable(RuntimeError):
    def __init__(self, out: Path, exc: OSError):
        super().__init__(f"{out}: output directory is not writable ({exc.strerror or exc})")


def _locked_fd(path: Path) -> int | None:
    """An fd holding the lock on ``path``; RunDirError naming the holder if another has it; None
    (with a warning) on a filesystem without flock, where the run goes on unguarded."""
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise NotWritable(path.parent, exc) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise RunDirError(f"{path.parent} is in use by another trainer ({holder(path)}); "
                                  f"wait for it to end or choose another --out") from None
            print(f"warning: {path}: cannot lock the run directory ({exc.strerror}); nothing "
                  f"stops a second trainer from writing it at the same time", file=sys.stderr)
            return None
        if _same_file(fd, path):
            _write_holder(fd)
            return fd
        os.close(fd)  # its previous holder removed the file as we locked it: lock the new one


def _same_file(fd: int, path: Path) -> bool:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino)


def _write_holder(fd: int) -> None:
    info = {"pid": os.getpid(), "host": socket.gethostname(),
            "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    os.ftruncate(fd, 0)
    os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)


def holder(path: Path, wait: float = 1.0) -> str:
    """Who holds the lock, as the lock file names them. The holder writes the file just after
    locking, so an empty file is read again for up to ``wait`` seconds."""
    deadline = time.monotonic() + wait
    while True:
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            info = json.loads(path.read_text())
            return f"pid {info['pid']} on host {info['host']} since {info['started']}"
        if time.monotonic() >= deadline:
            return "holder unknown"
        time.sleep(0.05)


def _first_missing(out: Path) -> Path | None:
    """The outermost directory of ``out`` (itself included) that does not exist yet."""
    missing = None
    for p in (out, *out.parents):
        if p.exists():
            break
        missing = p
    return missing


def _remove_empty(out: Path, created: Path | None) -> None:
    """Remove the directories ``acquire`` created if the run left nothing in them."""
    if created is None:
        return
    for p in (out, *out.parents):
        try:
            p.rmdir()
        except OSError:
            return
        if p == created:
            return


# -- the whole claim ------------------------------------------------------------------------------
class RunDir:
    """A locked run directory. ``start_fresh`` moves an existing run aside (``--overwrite``); it
    is called once the run is ready to start, so a run that fails before that moves nothing."""

    def __init__(self, out: Path, lock: RunLock | None, run: str | None, overwrite: bool):
        self.out, self.lock, self.run, self.overwrite = out, lock, run, overwrite
        self.moved_to: Path | None = None

    def start_fresh(self) -> Path | None:
        if self.lock is None or self.run is None or not self.overwrite:
            return None
        aside = move_aside(self.out)
        self.lock.moved(aside)
        try:
            new = RunLock.acquire(self.out)  # another trainer may have taken the empty name
        finally:
            self.lock.release()
        self.lock, self.run, self.moved_to = new, None, aside
        return aside

    def release(self) -> None:
        if self.lock is not None:
            self.lock.release()


@contextlib.contextmanager
def claim(out: Path, resume: bool, overwrite: bool) -> Iterator[RunDir]:
    """Lock ``out`` for the whole ``with`` block and refuse it if it holds a run that is neither
    resumed nor to be overwritten. Ranks other than 0 neither lock nor check."""
    if not is_rank_zero():
        yield RunDir(out, None, None, overwrite)
        return
    run_dir = RunDir(out, RunLock.acquire(out), None, overwrite)
    try:
        run_dir.run = existing_run(out)
        if run_dir.run is not None and not resume and not overwrite:
            raise RunDirError(refusal(out, run_dir.run))
        yield run_dir
    finally:
        run_dir.release()
