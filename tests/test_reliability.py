"""Reliability through the command line (issue 7): SIGKILL at random points followed by
``--resume`` repeats the uninterrupted run bit for bit; damaged checkpoints; non-finite faults;
unwritable output.

Most crash trials run the real ``seqsetvae.cli.main`` in a child forked from this process and
kill it with SIGKILL: a real process crash without paying ~10 s of interpreter and torch start-up
per kill point. One trial starts a fresh interpreter on the command line itself
(``python -m tests.fault_launcher``: ``seqsetvae.cli.main`` with the test's faults planted).

Non-finite faults are planted through the trainer's step hooks (tests/faults.py): passed to a
Trainer built here, or installed process-wide before the command line builds one.
"""

from __future__ import annotations

import contextlib
import io
import json
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from seqsetvae.cli import main
from seqsetvae.train import hooks
from seqsetvae.train.checkpoint import load_checkpoint
from seqsetvae.train.metrics import read_jsonl
from seqsetvae.train.trainer import RunOptions, Trainer

from .factories import small_config, small_flags
from .fault_launcher import launch
from .faults import FaultHooks, parse_faults

ROOT = Path(__file__).resolve().parents[1]  # `python -m tests.fault_launcher` runs from here

SMALL = small_flags()
# 28 training patients in batches of 4, two per step: 4 steps per epoch (the last one has a single
# micro-batch), a validation and possibly a new best.pt after each epoch: 8 attempts. Attempt 5
# gets a NaN loss and is skipped, so metrics.jsonl also holds a repeated step number.
# The data checks (test_cli_e2e covers them) are skipped: they cost ~1 s per start.
RUN = ["--batch-size", "4", *SMALL, "--set", "gradient_accumulation_steps=2", "--set",
       "warmup_steps=3", "--max-epochs", "2", "--checkpoint-every", "1", "--no-progress",
       "--skip-checks"]
FAULTS = "5=loss"  # tests/faults.py
FORK = multiprocessing.get_context("fork")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("reliability") / "syn"
    assert main(["data", "synthetic", "--out", str(root), "--patients", "30",
                 "--max-sets", "8"]) == 0
    # one step in this process first: lazy imports (parquet) and first-call set-up then happen
    # once here instead of in every forked child
    warm = root.parent / "warm"
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(train_argv(root, warm, "--max-steps", "1")) == 0
    return root


def train_argv(data: Path, out: Path, *more: str) -> list[str]:
    return ["train", "--data-dir", str(data), "--out", str(out), *RUN, *more]


def _child(argv: list[str], faults: str, log: str) -> None:
    hooks.install(parse_faults(faults))
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    sys.exit(main(argv))


def start(argv: list[str], out: Path, faults: str = "") -> multiprocessing.Process:
    out.mkdir(parents=True, exist_ok=True)
    proc = FORK.Process(target=_child,
                        args=(argv, faults, str(out.parent / f"{out.name}.log")))
    proc.start()
    return proc


def lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def kill_when(proc, ready, timeout: float = 120.0) -> bool:
    """SIGKILL ``proc`` as soon as ``ready()``; False if it finished first."""
    deadline = time.monotonic() + timeout
    while proc.is_alive() and time.monotonic() < deadline:
        if ready():
            os.kill(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.005)
    proc.join(timeout)
    assert proc.exitcode is not None, "the training process hung"
    return proc.exitcode == -signal.SIGKILL


def run_to_end(argv: list[str], out: Path, faults: str = "") -> None:
    proc = start(argv, out, faults)
    proc.join(300)
    log = (out.parent / f"{out.name}.log").read_text()
    assert proc.exitcode == 0, log


def same_run(out: Path, ref: Path) -> list[str]:
    """What differs from the reference run: checkpoints (torch.equal) and metrics (bytes)."""
    problems = []
    if (out / "metrics.jsonl").read_bytes() != (ref / "metrics.jsonl").read_bytes():
        problems.append("metrics.jsonl")
    if lines(out / "timing.jsonl") != lines(ref / "metrics.jsonl"):
        problems.append("timing.jsonl line count")
    for name in ("last", "best"):
        a, b = (load_checkpoint(d / "checkpoints" / f"{name}.pt") for d in (out, ref))
        for part in ("model", "optimizer", "scheduler", "trainer"):
            if not nested_equal(a[part], b[part]):
                problems.append(f"{name}.pt {part}")
    return problems


