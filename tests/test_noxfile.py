"""The nox sessions test the checkout they run in: with seqsetvae imported from elsewhere (an
editable install made from another clone or worktree) a session stops with one line naming
both paths instead of testing that other code."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def nox(*args, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}  # seqsetvae resolves to REPO's package
    return subprocess.run([sys.executable, "-m", "nox", *args], cwd=cwd, capture_output=True,
                          text=True, env=env, timeout=300)


def test_a_session_in_another_checkout_stops_naming_both_paths(tmp_path):
    other = tmp_path / "other-clone"
    (other / "seqsetvae").mkdir(parents=True)
    (other / "seqsetvae" / "__init__.py").write_text("")
    shutil.copy(REPO / "noxfile.py", other / "noxfile.py")
    proc = nox("-s", "data_checks", cwd=other)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert str(REPO / "seqsetvae") in out and str(other / "seqsetvae") in out, out
    assert "passed" not in out  # no test ran


def test_a_session_in_this_checkout_runs():
    proc = nox("-s", "data_checks", "--", "-k", "schema", cwd=REPO)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout + proc.stderr
