"""A results folder keeps finished runs: a restart trains only the missing runs, a run read back
equals the run trained fresh, a run killed midway leaves no file, and anything that changes a
run's numbers (data, config, profile, seed, fault, code) changes its key."""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import pytest

import seqsetvae
from seqsetvae.data.builtin import SyntheticSpec, write_synthetic
from seqsetvae.stability import runstore
from seqsetvae.stability.checks import Problem, check_names
from seqsetvae.stability.collapse import PosteriorHealth
from seqsetvae.stability.identity import source_digest
from seqsetvae.stability.pool import RunPool
from seqsetvae.stability.records import recorded_run, run_record
from seqsetvae.stability.runjob import RunJob
from seqsetvae.stability.runs import PROFILES, build_trace, profile_config
from seqsetvae.stability.runstore import RunStore, StoreError, run_key

from .factories import random_packed
from .traces import numbers

REPO = Path(seqsetvae.__file__).resolve().parents[1]
PROFILE = dataclasses.replace(PROFILES["quick"], steps=8)


def plant(fault: str):
    """A module-level setup callable, as faults.inject (this one plants nothing)."""
    return nullcontext()


@pytest.fixture(scope="module")
def split():
    return random_packed(24, max_sets=5, max_events=4, seed=1), \
        random_packed(8, max_sets=5, max_events=4, seed=2)


def submit(pool: RunPool, split, seeds):
    cfg = profile_config("optimized", PROFILE)
    futures = [pool.submit(("optimized", s), cfg, "optimized", *split, PROFILE, s)
               for s in seeds]
    return [f.result() for f in futures]


def test_a_restart_trains_only_the_missing_runs_and_reads_back_equal_runs(split, tmp_path):
    with RunPool(1, results=tmp_path) as first:
        fresh = submit(first, split, [0])
    assert first.progress.counts == {"submitted": 1, "done": 1, "read": 0, "failed": 0}
    with RunPool(1, results=tmp_path) as restart:
        again = submit(restart, split, [0, 1])
    assert restart.progress.counts == {"submitted": 2, "done": 2, "read": 1, "failed": 0}
    assert numbers(again[0]) == numbers(fresh[0])
    assert again[0].seconds == fresh[0].seconds  # read back, not trained again
    assert len(list(tmp_path.glob("*.json"))) == 2


def test_a_record_carries_each_problem_and_its_check_through_json():
    problems = [Problem("loss", "recon 1 differs from its definition 2"),
                Problem("outputs", "mu: missing")]
    steps = [{"step": s + 1, "grad_norm": 1.0, "applied_norm": 1.0} for s in range(4)]
    health = PosteriorHealth(4, 8, 0.5, 0.1, 0.2, 0.3, 256, 0.1, 0.05)
    trace = build_trace("optimized", 0, steps, [1.0, 0.9, 0.8, 0.7, 0.6], 0.8, 1.0,
                        PROFILE.warmup_steps, health, problems, 2.0)
    record = json.loads(json.dumps(run_record(trace, profile_config("optimized", PROFILE))))
    assert record["contract_problems"][1] == {"check": "outputs", "message": "mu: missing"}
    back = recorded_run(record, PROFILE)
    assert back.trace.contract_problems == problems
    assert check_names(back.trace.contract_problems) == ["outputs", "loss"]
    assert numbers(back.trace) == numbers(trace)
    # a gate's REF side may run code that sent each problem as its "check: message" text
    legacy = recorded_run({**record, "contract_problems": [str(p) for p in problems]}, PROFILE)
    assert legacy.trace.contract_problems == problems
    assert legacy.fingerprint == back.fingerprint


