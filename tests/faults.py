"""Fault injection for the reliability tests, as step hooks (seqsetvae.train.hooks).

``FaultHooks({3: "loss", 5: "grad:inf"})`` (or ``parse_faults("3=loss,5=grad:inf")``) puts NaN,
or the value after the colon (nan, inf, -inf), into the inputs, the loss or one gradient of those
optimizer-step attempts: 1-based, skipped steps included, i.e. the line numbers of metrics.jsonl.
The attempt is counted by the trainer's state, so it survives a kill and ``--resume``.
``sleep_in_save=SECONDS`` (in the spec: "sleep_in_save=2") holds every checkpoint write in its
window between rotation and rename, so a test can kill the process there.
"""

from __future__ import annotations

import time

from seqsetvae.train.hooks import StepHooks

KINDS = ("input", "loss", "grad")
VALUES = ("", "nan", "inf", "-inf")


class FaultHooks(StepHooks):
    def __init__(self, faults: dict[int, str], sleep_in_save: float = 0.0):
        for attempt, spec in faults.items():
            kind, _, value = spec.partition(":")
            if kind not in KINDS or value not in VALUES:
                raise ValueError(f"fault at attempt {attempt}: unknown kind {spec!r}; choose "
                                 f"{', '.join(KINDS)} (optionally :inf)")
        self.faults = dict(faults)
        self.sleep_in_save = sleep_in_save

    def _fault(self, attempt: int, kind: str) -> float | None:
        """The value to plant if this attempt has a fault of ``kind``, else None."""
        planned, _, value = self.faults.get(attempt, "").partition(":")
        return float(value or "nan") if planned == kind else None

    def on_batch(self, attempt, batch) -> None:
        bad = self._fault(attempt, "input")
        if bad is not None:
            batch.values[0] = bad

    def on_loss(self, attempt, loss):
        bad = self._fault(attempt, "loss")
        return loss if bad is None else loss * bad

    def on_grads(self, attempt, params) -> None:
        bad = self._fault(attempt, "grad")
        grads = [p.grad for p in params if p.grad is not None]
        if bad is not None and grads:
            grads[0].view(-1)[0] = bad

    def on_checkpoint(self, path) -> None:
        time.sleep(self.sleep_in_save)


def parse_faults(spec: str) -> FaultHooks:
    """"3=loss,5=grad:inf,sleep_in_save=0.5" -> FaultHooks; ValueError naming a malformed item."""
    faults, sleep = {}, 0.0
    for item in filter(None, spec.strip().split(",")):
        key, _, value = item.partition("=")
        try:
            if key.strip() == "sleep_in_save":
                sleep = float(value)
            else:
                faults[int(key)] = value.strip()
        except ValueError:
            raise ValueError(f"fault spec: {item!r} is not ATTEMPT=KIND or "
                             "sleep_in_save=SECONDS") from None
    return FaultHooks(faults, sleep)
