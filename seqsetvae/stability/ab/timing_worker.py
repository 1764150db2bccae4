"""One side of the timed rounds of `seqsetvae gate`:
``python -m seqsetvae.stability.ab.timing_worker``.

Steps per second move with the load of a shared machine, so they are not read off the
stability runs (which share the machine with each other). Instead each side keeps one worker
process alive and the comparing process asks the two in turn for one timed round at a time, so
only one side computes at any moment and both see the same load.

Protocol (lines on stdin and stdout): the first stdin line is the request of the A/B worker
(protocol and fields) plus "timing": {"steps": K, "seed": S}; the worker loads the data, trains one
untimed warm-up round and answers {"ready": true}. Then each stdin line "round" trains the first
config for K optimizer steps from a fresh seeded start and answers {"seconds": wall seconds of
the training loop}. End of input ends the worker.
"""

from __future__ import annotations

import json
import sys
import time

import torch

from ...config import ConfigError
from ...data.errors import DataError
from ...train.trainer import RunOptions, Trainer
from ..runs import profile_config
from .worker import FAILED_INPUT, PROTOCOL, load


def timed_round(cfg, train, steps: int, seed: int, device: str) -> float:
    trainer = Trainer(cfg, train, None, RunOptions(seed=seed, device=device, max_steps=steps,
                                                   validate=False, progress=False))
    started = time.perf_counter()
    trainer.fit()
    return time.perf_counter() - started


def serve(request: dict, commands, out) -> None:
    torch.set_num_threads(1)
    train, _, profile = load(request)
    spec = next(iter(request["configs"].values()))
    cfg = profile_config(spec, profile, precision=request["precision"])
    timing = request["timing"]

    def one_round() -> float:
        return timed_round(cfg, train, timing["steps"], timing["seed"], request["device"])

    one_round()  # warm-up: first-call allocations and kernel selection are not the code's speed
    out.write(json.dumps({"ready": True}) + "\n")
    out.flush()
    for line in commands:
        if line.strip() != "round":
            raise ConfigError(f"timing worker: unknown command {line.strip()!r}")
        out.write(json.dumps({"seconds": one_round()}) + "\n")
        out.flush()


def main() -> int:
    request = json.loads(sys.stdin.readline())
    if request.get("protocol") != PROTOCOL or "timing" not in request:
        print(f"the timing worker speaks protocol {PROTOCOL} with a timing field", file=sys.stderr)
        return FAILED_INPUT
    out, sys.stdout = sys.stdout, sys.stderr  # results own stdout
    try:
        serve(request, sys.stdin, out)
    except (ConfigError, DataError) as exc:
        print(exc, file=sys.stderr)
        return FAILED_INPUT
    return 0


if __name__ == "__main__":
    sys.exit(main())