def test_every_input_of_a_run_is_in_its_key(split, monkeypatch):
    cfg = profile_config("optimized", PROFILE)
    job = RunJob(cfg, "optimized", *split, PROFILE, 0, "cpu")
    same = RunJob(cfg.replace(), "optimized", random_packed(24, max_sets=5, max_events=4, seed=1),
                  split[1], dataclasses.replace(PROFILE), 0, "cpu")
    assert run_key(same) == run_key(job)
    changed = [dataclasses.replace(job, cfg=cfg.replace(lr=cfg.optim.lr * 1.01)),
               dataclasses.replace(job, config_name="other"),
               dataclasses.replace(job, train=random_packed(24, 5, 4, seed=3)),
               dataclasses.replace(job, valid=random_packed(8, 5, 4, seed=3)),
               dataclasses.replace(job, profile=dataclasses.replace(PROFILE, steps=9)),
               dataclasses.replace(job, seed=1), dataclasses.replace(job, device="cuda"),
               dataclasses.replace(job, setup=functools.partial(plant, "a")),
               dataclasses.replace(job, setup=functools.partial(plant, "b"))]
    keys = [json.dumps(run_key(j), sort_keys=True) for j in [job, *changed]]
    assert len(set(keys)) == len(keys)
    this_code = run_key(job)
    monkeypatch.setattr(runstore, "code_identity", lambda: {"source": "another version"})
    assert run_key(job) != this_code  # the same inputs trained by other code


def test_a_longer_seed_list_keeps_the_key_of_a_run(split):
    """A run reads only its own seed: extending a shortened profile reuses its runs."""
    job = RunJob(profile_config("optimized", PROFILE), "optimized", *split, PROFILE, 1, "cpu")
    longer = dataclasses.replace(job, profile=dataclasses.replace(PROFILE, seeds=(0, 1, 2, 9)))
    assert run_key(longer) == run_key(job)


def test_the_source_digest_sees_an_edited_file(tmp_path):
    copy = tmp_path / "seqsetvae"
    shutil.copytree(REPO / "seqsetvae", copy, ignore=shutil.ignore_patterns("__pycache__"))
    assert source_digest(copy) == source_digest(REPO / "seqsetvae")
    with open(copy / "stability" / "verdicts.py", "a") as fh:
        fh.write("\n")
    assert source_digest(copy) != source_digest(REPO / "seqsetvae")


def test_a_damaged_results_file_is_one_line_naming_it(split, tmp_path):
    job = RunJob(profile_config("optimized", PROFILE), "optimized", *split, PROFILE,
                 0, "cpu")
    store = RunStore(tmp_path)
    store.path(run_key(job)).write_text('{"key": ')
    with pytest.raises(StoreError, match=r"optimized-seed0-.*\.json is not a finished run"):
        store.read(run_key(job))
    store.path(run_key(job)).write_text('{"key": {}, "record": {}}')
    with pytest.raises(StoreError, match="holds another run than its name says"):
        store.read(run_key(job))


def test_an_interrupted_compare_keeps_its_finished_runs(tmp_path):
    """Killed (SIGKILL) while training its second run, compare leaves one whole results file;
    started again, it keeps that file as it is and trains only the run it lacks."""
    data = write_synthetic(tmp_path / "syn", SyntheticSpec(patients=40, max_sets=10))
    results = tmp_path / "results"
    cmd = [sys.executable, "-m", "seqsetvae", "compare", "--data_dir", str(data), "--configs",
           "baseline", "--seeds", "2", "--steps", "12", "--workers", "1", "--results",
           str(results), "--out", str(tmp_path / "out"), "--no_progress"]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while not list(results.glob("*.json")) and proc.poll() is None:
        assert time.monotonic() < deadline, "no run finished"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    kept = {p.name: p.stat().st_ino for p in results.glob("*.json")}
    assert len(kept) == 1, kept
    json.loads(next(results.glob("*.json")).read_text())  # whole

    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    files = {p.name: p.stat().st_ino for p in results.glob("*.json")}
    assert len(files) == 2
    assert {name: files[name] for name in kept} == kept  # not written again
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert [r["seed"] for r in summary["configs"]["baseline"]["runs"]] == [0, 1]
