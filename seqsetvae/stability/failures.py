"""How a session's runs can be lost, as errors that carry their exit status (seqsetvae.errors):
shared by the local pool and the cluster backend, so neither imports the other for them."""

from __future__ import annotations

from ..errors import RunFailure


class LostRun(RunFailure):
    """One run could not finish; the other runs go on. The message names the run."""


class PoolLost(RunFailure):
    """Where the runs happen is gone; no unfinished run can finish. The message names it."""


class LocalWorkerCrashed(PoolLost):
    """A local worker process died (out of memory, a crash in native code)."""
