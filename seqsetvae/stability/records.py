"""A traced run as a record: the JSON-able raw material a worker sends back (per-step records,
probe losses, and what only the trained model can tell: validation AUROC, posterior health,
contract problems) and the RunTrace rebuilt from it.

Every way a run travels uses this one format: the local pool, a Dask cluster, the results
folder, and both sides of the gate (whose REF side may be older code: keep it backward
compatible and raise PROTOCOL when a field changes meaning). The receiving side derives every
other statistic itself, so all runs are measured with one yardstick.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

from .checks import Problem
from .collapse import PosteriorHealth
from .runs import Profile, RunTrace, build_trace

PROTOCOL = 1


@dataclass
class RecordedRun:
    trace: RunTrace
    config: dict  # the resolved flat config the run trained with
    fingerprint: str  # canonical JSON of every number of the run except its timing


def run_record(trace: RunTrace, cfg) -> dict:
    return {"protocol": PROTOCOL, "config": trace.config_name, "seed": trace.seed,
            "config_values": cfg.to_flat(), "records": trace.records, "probe": trace.probe,
            "valid_auroc": trace.learning.valid_auroc,
            "posterior": dataclasses.asdict(trace.posterior),
            "contract_problems": [dataclasses.asdict(p) for p in trace.contract_problems],
            "seconds": trace.seconds}


def recorded_run(record: dict, profile: Profile) -> RecordedRun:
    """A RunTrace rebuilt from a record with this checkout's statistics, as `traced_run`
    builds it; what needs the trained model comes from the record itself."""
    cfg = record["config_values"]
    problems = [recorded_problem(p) for p in record["contract_problems"]]
    trace = build_trace(record["config"], record["seed"], record["records"], record["probe"],
                        record["valid_auroc"], cfg["gradient_clip_val"], profile.warmup_steps,
                        PosteriorHealth(**record["posterior"]), problems, record["seconds"])
    # the numbers alone: not the timing, nor the code stamp that a pool's run carries and a
    # gate worker's does not; problems in one form, so an older REF's record of the same
    # numbers fingerprints alike
    numbers = {k: v for k, v in record.items() if k not in ("seconds", "code")}
    numbers["contract_problems"] = [dataclasses.asdict(p) for p in problems]
    return RecordedRun(trace, cfg, json.dumps(numbers, sort_keys=True))


def recorded_problem(problem: dict | str) -> Problem:
    """A record's problem: {"check", "message"}, or the "check: message" text of the code
    before problems carried their check (a gate's REF side may be that code)."""
    if isinstance(problem, str):
        check, _, message = problem.partition(": ")
        return Problem(check, message)
    return Problem(problem["check"], problem["message"])
