"""Both sides of `seqsetvae gate REF`: the working tree and REF, each trained in its
own worker processes from its own checkout, on the same data, configs, profile and seeds.

A worker is ``python -m seqsetvae.stability.ab.worker`` started in the side's checkout with
PYTHONPATH pointing at it, so each side imports its own ``seqsetvae``. Requests and results
travel as JSON, never pickle: the two versions' classes need not agree. Workers that are still
running when anything goes wrong (an error, an interrupt) are stopped before this returns.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from ...errors import ARGS_ERROR, RunFailure
from ..records import PROTOCOL, RecordedRun, recorded_run
from ..runs import Profile
from .revision import ENTRY_POINTS, TIMING_POINTS, checkout, entry_module
from .speed import SpeedDesign, round_order
from .worker import FAILED_INPUT


class WorkerError(RunFailure):
    """A side's worker failed; the message names the side and its last words."""


class WorkerRefused(WorkerError):
    """A side's code refused the request in one line (no such profile, unusable data)."""

    exit_code = ARGS_ERROR


@dataclass(frozen=True)
class Side:
    key: str  # "ref" or "working_tree"
    label: str  # how reports name it
    root: Path  # the checkout whose code this side runs


SideRun = RecordedRun  # one run of one side


@dataclass(frozen=True)
class Request:
    data: dict  # DataSource.resolve keywords, paths absolute
    configs: dict  # label -> preset name or absolute config path
    profile: Profile
    seeds: tuple[int, ...]
    precision: str = "fp32"
    device: str = "cpu"

    def for_side(self, side: Side, seeds: list[int]) -> dict:
        return {"protocol": PROTOCOL, "root": str(side.root), "data": self.data,
                "configs": self.configs, "profile": self.profile.name,
                "steps": self.profile.steps, "seeds": seeds, "precision": self.precision,
                "device": self.device}


def run_ab(repo: Path, ref_commit: str, ref_label: str, request: Request, workers: int,
           log_dir: Path, next_seeds: Callable[[dict], int | None], speed: SpeedDesign | None,
           progress: bool = True) -> tuple[dict[str, dict[str, list[SideRun]]], dict | None]:
    """Both sides' runs, block by block: after each block ``next_seeds(runs)`` says how many
    seeds the verdict needs (None: it is settled). Returns side key ("ref", "working_tree") ->
    config label -> SideRuns in seed order, and the timed rounds (None when not asked for, or
    when REF predates them)."""
    with checkout(repo, ref_commit) as tree:
        sides = [Side("ref", ref_label, tree), Side("working_tree", "working tree", repo)]
        records: dict[str, list[dict]] = {side.key: [] for side in sides}
        done, target = 0, len(request.seeds)
        with tqdm(total=target * len(sides) * len(request.configs), desc="runs", unit="run",
                  disable=not progress) as bar:
            while target is not None:
                block = run_workers(sides, request, list(range(done, target)), workers,
                                    log_dir, bar)
                for key, found in block.items():
                    records[key] += found
                done = target
                runs = {side.key: side_runs(side, records[side.key], request) for side in sides}
                target = next_seeds(runs)
                if target is not None:
                    bar.total = target * len(sides) * len(request.configs)
                    bar.refresh()
        rounds = None
        if speed is not None and has_timing(tree):
            rounds = time_sides(sides, request, speed, log_dir, progress)
    return runs, rounds


