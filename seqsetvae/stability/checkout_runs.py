"""Runs trained by another checkout's code (the REF side of `seqsetvae gate`), for the pool.

Such a run is trained by a worker process started in that checkout with PYTHONPATH pointing at
it, so it imports that checkout's ``seqsetvae``. The worker speaks the gate's JSON protocol,
never pickle (the two versions' classes need not agree): a request on stdin (``worker_request``)
and one JSON line per run on stdout, a records.run_record. The worker is that checkout's own
module (``OtherCheckout.entry``): an older checkout sends what its code sends, so keep the
protocol backward compatible and raise records.PROTOCOL when a field changes meaning.

A checkout whose code has the serving worker (``OtherCheckout.serving``, ..ab.serving_worker)
trains run after run in up to ``workers`` long-lived processes, each sent one request per line
and answering it with its result lines and END_OF_REQUEST: the interpreter, torch and the data
are loaded once per process, not once per run. An older checkout has only the one-shot worker,
one process per run. ``close`` kills every worker process still there, so an error or an
interrupt leaves none behind. A Dask cluster never trains these runs: its workers
need not have the checkout (the pool refuses them with a scheduler).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from ..errors import ARGS_ERROR, RunFailure
from .identity import package_identity
from .records import PROTOCOL
from .runs import Profile

FAILED_INPUT = 2  # a worker's exit status for a request its checkout cannot run (one line)
END_OF_REQUEST = json.dumps({"end_of_request": True})  # a serving worker's answer is complete


class CheckoutRunFailed(RunFailure):
    """A worker of another checkout failed; the message names its code, the run, its last
    words and where its log is kept. Not a LostRun: a crash of that checkout's code is that
    code's, and its other runs would fail alike, so the pool is left at once."""


class CheckoutRunRefused(CheckoutRunFailed):
    """That checkout's code refused the request in one line (no such profile, unusable data)."""

    exit_code = ARGS_ERROR


class WorkersStopped(RunFailure):
    """A worker killed because its pool closed; nobody reads this run any more."""


@dataclass(frozen=True)
class OtherCheckout:
    """Code other than this process's that trains a run, and what its worker is told."""

    root: Path  # the checkout
    entry: str  # its worker module, run as ``python -m entry``
    label: str  # how a person names this code, e.g. "main (1a2b3c4)"
    data: dict  # DataSource.resolve keywords, paths absolute (the worker starts in root)
    spec: str  # preset name (resolved by that code) or absolute config file
    precision: str
    failure_log: Path | None = None  # where a failed worker's log is kept
    serving: str | None = None  # its serving worker module; None: only the one-shot ``entry``

    def identity(self) -> dict:
        """What trains the run, for the results folder: that checkout's source and the numeric
        libraries (its worker runs on this interpreter). Not its path: a temporary checkout of
        the same commit is the same code."""
        return package_identity(self.root / "seqsetvae")

    def config_identity(self) -> dict:
        """The config as this checkout's code reads it: a preset by name, a file by content."""
        path = Path(self.spec)
        content = (hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None)
        return {"spec": self.spec, "file": content, "precision": self.precision}


def worker_request(root: Path, data: dict, configs: dict[str, str], profile: Profile,
                   seeds: list[int], precision: str, device: str) -> dict:
    """The request a worker reads: every (config, seed) of it is one run."""
    return {"protocol": PROTOCOL, "root": str(root), "data": data, "configs": configs,
            "profile": profile.name, "steps": profile.steps, "seeds": list(seeds),
            "precision": precision, "device": device}


def checkout_env(root: Path) -> dict:
    """The environment of a worker: its own checkout first on the import path."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(root), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))])
    return env


class LiveProcesses:
    """The worker processes started so far. Once stopped, no new one starts, so an interrupt
    cannot race a run that was about to launch."""

    def __init__(self):
        self._lock = threading.Lock()
        self._procs: list[subprocess.Popen] = []
        self._stopped = False

    def start(self, *args, **kwargs) -> subprocess.Popen:
        with self._lock:
            if self._stopped:
                raise WorkersStopped("the workers were stopped")
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


def worker_failure(who: str, status: int, log: Path, kept: Path | None,
                   since: int = 0) -> CheckoutRunFailed:
    """A failed worker as one line: ``who`` names it; its log is copied to ``kept``. Its last
    words are read from byte ``since`` on: what it wrote for earlier runs is not this failure."""
    text = log.read_bytes()[since:].decode(errors="replace")
    lines = [line for line in text.splitlines() if line.strip()]
    last = lines[-1].strip() if lines else "(no output)"
    if status == FAILED_INPUT:
        return CheckoutRunRefused(f"{who}: {last}")
    where = ""
    if kept is not None:
        try:
            kept.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(log, kept)
            where = f"; its log: {kept}"
        except OSError:
            pass
    how = f"exit status {status}" if status > 0 else f"signal {-status}"
    return CheckoutRunFailed(f"{who}: its worker failed ({how}): {last}{where}")


def checkout_record(text: str, code: OtherCheckout, name: str) -> dict:
    """A worker's result line as a record, refused if it is not one of this protocol."""
    who = f"{code.label}: {name}"
    try:
        record = json.loads(text)
    except json.JSONDecodeError:
        raise CheckoutRunFailed(f"{who}: its worker wrote a line that is not a result: "
                                f"{text[:80]!r}") from None
    if not isinstance(record, dict) or record.get("protocol") != PROTOCOL:
        raise CheckoutRunFailed(f"{who}: its worker answered in another protocol than "
                                f"{PROTOCOL}")
    return record


