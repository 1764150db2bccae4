"""Progress of a pool's runs on one tqdm bar: runs done of those submitted, runs left, the
slowest run so far, and how many were read back from a results folder instead of trained."""

from __future__ import annotations

import threading

from tqdm.auto import tqdm


class RunProgress:
    """Thread-safe: runs finish in the pool's callback threads."""

    def __init__(self, enabled: bool = True, file=None):
        self._bar = tqdm(total=0, desc="runs", unit="run", disable=not enabled, file=file,
                         dynamic_ncols=True)
        self._lock = threading.Lock()
        self._slowest: tuple[float, str] | None = None
        # own counts: a disabled bar counts nothing
        self._submitted = self._done = self._read = self._failed = 0

    def submitted(self) -> None:
        with self._lock:
            self._submitted += 1
            self._bar.total = self._submitted
            self._show()

    def finished(self, label: str, seconds: float | None, read: bool = False) -> None:
        """``seconds``: the run's training time; None for a run that failed."""
        with self._lock:
            if seconds is None:
                self._failed += 1
            elif self._slowest is None or seconds > self._slowest[0]:
                self._slowest = (seconds, label)
            self._read += read
            self._done += 1
            self._show(refresh=False)
            self._bar.update(1)

    @property
    def counts(self) -> dict:
        return {"submitted": self._submitted, "done": self._done, "read": self._read,
                "failed": self._failed}

    def _show(self, refresh: bool = True) -> None:
        if self._bar.disable:
            return
        parts = [f"{self._submitted - self._done} left"]
        if self._slowest is not None:
            parts.append(f"slowest {self._slowest[0]:.0f} s ({self._slowest[1]})")
        if self._read:
            parts.append(f"{self._read} read from results")
        if self._failed:
            parts.append(f"{self._failed} failed")
        self._bar.set_postfix_str(", ".join(parts), refresh=refresh)

    def close(self) -> None:
        self._bar.close()