def plan(sides: list[Side], seeds, workers: int) -> list[tuple[Side, list[int]]]:
    """Worker jobs. The sides alternate, so with one worker per side REF and the working tree
    train the same seed at about the same time, under the same load: a fair footing for steps
    per second."""
    chunks = max(1, min(workers // len(sides), len(seeds)))
    parts = [list(seeds)[i::chunks] for i in range(chunks)]
    return [(side, part) for part in parts for side in sides]


class Live:
    """The worker processes of one comparison. Once stopped, no new worker starts, so an
    interrupt cannot race a job that was about to launch."""

    def __init__(self):
        self._lock = threading.Lock()
        self._procs: list[subprocess.Popen] = []
        self._stopped = False

    def start(self, *args, **kwargs) -> subprocess.Popen:
        with self._lock:
            if self._stopped:
                raise WorkerError("stopped")
            proc = subprocess.Popen(*args, **kwargs)
            self._procs.append(proc)
            return proc

    @property
    def stopped(self) -> bool:
        return self._stopped

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
        for proc in self._procs:
            if proc.poll() is None:
                proc.kill()
        for proc in self._procs:
            proc.wait()


def run_workers(sides: list[Side], request: Request, seeds: list[int], workers: int,
                log_dir: Path, bar) -> dict[str, list[dict]]:
    jobs = plan(sides, seeds, workers)
    live = Live()
    results: dict[str, list[dict]] = {side.key: [] for side in sides}
    with tempfile.TemporaryDirectory(prefix="seqsetvae-ab-") as tmp:
        pool = ThreadPoolExecutor(max(1, workers))
        futures = {pool.submit(run_worker, side, request.for_side(side, part),
                               Path(tmp) / f"{side.key}-{i}.log", log_dir, live, bar): side
                   for i, (side, part) in enumerate(jobs)}
        try:
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            for future in done:  # the first failure ends every job, finished or not
                if future.exception() is not None:
                    future.result()
            for future, side in futures.items():
                results[side.key] += future.result()
        finally:  # a failed or interrupted job leaves no worker behind
            live.stop()
            pool.shutdown(wait=True, cancel_futures=True)
    return results


def side_env(side: Side) -> dict:
    """The environment of a side's worker: its own checkout first on the import path."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(side.root), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))])
    return env


def run_worker(side: Side, request: dict, log: Path, log_dir: Path, live: Live,
               bar) -> list[dict]:
    with open(log, "w") as err:
        proc = live.start([sys.executable, "-m", entry_module(side.root, ENTRY_POINTS)],
                          cwd=side.root,
                          env=side_env(side), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          stderr=err, text=True)
        results = []
        try:
            proc.stdin.write(json.dumps(request))
            proc.stdin.close()
            for line in proc.stdout:
                results.append(parse_result(side, line))
                bar.update(1)
        except BrokenPipeError:
            pass  # the worker died before reading its request: its status and log say why
        status = proc.wait()
    if live.stopped:  # stopped for another job's failure or an interrupt, which is reported
        return results
    if status != 0:
        raise worker_failure(side, status, log, log_dir)
    expected = len(request["seeds"]) * len(request["configs"])
    if len(results) != expected:
        raise WorkerError(f"{side.label}: its worker sent {len(results)} of {expected} runs")
    return results


def has_timing(root: Path) -> bool:
    """Whether a checkout can serve timed rounds (revisions before them cannot)."""
    return entry_module(root, TIMING_POINTS) is not None


def time_sides(sides: list[Side], request: Request, speed: SpeedDesign, log_dir: Path,
               progress: bool) -> dict[str, list[float]]:
    """Seconds of each side's timed rounds, the sides taking turns (speed.round_order)."""
    live = Live()
    timing = {"steps": speed.steps, "seed": 0}
    seconds: dict[str, list[float]] = {side.key: [] for side in sides}
    with tempfile.TemporaryDirectory(prefix="seqsetvae-timing-") as tmp:
        logs = [open(Path(tmp) / f"{side.key}.log", "w") for side in sides]
        try:
            procs = [live.start([sys.executable, "-m", entry_module(side.root, TIMING_POINTS)],
                                cwd=side.root,
                                env=side_env(side), stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=log, text=True, bufsize=1)
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
        raise worker_failure(side, status, Path(log.name), log_dir)
    try:
        return json.loads(line)
    except json.JSONDecodeError:
        raise WorkerError(f"{side.label}: its timing worker wrote {line[:80]!r}") from None


def parse_result(side: Side, line: str) -> dict:
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        raise WorkerError(f"{side.label}: its worker wrote a line that is not a result: "
                          f"{line[:80]!r}") from None
    if not isinstance(record, dict) or record.get("protocol") != PROTOCOL:
        raise WorkerError(f"{side.label}: its worker answered in another protocol than "
                          f"{PROTOCOL}")
    return record


def worker_failure(side: Side, status: int, log: Path, log_dir: Path) -> WorkerError:
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    last = lines[-1].strip() if lines else "(no output)"
    if status == FAILED_INPUT:  # the side's code refused the request in one line
        return WorkerRefused(f"{side.label}: {last}")
    kept = log_dir / f"worker-{side.key}.log"
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(log, kept)
        where = f"; its log: {kept}"
    except OSError:
        where = ""
    how = f"exit status {status}" if status > 0 else f"signal {-status}"
    return WorkerError(f"{side.label}: its worker failed ({how}): {last}{where}")


def side_runs(side: Side, records: list[dict], request: Request
              ) -> dict[str, list[SideRun]]:
    runs: dict[str, list[SideRun]] = {label: [] for label in request.configs}
    for record in sorted(records, key=lambda r: r["seed"]):
        try:
            runs[record["config"]].append(recorded_run(record, request.profile))
        except (KeyError, TypeError) as exc:
            raise WorkerError(f"{side.label}: its worker's results do not fit protocol "
                              f"{PROTOCOL} ({type(exc).__name__}: {exc})") from None
    return runs