class ServingWorker:
    """A long-lived worker process of one checkout, answering one request at a time."""

    def __init__(self, proc: subprocess.Popen, log: Path):
        self.proc, self.log = proc, log

    def ask(self, request: dict) -> list[str] | None:
        """Its result lines for ``request``; None when the process ended before answering."""
        try:
            self.proc.stdin.write(json.dumps(request) + "\n")
            self.proc.stdin.flush()
            lines = []
            for line in iter(self.proc.stdout.readline, ""):
                if line.strip() == END_OF_REQUEST:
                    return lines
                if line.strip():
                    lines.append(line.strip())
        except (OSError, ValueError):  # its pipes broke or were closed: it is gone
            pass
        return None

    def close(self) -> None:
        for pipe in (self.proc.stdin, self.proc.stdout):
            with contextlib.suppress(OSError):
                pipe.close()


def one_result(lines: list[str], who: str) -> str:
    if len(lines) != 1:
        raise CheckoutRunFailed(f"{who}: its worker sent {len(lines)} results for one run")
    return lines[0]


class CheckoutBackend:
    """submit(job, name) -> a Future of the run's JSON line, trained by a worker process in
    ``job.code.root``; at most ``workers`` at a time, in as many long-lived processes per
    checkout when its code can serve, else one process per run."""

    def __init__(self, workers: int):
        self._threads = ThreadPoolExecutor(max(1, workers), thread_name_prefix="checkout-run")
        self._live = LiveProcesses()
        self._logs = tempfile.TemporaryDirectory(prefix="seqsetvae-checkout-")
        self._count = 0
        self._lock = threading.Lock()
        # idle serving workers by (checkout, module); a busy one is held by its run's thread,
        # so a checkout never has more than ``workers`` of them
        self._idle: dict[tuple[Path, str], list[ServingWorker]] = {}
        self._serving: list[ServingWorker] = []

    def submit(self, job, name: str) -> Future:
        return self._threads.submit(self._run, job, name)

    def _new_log(self, kind: str) -> Path:
        with self._lock:
            self._count += 1
            return Path(self._logs.name) / f"{kind}-{self._count}.log"

    def _start(self, code: OtherCheckout, module: str, err) -> subprocess.Popen:
        return self._live.start([sys.executable, "-m", module], cwd=code.root,
                                env=checkout_env(code.root), stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=err, text=True)

    def _run(self, job, name: str) -> str:
        code: OtherCheckout = job.code
        request = worker_request(code.root, code.data, {job.config_name: code.spec},
                                 job.profile, [job.seed], code.precision, job.device)
        who = f"{code.label}: {name}"
        if code.serving is None:
            return self._run_once(code, request, name, who)
        return self._run_served(code, request, name, who)

    def _run_once(self, code: OtherCheckout, request: dict, name: str, who: str) -> str:
        log = self._new_log("run")
        with open(log, "w") as err:
            proc = self._start(code, code.entry, err)
            out, _ = proc.communicate(json.dumps(request))
        if self._live.stopped:  # killed because the pool closed: not a failure of its own
            raise WorkersStopped(f"{name}: its worker was stopped")
        if proc.returncode != 0:
            raise worker_failure(who, proc.returncode, log, code.failure_log)
        return one_result([line for line in out.splitlines() if line.strip()], who)

    def _run_served(self, code: OtherCheckout, request: dict, name: str, who: str) -> str:
        worker = self._serving_worker(code)
        since = worker.log.stat().st_size
        lines = worker.ask(request)
        if lines is None:
            status = worker.proc.wait()
            if self._live.stopped:
                raise WorkersStopped(f"{name}: its worker was stopped")
            raise worker_failure(who, status, worker.log, code.failure_log, since)
        try:
            result = one_result(lines, who)
        except CheckoutRunFailed:
            worker.proc.kill()  # out of step with its requests: no later run may read it
            raise
        with self._lock:
            self._idle[(code.root, code.serving)].append(worker)
        return result

    def _serving_worker(self, code: OtherCheckout) -> ServingWorker:
        """An idle serving worker of ``code``'s checkout, started if none is idle."""
        with self._lock:
            idle = self._idle.setdefault((code.root, code.serving), [])
            if idle:
                return idle.pop()
        log = self._new_log("worker")
        with open(log, "w") as err:  # the process keeps its own handle on the log
            worker = ServingWorker(self._start(code, code.serving, err), log)
        with self._lock:
            self._serving.append(worker)
        return worker

    def close(self) -> None:
        try:
            self._live.stop()
            self._threads.shutdown(wait=True, cancel_futures=True)
            for worker in self._serving:
                worker.close()
        finally:
            self._logs.cleanup()
