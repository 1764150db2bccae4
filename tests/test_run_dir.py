"""Run-directory safety (issue 15): a run is never overwritten by mistake, one trainer writes a
directory at a time, a killed trainer's lock never blocks the next, and checkpoint rotation never
pushes a good fallback out with a damaged file.

The scenarios run ``python -m seqsetvae train`` as real processes: the lock is a kernel flock,
and only separate processes (one of them killed) show that it is held and released as promised.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from seqsetvae.cli import main
from seqsetvae.train import rundir
from seqsetvae.train.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from seqsetvae.train.layout import RunLayout
from seqsetvae.train.metrics import read_jsonl
from seqsetvae.train.resume import resume_latest
from seqsetvae.train.trainer import RunOptions, Trainer

from .factories import random_packed, small_config, small_flags

SMALL = small_flags(warmup_steps=2)
# the data checks slow every start down; one test runs them (to see their warning format)
RUN = ["--config", "optimized", "--batch_size", "2", *SMALL, "--max-epochs", "100",
       "--checkpoint-every", "1", "--no-progress"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}  # two trainers share the cores without thrashing
ROOT = Path(__file__).resolve().parents[1]  # `python -m tests.fault_launcher` runs from here


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("rundir") / "syn"
    subprocess.run([sys.executable, "-m", "seqsetvae", "data", "synthetic", "--out", str(root),
                    "--patients", "30", "--max-sets", "8"], check=True, capture_output=True,
                   env=ENV, timeout=300)
    # a labelled patient without events: the data check warns about it before training
    with open(root / "oc.csv", "a") as fh:
        fh.write("p_unseen,0\n")
    return root


def train_cmd(data: Path, out: Path, *more, sleep_in_save: float = 0) -> list[str]:
    """The train command; ``sleep_in_save``: through the test launcher, with every checkpoint
    write held that long between rotation and rename (tests/faults.py)."""
    program = ["-m", "tests.fault_launcher", f"sleep_in_save={sleep_in_save}"] \
        if sleep_in_save else ["-m", "seqsetvae"]
    return [sys.executable, *program, "train", "--data_dir", str(data), "--out", str(out), *RUN,
            *map(str, more)]


def train(data: Path, out: Path, *more, skip_checks=True, **env) -> subprocess.CompletedProcess:
    cmd = train_cmd(data, out, *more, *(["--skip-checks"] if skip_checks else []))
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, env={**ENV, **env})


def ok(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    return proc.stderr


def steps(out: Path) -> list[int]:
    return [r["step"] for r in read_jsonl(out / "metrics.jsonl")]


def wait_for(condition, proc: subprocess.Popen, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None, f"the trainer ended early: {proc.stderr.read()}"
        assert time.monotonic() < deadline, "the trainer never got there"
        time.sleep(0.02)


def garble(path: Path) -> None:
    data = bytearray(path.read_bytes())
    for i in range(len(data) // 2, len(data) // 2 + 64):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


# -- a run is never overwritten by mistake ---------------------------------------------------
def test_a_run_is_refused_and_overwrite_moves_it_aside(dataset, tmp_path):
    out = tmp_path / "run"
    first = ok(train(dataset, out, "--max-steps", 2, skip_checks=False))
    # the data check's warning in check-data's one-line format, not a Python repr
    assert "Finding(" not in first
    assert any(line.startswith("WARNING labels_missing") and "p_unseen" in line
               for line in first.splitlines()), first
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}

    again = train(dataset, out, "--max-steps", 1)
    assert again.returncode == 2, again.stderr
    [line] = again.stderr.splitlines()
    assert line.startswith(f"seqsetvae train: error: {out} already holds a run (2 step(s)")
    assert "last written" in line and "--resume" in line and "--overwrite" in line
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before

    both = train(dataset, out, "--resume", "--overwrite")
    assert both.returncode == 2 and len(both.stderr.splitlines()) == 1, both.stderr

    fresh = ok(train(dataset, out, "--max-steps", 1, "--overwrite"))
    [aside] = tmp_path.glob("run.old-*")
    assert f"moved the previous run in {out} to {aside}" in fresh
    assert {p.relative_to(aside): p.read_bytes() for p in aside.rglob("*") if p.is_file()} \
        == before  # the old run, whole and untouched
    assert steps(out) == [1]
    assert not (RunLayout(out).lock).exists() and not (RunLayout(aside).lock).exists()


# -- one trainer at a time -------------------------------------------------------------------
def test_a_second_trainer_is_refused_while_the_first_finishes(dataset, tmp_path):
    out = tmp_path / "run"
    lock = RunLayout(out).lock
    # a pause in each checkpoint write keeps the first trainer busy while the second starts
    first = subprocess.Popen(train_cmd(dataset, out, "--max-steps", 12, "--skip-checks",
                                       sleep_in_save=1),
                             env=ENV, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    try:
        wait_for(lambda: lock.exists() and lock.read_text().strip(), first)
        second = train(dataset, out, "--max-steps", 1, "--resume")
        assert first.poll() is None, "the first trainer ended before the second was refused"
        stdout, stderr = first.communicate(timeout=600)
    finally:
        first.kill()
    assert second.returncode == 2, second.stderr
    [line] = second.stderr.splitlines()
    assert f"{out} is in use by another trainer (pid {first.pid} on host " in line
    assert " since " in line
    assert first.returncode == 0, stderr
    assert json.loads(stdout)["steps"] == 12 and steps(out) == list(range(1, 13))
    assert not lock.exists()  # released and removed on a normal exit


def test_a_killed_trainers_lock_does_not_block_the_next_run(dataset, tmp_path):
    out = tmp_path / "run"
    killed = subprocess.Popen(train_cmd(dataset, out, "--max-steps", 1000, "--skip-checks"),
                              env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True)
    try:
        wait_for(lambda: (out / "metrics.jsonl").exists() and steps(out), killed)
        killed.send_signal(signal.SIGKILL)
        assert killed.wait(60) == -signal.SIGKILL
    finally:
        killed.kill()
    stale = json.loads((RunLayout(out).lock).read_text())
    assert stale["pid"] == killed.pid  # the file is left behind, naming a dead process
    err = ok(train(dataset, out, "--max-steps", 3, "--resume"))
    assert "in use" not in err
    assert steps(out)[-1] >= 3


# -- checkpoint rotation ---------------------------------------------------------------------
def test_a_damaged_last_checkpoint_never_becomes_the_fallback(dataset, tmp_path):
    out = tmp_path / "run"
    ckpt = out / "checkpoints"
    ok(train(dataset, out, "--max-steps", 3))
    fallback = load_checkpoint(ckpt / "last.prev.pt")["trainer"]["step"]
    garble(ckpt / "last.pt")
    # resume, and stop the resumed run inside its first save, once that save has decided what
    # becomes the fallback (a pause in the write holds it there): the good fallback must survive
    resumed = subprocess.Popen(train_cmd(dataset, out, "--max-steps", 6, "--resume",
                                         "--skip-checks", sleep_in_save=60),
                               env=ENV, cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    try:
        tmp = ckpt / ".last.pt.tmp"
        wait_for(tmp.exists, resumed)
        time.sleep(1.0)
        assert resumed.poll() is None and tmp.exists()
        resumed.send_signal(signal.SIGKILL)
        assert resumed.wait(60) == -signal.SIGKILL
    finally:
        resumed.kill()
    assert load_checkpoint(ckpt / "last.prev.pt")["trainer"]["step"] == fallback
    if (ckpt / "last.pt").exists():  # damaged again (garbling twice would restore it)
        (ckpt / "last.pt").write_bytes((ckpt / "last.pt").read_bytes()[:1000])
    err = ok(train(dataset, out, "--max-steps", 6, "--resume"))
    assert f"resumed from the older checkpoint {ckpt / 'last.prev.pt'} (step {fallback})" in err
    assert steps(out) == [1, 2, 3, 4, 5, 6]
    assert load_checkpoint(ckpt / "last.pt")["trainer"]["step"] == 6
    assert load_checkpoint(ckpt / "last.prev.pt")["trainer"]["step"] in (5, 6)


def test_save_keeps_the_good_fallback_when_the_current_file_is_damaged(tmp_path):
    def state(step):
        return {"model": {"w": torch.full((4,), float(step))}, "optimizer": {}, "step": step}

    last, prev = tmp_path / "last.pt", tmp_path / "last.prev.pt"
    save_checkpoint(state(1), last, prev)
    assert save_checkpoint(state(2), last, prev) is None  # a good current file is rotated
    garble(last)
    discarded = save_checkpoint(state(3), last, prev)
    assert discarded is not None and str(last) in str(discarded)
    assert load_checkpoint(prev)["step"] == 1 and load_checkpoint(last)["step"] == 3
    assert save_checkpoint(state(4), last, prev) is None
    assert load_checkpoint(prev)["step"] == 3


def test_best_is_the_resume_point_of_last_resort(tmp_path, capsys):
    data = random_packed(16, max_sets=4, max_events=4, seed=5)
    valid = random_packed(6, max_sets=4, max_events=4, seed=6)
    cfg = small_config("optimized", batch_size=4, gradient_accumulation_steps=1, warmup_steps=0,
                       beta_warmup_steps=0, max_epochs=2)

    def trainer():
        return Trainer(cfg, data, valid, RunOptions(out_dir=tmp_path, progress=False))

    trainer().fit()  # 2 epochs of 4 steps, validated after each: best.pt at step 4 or 8
    ckpt = tmp_path / "checkpoints"
    best_step = load_checkpoint(ckpt / "best.pt")["trainer"]["step"]
    garble(ckpt / "last.pt")
    garble(ckpt / "last.prev.pt")
    capsys.readouterr()
    resumed = trainer()
    assert resume_latest(resumed) == ckpt / "best.pt"
    assert resumed.state.step == best_step and resumed.state.history
    assert f"resumed from the older checkpoint {ckpt / 'best.pt'}" in capsys.readouterr().err
    garble(ckpt / "best.pt")
    with pytest.raises(CheckpointError, match="no usable checkpoint"):
        resume_latest(trainer())


# -- the lock and the directory check, in one process ----------------------------------------
def test_the_lock_is_exclusive_names_its_holder_and_cleans_up(tmp_path):
    out = tmp_path / "a" / "run"
    lock = rundir.RunLock.acquire(out)
    try:
        with pytest.raises(rundir.RunDirError, match=rf"pid {os.getpid()} on host .* since "):
            rundir.RunLock.acquire(out)
    finally:
        lock.release()
    assert not (tmp_path / "a").exists()  # created for a run that wrote nothing: removed
    rundir.RunLock.acquire(out).release()  # free again


def test_only_a_directory_with_steps_or_checkpoints_holds_a_run(tmp_path):
    out = tmp_path / "run"
    assert rundir.existing_run(out) is None
    out.mkdir()
    (out / "config.json").write_text("{}")
    (out / "metrics.jsonl").write_text('{"step": 1, "lo')  # cut short before the first record
    assert rundir.existing_run(out) is None
    (out / "metrics.jsonl").write_text('{"step": 1}\n{"step": 7}\n')
    assert rundir.existing_run(out).startswith("7 step(s) logged, last written ")
    (out / "metrics.jsonl").unlink()
    (out / "checkpoints").mkdir()
    (out / "checkpoints" / "best.pt").write_bytes(b"x")
    assert rundir.existing_run(out) is not None


def test_a_refused_run_exits_2_before_reading_the_data(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "metrics.jsonl").write_text('{"step": 4}\n')
    code = main(["train", "--data_dir", str(tmp_path / "no_such_data"), "--out", str(out)])
    assert code == 2
    [line] = capsys.readouterr().err.splitlines()
    assert "already holds a run (4 step(s)" in line
