"""Both sides of `seqsetvae gate REF`: the working tree and REF, on the same data, configs,
profile and seeds. A side is (code root, config): the working tree is the code that runs, so its
runs go to the pool as this checkout's runs; REF's go to the same pool as runs of another
checkout, each trained by REF's own worker module in REF's temporary checkout
(stability/checkout_runs.py). The pool is the one runner of `compare`, `claims` and the gate: its
results folder, progress bar and failure handling serve both sides alike.

The timed rounds of the speed verdict (``time_sides``) are a measurement, not runs: the two
sides must take turns on the same machine, one computing at a time, so they keep their own two
long-lived timing workers here instead of going through the pool.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from ...data.packed import PackedData
from ..checkout_runs import (
    CheckoutRunFailed,
    LiveProcesses,
    OtherCheckout,
    checkout_env,
    worker_failure,
    worker_request,
)
from ..pool import RunPool
from ..records import RecordedRun
from ..runs import Profile, profile_config
from .revision import ENTRY_POINTS, SERVING_POINTS, TIMING_POINTS, checkout, entry_module
from .speed import SpeedDesign, round_order

SIDES = ("ref", "working_tree")  # the keys of a gate's runs, REF first
SideRuns = dict[str, dict[str, list[RecordedRun]]]  # side key -> config label -> runs by seed


@dataclass(frozen=True)
class Side:
    key: str  # "ref" or "working_tree"
    label: str  # how reports name it
    root: Path  # the checkout whose code this side runs


@dataclass(frozen=True)
class Request:
    data: dict  # DataSource.resolve keywords, paths absolute
    configs: dict  # label -> preset name or absolute config path
    profile: Profile
    seeds: tuple[int, ...]
    precision: str = "fp32"
    device: str = "cpu"

    def for_side(self, side: Side, seeds: list[int]) -> dict:
        return worker_request(side.root, self.data, self.configs, self.profile, seeds,
                              self.precision, self.device)


def run_ab(repo: Path, ref_commit: str, ref_label: str, request: Request,
           split: tuple[PackedData, PackedData], workers: int, log_dir: Path,
           next_seeds: Callable[[SideRuns], int | None], speed: SpeedDesign | None,
           progress: bool = True, results: Path | None = None) -> tuple[SideRuns, dict | None]:
    """Both sides' runs, block by block: after each block ``next_seeds(runs)`` says how many
    seeds the verdict needs (None: it is settled). ``split``: the train and valid data as this
    checkout loads them; ``workers``: runs at a time, half per side; ``results``: a folder that
    keeps finished runs, so the same gate again trains only the missing ones. Returns side key
    -> config label -> runs in seed order, and the timed rounds (None when not asked for, or
    when REF predates them)."""
    configs = {label: profile_config(spec, request.profile, precision=request.precision)
               for label, spec in request.configs.items()}
    with checkout(repo, ref_commit) as tree:
        entry, serving = entry_module(tree, ENTRY_POINTS), entry_module(tree, SERVING_POINTS)
        ref_code = {label: OtherCheckout(tree, entry, ref_label, request.data, spec,
                                         request.precision, log_dir / "worker-ref.log",
                                         serving)
                    for label, spec in request.configs.items()}
        with RunPool(max(1, workers // len(SIDES)), request.device, results=results,
                     progress=progress) as pool:
            runs: SideRuns = {key: {label: [] for label in configs} for key in SIDES}
            done, target = 0, len(request.seeds)
            while target is not None:
                train_block(pool, runs, range(done, target), configs, ref_code, split,
                            request.profile)
                done, target = target, next_seeds(runs)
        rounds = None
        if speed is not None and has_timing(tree):
            sides = [Side("ref", ref_label, tree), Side("working_tree", "working tree", repo)]
            rounds = time_sides(sides, request, speed, log_dir, progress)
    return runs, rounds


def train_block(pool: RunPool, runs: SideRuns, seeds: range, configs: dict,
                ref_code: dict[str, OtherCheckout], split, profile: Profile) -> None:
    """One block of seeds on both sides, appended to ``runs``. Each seed's REF run is submitted
    just before its working-tree run, so with one worker per side the two train side by side."""
    futures = {(key, label, seed): pool.submit(
        (key, label, seed), cfg, label, *split, profile, seed,
        code=ref_code[label] if key == "ref" else None, recorded=True)
        for seed in seeds for label, cfg in configs.items() for key in SIDES}
    for (key, label, _), future in futures.items():
        runs[key][label].append(future.result())


def has_timing(root: Path) -> bool:
    """Whether a checkout can serve timed rounds (revisions before them cannot)."""
    return entry_module(root, TIMING_POINTS) is not None


def time_sides(sides: list[Side], request: Request, speed: SpeedDesign, log_dir: Path,
               progress: bool) -> dict[str, list[float]]:
    """Seconds of each side's timed rounds, the sides taking turns (speed.round_order)."""
    live = LiveProcesses()
    timing = {"steps": speed.steps, "seed": 0}
    seconds: dict[str, list[float]] = {side.key: [] for side in sides}
    with tempfile.TemporaryDirectory(prefix="seqsetvae-timing-") as tmp:
        logs = [open(Path(tmp) / f"{side.key}.log", "w") for side in sides]
        try:
            procs = [live.start([sys.executable, "-m", entry_module(side.root, TIMING_POINTS)],
                                cwd=side.root, env=checkout_env(side.root),
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                                text=True, bufsize=1)
                     for side, log in zip(sides, logs)]
            for side, proc in zip(sides, procs):
                request_line = {**request.for_side(side, [0]), "timing": timing}
                proc.stdin.write(json.dumps(request_line) + "\n")
            for side, proc, log in zip(sides, procs, logs):
                answer(side, proc, log, log_dir)  # loaded and warmed up
            turns = round_order(speed.rounds)
            for i in tqdm(turns, desc="timed rounds", unit="round", disable=not progress):
                side, proc, log = sides[i], procs[i], logs[i]
                proc.stdin.write("round\n")
                seconds[side.key].append(float(answer(side, proc, log, log_dir)["seconds"]))
        finally:
            live.stop()
            for log in logs:
                log.close()
    return seconds


def answer(side: Side, proc: subprocess.Popen, log, log_dir: Path) -> dict:
    """The next line a timing worker writes, or its failure."""
    line = proc.stdout.readline()
    if not line:
        status = proc.wait()
        log.flush()
        raise worker_failure(side.label, status, Path(log.name),
                             log_dir / f"worker-{side.key}.log")
    try:
        return json.loads(line)
    except json.JSONDecodeError:
        raise CheckoutRunFailed(f"{side.label}: its timing worker wrote {line[:80]!r}") from None
