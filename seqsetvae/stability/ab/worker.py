"""One side of `seqsetvae gate REF`: ``python -m seqsetvae.stability.ab.worker``.

Reads a request (JSON) on stdin, trains every (config, seed) of it with the code of the checkout
it was started from, and writes one JSON line per run on stdout. Both sides of an A/B run this
module, each from its own checkout, so it is the contract between code versions: keep it
backward compatible, and raise PROTOCOL when a field changes meaning.

What it sends is raw material (per-step records, probe losses) plus what only the trained model
can tell (validation AUROC, posterior health, contract problems); the comparing side derives
every other statistic itself, so both sides are measured with one yardstick.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import seqsetvae

from ...config import ConfigError
from ...data import DataSource
from ...data.errors import DataError
from ..checkout_runs import FAILED_INPUT
from ..records import PROTOCOL, run_record
from ..runs import PROFILES, profile_config, traced_run_job


def check_origin(expected_root: str) -> None:
    """The code that runs must be this side's checkout: a side that imported the other's
    package would make every comparison come out identical."""
    here = Path(seqsetvae.__file__).resolve().parents[1]
    if here != Path(expected_root).resolve():
        raise RuntimeError(f"imported seqsetvae from {here}, expected {expected_root}")


def load(request: dict):
    """This checkout's view of a request: the train and valid splits and the profile."""
    train, valid = load_split(request)
    return train, valid, request_profile(request)


def load_split(request: dict):
    """The train and valid splits of the request's data."""
    check_origin(request["root"])
    return DataSource.resolve(**request["data"]).splits()


def request_profile(request: dict):
    if request["profile"] not in PROFILES:
        raise ConfigError(f"this checkout has no profile {request['profile']!r}")
    return dataclasses.replace(PROFILES[request["profile"]], steps=request["steps"])


def serve(request: dict, out, split=None) -> None:
    """Every run of ``request`` as a JSON line on ``out``; ``split``: its data, already loaded
    (None: loaded here)."""
    check_origin(request["root"])
    train, valid = split if split is not None else load_split(request)
    profile = request_profile(request)
    for label, spec in request["configs"].items():
        cfg = profile_config(spec, profile, precision=request["precision"])
        for seed in request["seeds"]:
            trace = traced_run_job(cfg, label, train, valid, profile, seed,
                                   request["device"])
            out.write(json.dumps(run_record(trace, cfg)) + "\n")
            out.flush()


def protocol_refusal(request: dict) -> str | None:
    """Why this checkout's workers cannot read ``request`` (None: they can)."""
    if request.get("protocol") != PROTOCOL:
        return (f"the A/B worker speaks protocol {PROTOCOL}, the request is protocol "
                f"{request.get('protocol')}")
    return None


def main() -> int:
    request = json.loads(sys.stdin.read())
    refusal = protocol_refusal(request)
    if refusal:
        print(refusal, file=sys.stderr)
        return FAILED_INPUT
    # results own stdout: anything else this checkout's code prints goes to stderr
    out, sys.stdout = sys.stdout, sys.stderr
    try:
        serve(request, out)
    except (ConfigError, DataError) as exc:
        print(exc, file=sys.stderr)
        return FAILED_INPUT
    return 0


if __name__ == "__main__":
    sys.exit(main())
