"""Distributed training through real ``torchrun`` (2 CPU processes, gloo) equals one process.

Each optimizer step is the same global batch of ``gradient_accumulation_steps`` micro-batches in
both cases; under torchrun rank r runs micro-batches r, r + 2, ... with the same noise seeds and
the gradients are summed across ranks. Every forward pass is therefore identical to the single
process one; only the order in which micro-batch gradients are added differs ((g0 + g2) +
(g1 + g3) instead of ((g0 + g1) + g2) + g3), a float32 rounding difference of ~1e-7 relative that
AdamW carries on. Tolerance: rtol 1e-5 on every logged value and on the final weights.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from seqsetvae.cli import main
from seqsetvae.model import LOSS_TERMS
from seqsetvae.train.checkpoint import load_checkpoint
from seqsetvae.train.metrics import read_jsonl

from .factories import small_flags

RTOL = 1e-5
# 28 training patients, batches of 4, 4 per step: steps of 4 and 3 micro-batches (so in every
# other step rank 1 runs one micro-batch, rank 0 two), 3 epochs = 6 steps with validations.
# A long LR warm-up keeps the learning rate independent of --max-steps (the run is resumed).
RUN = ["--batch-size", "4", *small_flags(gradient_accumulation_steps=4, warmup_steps=100),
       "--max-epochs", "3", "--checkpoint-every", "1",
       "--no-progress", "--skip-checks", "--device", "cpu"]
VALUES = (*LOSS_TERMS, "grad_norm", "lr", "beta")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("ddp") / "syn"
    assert main(["data", "synthetic", "--out", str(root), "--patients", "30",
                 "--max-sets", "8"]) == 0
    return root


def torchrun(*args) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
           "2", "-m", "seqsetvae", *map(str, args)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}"
    return proc


def test_two_processes_match_one_and_resume_under_torchrun(dataset, tmp_path):
    single, ddp = tmp_path / "single", tmp_path / "ddp"
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["train", "--data-dir", str(dataset), "--out", str(single), *RUN]) == 0
    first = torchrun("train", "--data-dir", dataset, "--out", ddp, *RUN, "--max-steps", 3)
    assert first.stdout.count('"stop_reason"') == 1  # only rank 0 reports
    assert len(read_jsonl(ddp / "metrics.jsonl")) == 3
    torchrun("train", "--data-dir", dataset, "--out", ddp, *RUN, "--resume")

    want, got = read_jsonl(single / "metrics.jsonl"), read_jsonl(ddp / "metrics.jsonl")
    assert [(r["step"], r["epoch"], r["finite"]) for r in got] == \
        [(r["step"], r["epoch"], r["finite"]) for r in want] and len(want) == 6
    worst = max(abs(g[k] - w[k]) / max(abs(w[k]), 1e-12) for g, w in zip(got, want)
                for k in VALUES)
    a = load_checkpoint(single / "checkpoints" / "last.pt")["model"]
    b = load_checkpoint(ddp / "checkpoints" / "last.pt")["model"]
    weights = max(float(((b[k] - a[k]).abs() / a[k].abs().clamp_min(1e-6)).max())
                  for k in a if a[k].is_floating_point())
    print(f"\nmax relative difference, torchrun x2 vs one process: logged values {worst:.2e}, "
          f"final weights {weights:.2e}")
    for g, w in zip(got, want):
        for k in VALUES:
            assert g[k] == pytest.approx(w[k], rel=RTOL, abs=1e-7), (g["step"], k)
    for k in a:
        torch.testing.assert_close(b[k], a[k], rtol=RTOL, atol=1e-6)
    history = json.loads(load_checkpoint(ddp / "checkpoints" / "last.pt")["history"])
    # one validation per epoch across the resume, and the one closing the run stopped at step 3
    assert [(v["step"], v.get("final", False)) for v in history] == \
        [(2, False), (3, True), (4, False), (6, False)]
    assert not any(Path(ddp).glob("**/*rank*"))
