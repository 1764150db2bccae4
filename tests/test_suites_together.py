"""The suites run together: one pytest call collects stability_suite, data_checks and benchmarks,
and one ``--data-dir`` reaches both suites that read data (README, The jobs)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from seqsetvae.data.builtin import SyntheticSpec, write_synthetic

REPO = Path(__file__).resolve().parents[1]


def test_one_call_collects_every_suite_with_one_data_dir(tmp_path):
    data = write_synthetic(tmp_path / "cohort", SyntheticSpec(patients=12, max_sets=4))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "stability_suite", "data_checks", "benchmarks",
         "--collect-only", "-q", "-p", "no:cacheprovider", f"--data-dir={data}",
         "--precision=bf16"], cwd=REPO, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    ids = proc.stdout.splitlines()
    assert any(i.startswith("stability_suite/") and "[own" in i for i in ids), ids[:20]
    assert any(i.startswith("data_checks/") and "[user" in i for i in ids), ids[:20]
    assert any(i.startswith("benchmarks/") for i in ids)
    # the built-in cohorts are not collected when a dataset is given
    assert not any("[synthetic" in i or "[pbcseq" in i for i in ids if "data_checks" in i)