def nested_equal(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(nested_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(nested_equal(x, y) for x, y in zip(a, b))
    return a == b or (a != a and b != b)  # NaN == NaN here


@pytest.fixture(scope="module")
def reference(dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("reference") / "run"
    run_to_end(train_argv(dataset, out), out, FAULTS)
    records = read_jsonl(out / "metrics.jsonl")
    assert len(records) == 8 and sum(not r["finite"] for r in records) == 1
    return out


def test_sigkill_at_random_points_then_resume_repeats_the_run_exactly(dataset, reference,
                                                                      tmp_path):
    rng = random.Random(7)
    trials = []
    for trial in range(10):
        out = tmp_path / f"t{trial}"
        in_save = trial % 3 == 0  # every third trial is killed inside a checkpoint write
        kills = []
        for kill in range(1 + (trial % 3 == 1)):  # and some are killed again while resuming
            target = rng.randint(0, 8)
            jitter = rng.uniform(0, 0.05)
            faults = f"{FAULTS},sleep_in_save=0.2" if in_save else FAULTS
            tmp = out / "checkpoints" / ".last.pt.tmp"
            seen = lines(out / "metrics.jsonl") if kill else 0
            reached = {}

            def ready(target=seen + target, jitter=jitter, tmp=tmp, reached=reached,
                      metrics=out / "metrics.jsonl", in_save=in_save):
                if lines(metrics) < target:
                    return False
                if in_save:
                    return tmp.exists()
                reached.setdefault("at", time.monotonic())
                return time.monotonic() - reached["at"] >= jitter

            argv = train_argv(dataset, out, *(["--resume"] if kill else []))
            killed = kill_when(start(argv, out, faults), ready)
            kills.append(dict(lines=lines(out / "metrics.jsonl"), in_save=in_save and killed,
                              killed=killed, last_pt=(out / "checkpoints/last.pt").exists()))
        run_to_end(train_argv(dataset, out, "--resume"), out, FAULTS)
        trials.append(dict(kills=kills, problems=same_run(out, reference)))
    points = [k for t in trials for k in t["kills"] if k["killed"]]
    exact = [k for t in trials if not t["problems"] for k in t["kills"] if k["killed"]]
    print(f"\nkill points tried: {len(points)} ({sum(k['in_save'] for k in points)} inside a "
          f"checkpoint write, {sum(not k['last_pt'] for k in points)} with no last.pt on disk); "
          f"resumed exactly: {len(exact)}")
    assert len(points) >= 10, trials
    assert all(not t["problems"] for t in trials), trials


def test_sigkill_of_the_real_command_inside_a_checkpoint_write(dataset, reference, tmp_path):
    """The command line in a fresh interpreter, killed between writing a checkpoint and renaming
    it (last.pt rotated away to last.prev.pt): --resume falls back and repeats the run exactly."""
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    launcher = [sys.executable, "-m", "tests.fault_launcher"]
    cmd = [*launcher, f"{FAULTS},sleep_in_save=2", *train_argv(dataset, out)]
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    tmp = out / "checkpoints" / ".last.pt.tmp"
    deadline = time.monotonic() + 300
    last = out / "checkpoints" / "last.pt"
    while proc.poll() is None and time.monotonic() < deadline:
        if lines(out / "metrics.jsonl") >= 3 and tmp.exists() and not last.exists():
            proc.kill()
            break
        time.sleep(0.01)
    assert proc.wait(60) == -signal.SIGKILL
    assert not (out / "checkpoints" / "last.pt").exists()  # killed between the two renames
    done = subprocess.run([*launcher, FAULTS, *train_argv(dataset, out), "--resume"], env=env,
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "resumed from the older checkpoint" in done.stderr and "last.pt" in done.stderr
    assert same_run(out, reference) == []


def test_resume_without_a_checkpoint_starts_fresh(dataset, reference, tmp_path, capsys):
    out = tmp_path / "run"
    with hooks.installed(parse_faults(FAULTS)):
        assert main(train_argv(dataset, out, "--resume")) == 0
    assert "starting fresh" in capsys.readouterr().err
    assert same_run(out, reference) == []


# -- damaged checkpoints ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def three_steps(dataset, tmp_path_factory):
    """A run stopped after 3 steps: last.pt (step 3) and last.prev.pt (step 2), and best.pt
    (step 3) from the validation that closes a run stopped between epochs."""
    out = tmp_path_factory.mktemp("three") / "run"
    assert main(train_argv(dataset, out, "--max-steps", "3")) == 0
    return out


def damaged_copy(src: Path, dst: Path, damage) -> Path:
    import shutil

    shutil.copytree(src, dst)
    damage(dst / "checkpoints" / "last.pt")
    return dst


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])


def garble(path: Path) -> None:
    data = bytearray(path.read_bytes())
    rng = np.random.default_rng(0)
    for i in rng.integers(0, len(data), 64):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def pickle_payload(path: Path) -> None:
    marker = path.parent / "payload_ran"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    torch.save({"model": Payload()}, path)


@pytest.mark.parametrize("damage", [truncate, garble, pickle_payload])
def test_damaged_last_checkpoint_is_named_and_resume_falls_back(damage, dataset, three_steps,
                                                                 tmp_path, capsys):
    out = damaged_copy(three_steps, tmp_path / "run", damage)
    capsys.readouterr()
    assert main(train_argv(dataset, out, "--max-steps", "4", "--resume")) == 0
    err = capsys.readouterr().err
    assert f"{out / 'checkpoints' / 'last.pt'}: unreadable or unsafe checkpoint" in err
    assert "resumed from the older checkpoint" in err and "Traceback" not in err
    assert not (out / "checkpoints" / "payload_ran").exists()
    steps = [r["step"] for r in read_jsonl(out / "metrics.jsonl")]
    assert steps == [1, 2, 3, 4]  # step 3 (after last.prev.pt) logged once, not twice


def test_explicit_damaged_checkpoint_is_refused_with_its_name(dataset, three_steps, tmp_path,
                                                              capsys):
    out = damaged_copy(three_steps, tmp_path / "run", pickle_payload)
    bad = out / "checkpoints" / "last.pt"
    assert main(train_argv(dataset, out, "--max-steps", "4", "--resume", str(bad))) == 1
    err = capsys.readouterr().err
    assert f"{bad}: unreadable or unsafe checkpoint" in err and "Traceback" not in err
    assert not (out / "checkpoints" / "payload_ran").exists()


def test_all_checkpoints_damaged_stops_instead_of_starting_over(dataset, three_steps, tmp_path,
                                                                capsys):
    out = damaged_copy(three_steps, tmp_path / "run", truncate)
    truncate(out / "checkpoints" / "last.prev.pt")
    truncate(out / "checkpoints" / "best.pt")
    before = (out / "metrics.jsonl").read_bytes()
    assert main(train_argv(dataset, out, "--resume")) == 1
    assert "no usable checkpoint" in capsys.readouterr().err
    assert (out / "metrics.jsonl").read_bytes() == before  # nothing overwritten


def test_metrics_line_cut_short_by_a_crash_is_dropped_on_resume(dataset, three_steps, tmp_path):
    out = damaged_copy(three_steps, tmp_path / "run", lambda path: None)
    with open(out / "metrics.jsonl", "a") as fh:
        fh.write('{"step": 4, "epoch": 0, "loss": 0.12')  # SIGKILL mid-write
    assert main(train_argv(dataset, out, "--max-steps", "4", "--resume")) == 0
    assert [r["step"] for r in read_jsonl(out / "metrics.jsonl")] == [1, 2, 3, 4]
    assert all(json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines())


# -- non-finite faults -----------------------------------------------------------------------
def tiny(**overrides):
    return small_config("optimized", **{**dict(batch_size=4, gradient_accumulation_steps=2,
                                                warmup_steps=0, beta_warmup_steps=0,
                                                max_epochs=50), **overrides})


def fit(data, faults, out=None, **options):
    records = []

    def on_step(trainer, record):
        weights = torch.cat([p.detach().flatten() for p in trainer.model.parameters()])
        records.append({**record, "weights": weights})

    trainer = Trainer(tiny(), data, options=RunOptions(
        out_dir=out, progress=False, **{"max_steps": 6, **options}),
        on_step=on_step, hooks=FaultHooks(faults))
    return trainer, records, trainer.fit()


@pytest.mark.parametrize("kind", ["input", "loss", "grad", "input:inf", "loss:inf", "grad:inf"])
def test_a_non_finite_fault_is_skipped_and_counted(kind, data):
    trainer, records, summary = fit(data, {3: kind})
    assert [r["finite"] for r in records] == [True, True, False, True, True, True, True]
    assert summary["skipped_steps"] == 1 and summary["steps"] == 6
    assert not np.isfinite(records[2]["loss"]) or not np.isfinite(records[2]["grad_norm"])
    # the skipped attempt changed nothing: same weights, step, learning rate
    assert torch.equal(records[2]["weights"], records[1]["weights"])
    assert records[2]["step"] == 2 and records[3]["lr"] == records[2]["lr"]
    assert all(torch.isfinite(r["weights"]).all() for r in records)


@pytest.mark.parametrize("kind", ["input", "loss", "grad"])
def test_k_faults_in_a_row_stop_with_a_report_and_the_last_good_checkpoint(kind, data,
                                                                           tmp_path):
    faults = {a: kind for a in range(4, 20)}  # patience 5 (the preset): attempts 4..8 skip
    _, records, summary = fit(data, faults, out=tmp_path, checkpoint_every=1, max_steps=20)
    assert summary["steps"] == 3 and summary["skipped_steps"] == 5
    assert summary["stop_reason"].startswith("non-finite")
    report = json.loads((tmp_path / "nonfinite_report.json").read_text())
    assert "5 consecutive" in report["reason"] and report["attempt"] == 8
    assert report["last_good_checkpoint"] == str(tmp_path / "checkpoints" / "last.pt")
    for name in ("last.pt", "last.prev.pt"):
        ckpt = load_checkpoint(tmp_path / "checkpoints" / name)
        assert all(torch.isfinite(v).all() for v in ckpt["model"].values()
                   if v.is_floating_point())
    assert load_checkpoint(tmp_path / "checkpoints" / "last.pt")["trainer"]["step"] == 3
    assert len(read_jsonl(tmp_path / "metrics.jsonl")) == 8


def test_fault_injection_through_the_command_line(dataset, tmp_path, capsys):
    out = tmp_path / "run"
    with hooks.installed(parse_faults(",".join(f"{a}=grad" for a in range(2, 40)))):
        assert main(train_argv(dataset, out)) == 3  # exit code 3: stopped on non-finite values
    assert (out / "nonfinite_report.json").is_file()
    assert load_checkpoint(out / "checkpoints" / "last.pt")["trainer"]["step"] == 1


@pytest.mark.parametrize("spec", ["x=loss", "3=lost", "3=grad:maybe"])
def test_a_malformed_fault_spec_is_refused_cleanly(spec, dataset, tmp_path, capsys):
    """A typo in a test's fault spec must fail that test, not quietly plant nothing."""
    with pytest.raises(ValueError, match="fault"):
        parse_faults(spec)
    assert launch([spec, *train_argv(dataset, tmp_path / "run")]) == 2
    assert "error:" in capsys.readouterr().err
    assert type(hooks.current()) is hooks.StepHooks  # nothing was installed


# -- unwritable or full output ---------------------------------------------------------------
def test_output_under_a_regular_file_fails_before_the_first_step(dataset, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    proc = subprocess.run([sys.executable, "-m", "seqsetvae",
                           *train_argv(dataset, blocker / "run")],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 1
    assert f"{blocker / 'run'}: output directory is not writable" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_full_disk_fails_before_the_first_step(dataset, tmp_path, capsys, monkeypatch):
    import errno

    def no_space(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", no_space)
    assert main(train_argv(dataset, tmp_path / "run")) == 1
    err = capsys.readouterr().err
    assert "not writable (No space left on device)" in err and "Traceback" not in err
    assert not (tmp_path / "run" / "metrics.jsonl").exists()


def test_too_little_free_space_for_checkpoints_fails_before_the_first_step(dataset, tmp_path,
                                                                           capsys, monkeypatch):
    import shutil

    monkeypatch.setattr(shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(1, 1, 1000))
    assert main(train_argv(dataset, tmp_path / "run")) == 1
    assert "not enough free space for checkpoints" in capsys.readouterr().err


def test_disk_filling_up_mid_run_ends_with_a_message_and_the_last_checkpoint(
        dataset, tmp_path, capsys, monkeypatch):
    import errno

    real, written = os.fsync, []

    def fills_up(fd):
        if os.readlink(f"/proc/self/fd/{fd}").endswith(".last.pt.tmp"):
            written.append(fd)
            if len(written) == 3:  # two checkpoints fit, the third does not
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(fd)

    monkeypatch.setattr(os, "fsync", fills_up)
    out = tmp_path / "run"
    assert main(train_argv(dataset, out)) == 1
    err = capsys.readouterr().err
    assert "cannot write checkpoint (No space left on device)" in err
    assert load_checkpoint(out / "checkpoints" / "last.pt")["trainer"]["step"] == 2
    assert not (out / "checkpoints" / ".last.pt.tmp").exists()
