"""One traced run as it travels between a worker and the pool: the job, and its result as JSON
text (a records.run_record, stamped with the code that trained it). Every backend and the results
folder hand back the same text, and the trace is rebuilt from it as the gate rebuilds a side's
runs, so a run trained here, on a cluster or read from disk is one and the same trace.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..config import Config
from ..data.packed import PackedData
from ..errors import InputError
from .identity import code_identity
from .records import recorded_run, run_record
from .runs import Profile, RunTrace, traced_run_job

if TYPE_CHECKING:
    from .checkout_runs import OtherCheckout


class ForeignCodeError(InputError):
    """A run came back trained by other code than this process runs."""


@dataclass(frozen=True)
class RunJob:
    """Everything a worker needs for one traced run (the arguments of runs.traced_run_job)."""

    cfg: Config
    config_name: str
    train: PackedData
    valid: PackedData
    profile: Profile
    seed: int
    device: str
    setup: object = None  # module-level callable -> context manager held around the run
    # None: this checkout's code trains the run; else that checkout's worker does, and cfg,
    # train and valid are this checkout's view of what it is told (its data keys the run)
    code: OtherCheckout | None = None

    def args(self) -> tuple:
        return (self.cfg, self.config_name, self.train, self.valid, self.profile,
                self.seed, self.device, self.setup)


def record_job(cfg: Config, config_name: str, train: PackedData, valid: PackedData,
               profile: Profile, seed: int, device: str = "cpu", setup=None) -> str:
    """Worker entry point: one traced run, returned as JSON text."""
    trace = traced_run_job(cfg, config_name, train, valid, profile, seed, device, setup)
    return json.dumps({**run_record(trace, cfg), "code": code_identity()})


def parse_record(text: str, where: str) -> dict:
    """A worker's JSON text as a record, refused if other code trained it."""
    record = json.loads(text)
    if record.get("code") != code_identity():
        raise ForeignCodeError(f"{where}: the run {record.get('config')} seed "
                               f"{record.get('seed')} was trained by other code "
                               f"({record.get('code')}) than this process runs "
                               f"({code_identity()}); install this checkout there")
    return record


def trace_of(record: dict, profile: Profile) -> RunTrace:
    return recorded_run(record, profile).trace
