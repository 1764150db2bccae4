"""Every subcommand on bad input: missing, unreadable and wrong-kind paths, files that are not
what the flag expects, invalid ``--set`` values, unknown presets and unwritable outputs.

Each must exit with the documented status (seqsetvae/cli/main.py: 2 for unusable input, 1 for data
errors and for a ``train`` run that cannot go on), print one line on stderr that names the culprit
and no traceback, and leave nothing behind: no output, no temporary file, inputs untouched.
The first case of each subcommand runs as ``python -m seqsetvae`` in a real subprocess (the entry
point turns the status into the exit code and the interpreter adds nothing to stderr), two at a
time; the others call the same ``main`` in this process, where an exception that escaped it would
fail the test as a traceback would.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from seqsetvae.cli import main

from .factories import small_flags

SMALL = small_flags()
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0  # root reads files whatever their mode


@dataclass(frozen=True)
class Case:
    argv: tuple[str, ...]  # {placeholders} are the fixture's files; {out} is the case's own
    code: int
    names: str  # what the error line must mention
    data_errors: bool = False  # 1 with one line per finding after the error line
    needs_unreadable: bool = False


def case(*argv, code=2, names="", **kw) -> Case:
    return Case(tuple(argv), code, names, **kw)


CASES = {
    # -- config ------------------------------------------------------------------------------
    "config show: unknown preset": case("config", "show", "fastest", names="fastest"),
    "config show: --set value of the wrong type": case(
        "config", "show", "optimized", "--set", "lr=fast", names="lr: expected float"),
    "config show: --set value out of range": case(
        "config", "show", "optimized", "--set", "batch_size=0", names="batch_size: must be"),
    "config show: --set heads that do not divide the width": case(
        "config", "show", "optimized", "--set", "model_dim=30", names="not divisible"),
    "config show: --set unknown key": case(
        "config", "show", "optimized", "--set", "learning_rate=1", names="'learning_rate'"),
    "config show: --set without =": case(
        "config", "show", "optimized", "--set", "lr", names="key=value"),
    "config show: missing file": case("config", "show", "{missing}.toml",
                                      names="{missing}.toml"),
    "config show: directory": case("config", "show", "{folder}", names="{folder}"),
    "config show: empty file": case("config", "show", "{empty_toml}", names="{empty_toml}"),
    "config show: binary file": case("config", "show", "{binary_toml}",
                                     names="{binary_toml}: not a text file"),
    "config show: unreadable file": case("config", "show", "{locked_toml}",
                                         names="{locked_toml}", needs_unreadable=True),
    "config diff: unknown preset": case("config", "diff", "optimized", "fastest",
                                        names="fastest"),
    # -- data --------------------------------------------------------------------------------
    "data synthetic: --out under a regular file": case(
        "data", "synthetic", "--out", "{blocker}/syn", names="{blocker} is not a directory"),
    "data synthetic: --out is a regular file": case(
        "data", "synthetic", "--out", "{blocker}", names="{blocker}: exists and is not"),
    "data synthetic: no patients": case(
        "data", "synthetic", "--out", "{out}", "--patients", "0", names="patients"),
    "data synthetic: max_sets below min_sets": case(
        "data", "synthetic", "--out", "{out}", "--min-sets", "5", "--max-sets", "2",
        names="max_sets"),
    "data pbcseq: --out under a regular file": case(
        "data", "pbcseq", "--out", "{blocker}/pbc", names="{blocker} is not a directory"),
    # -- train -------------------------------------------------------------------------------
    "train: missing data directory": case(
        "train", "--data-dir", "{missing}", "--out", "{out}", names="{missing}"),
    "train: data directory is a file": case(
        "train", "--data-dir", "{blocker}", "--out", "{out}", names="{blocker}"),
    "train: stats path is a directory": case(
        "train", "--data-dir", "{data}", "--params-map-path", "{folder}", "--out", "{out}",
        names="{folder}: is a directory"),
    "train: missing labels file": case(
        "train", "--data-dir", "{data}", "--label-path", "{missing}.csv", "--out", "{out}",
        names="{missing}.csv"),
    "train: unknown preset": case(
        "train", "--data-dir", "{data}", "--config", "fastest", "--out", "{out}",
        names="fastest"),
    "train: invalid --set value": case(
        "train", "--data-dir", "{data}", "--set", "warmup_steps=soon", "--out", "{out}",
        names="warmup_steps"),
    "train: --set value out of range": case(
        "train", "--data-dir", "{data}", "--set", "lr=-0.1", "--out", "{out}", names="lr"),
    "train: --checkpoint-every 0": case(
        "train", "--data-dir", "{data}", "--checkpoint-every", "0", "--out", "{out}",
        names="--checkpoint-every/--checkpoint_every: must be at least 1"),
    "train: --max-steps 0": case(
        "train", "--data-dir", "{data}", "--max-steps", "0", "--out", "{out}",
        names="--max-steps/--max_steps: must be at least 1"),
    "train: empty labels file fails the data checks": case(
        "train", "--data-dir", "{data}", "--label-path", "{empty_csv}", "--out", "{out}",
        code=1, names="the dataset has", data_errors=True),
    "train: empty labels file with the checks skipped": case(
        "train", "--data-dir", "{data}", "--label-path", "{empty_csv}", "--out", "{out}",
        "--skip-checks", names="{empty_csv}"),
    "train: --resume a file that is not a checkpoint": case(
        "train", "--data-dir", "{data}", "--resume", "{text}", "--out", "{out}",
        "--skip-checks", *SMALL, code=1, names="{text}: unreadable or unsafe checkpoint"),
    "train: --resume a truncated checkpoint": case(
        "train", "--data-dir", "{data}", "--resume", "{cut}", "--out", "{out}",
        "--skip-checks", *SMALL, code=1, names="{cut}: unreadable or unsafe checkpoint"),
    "train: --resume a directory": case(
        "train", "--data-dir", "{data}", "--resume", "{folder}", "--out", "{out}",
        "--skip-checks", *SMALL, code=1, names="{folder}: is a directory"),
    "train: --out under a regular file": case(
        "train", "--data-dir", "{data}", "--out", "{blocker}/run", "--skip-checks", code=1,
        names="{blocker}/run: output directory is not writable"),
    # -- diagnose ----------------------------------------------------------------------------
    "diagnose: text file as checkpoint": case(
        "diagnose", "--checkpoint", "{text}", "--data-dir", "{data}",
        names="{text}: unreadable or unsafe checkpoint"),
    "diagnose: empty checkpoint": case(
        "diagnose", "--checkpoint", "{empty}", "--data-dir", "{data}", names="{empty}"),
    "diagnose: truncated checkpoint": case(
        "diagnose", "--checkpoint", "{cut}", "--data-dir", "{data}",
        names="{cut}: unreadable or unsafe checkpoint"),
    "diagnose: tensors that are not a training checkpoint": case(
        "diagnose", "--checkpoint", "{tensors}", "--data-dir", "{data}",
        names="{tensors}: not a training checkpoint"),
    "diagnose: checkpoint is a directory": case(
        "diagnose", "--checkpoint", "{folder}", "--data-dir", "{data}",
        names="{folder}: is a directory"),
    "diagnose: missing checkpoint": case(
        "diagnose", "--checkpoint", "{missing}.pt", "--data-dir", "{data}",
        names="{missing}.pt"),
    "diagnose: unreadable checkpoint": case(
        "diagnose", "--checkpoint", "{locked_pt}", "--data-dir", "{data}",
        names="{locked_pt}", needs_unreadable=True),
    "diagnose: --patients 0": case(
        "diagnose", "--checkpoint", "{ckpt}", "--data-dir", "{data}", "--patients", "0",
        names="--patients: must be at least 1"),
    "diagnose: missing data directory": case(
        "diagnose", "--checkpoint", "{ckpt}", "--data-dir", "{missing}", names="{missing}"),
    "diagnose: unknown split": case(
        "diagnose", "--checkpoint", "{ckpt}", "--data-dir", "{data}", "--split", "holdout",
        names="holdout"),
    # -- check-data --------------------------------------------------------------------------
    "check-data: missing data directory": case(
        "check-data", "--data-dir", "{missing}", names="{missing}"),
    "check-data: data directory is a file": case(
        "check-data", "--data-dir", "{blocker}", names="{blocker}"),
    "check-data: events table is a directory": case(
        "check-data", "--events", "{folder}", names="{folder}"),
    "check-data: labels path is a directory": case(
        "check-data", "--data-dir", "{data}", "--label-path", "{folder}", names="{folder}"),
    "check-data: --report is a directory": case(
        "check-data", "--data-dir", "{data}", "--report", "{folder}",
        names="{folder}: is a directory"),
    "check-data: --report under a regular file": case(
        "check-data", "--data-dir", "{data}", "--report", "{blocker}/report.json",
        names="{blocker} is not a directory"),
    # -- compare: only what fails before any training starts ---------------------------------
    "compare: missing data directory": case(
        "compare", "--data-dir", "{missing}", "--out", "{out}", names="{missing}"),
    "compare: unknown preset": case(
        "compare", "--data-dir", "{data}", "--configs", "baseline", "fastest", "--out", "{out}",
        names="fastest"),
    "compare: config file is a directory": case(
        "compare", "--data-dir", "{data}", "--configs", "baseline", "{folder}", "--out", "{out}",
        names="{folder}"),
    "compare: --out under a regular file": case(
        "compare", "--data-dir", "{data}", "--out", "{blocker}/cmp",
        names="{blocker} is not a directory"),
}


# the first case of each subcommand (config show, config diff, data synthetic, ...)
SUBPROCESS_CASES = frozenset({next(n for n, c in CASES.items() if c.argv[:2] == first)
                              for first in dict.fromkeys(c.argv[:2] for c in CASES.values())})


@dataclass
class Outcome:
    returncode: int
    stderr: str


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """The inputs the cases point at: a real dataset and checkpoint, and broken files."""
    root = tmp_path_factory.mktemp("robust")
    data = root / "data"
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["data", "synthetic", "--out", str(data), "--patients", "30",
                     "--max-sets", "8"]) == 0
        assert main(["train", "--data-dir", str(data), "--max-steps", "1", "--out",
                     str(root / "run"), *SMALL, "--no-progress", "--skip-checks"]) == 0
    f = {"root": root, "data": data, "ckpt": root / "run" / "checkpoints" / "last.pt",
         "folder": root / "folder", "blocker": root / "blocker", "missing": root / "missing"}
    f["folder"].mkdir()
    f["blocker"].write_text("a regular file\n")
    whole = f["ckpt"].read_bytes()
    for name, content in {"cut": whole[: len(whole) // 2], "text": b"not a checkpoint\n",
                          "empty": b"", "empty_csv": b"", "empty_toml": b"",
                          "binary_toml": b"\xff\xfe\x00\x01", "locked_toml": b"lr = 1e-4\n",
                          "locked_pt": whole}.items():
        suffix = {"empty_csv": ".csv", "empty_toml": ".toml", "binary_toml": ".toml",
                  "locked_toml": ".toml"}.get(name, ".pt")
        f[name] = root / f"{name}{suffix}"
        f[name].write_bytes(content)
    f["tensors"] = root / "tensors.pt"
    torch.save({"weights": torch.zeros(3)}, f["tensors"])
    for name in ("locked_toml", "locked_pt"):
        f[name].chmod(0)
    return f


def snapshot(root: Path) -> dict[str, tuple]:
    return {str(p.relative_to(root)): (p.is_dir(), p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if "cases" not in p.relative_to(root).parts}


def run_in_subprocess(argv: list[str]) -> Outcome:
    proc = subprocess.run([sys.executable, "-m", "seqsetvae", *argv], capture_output=True,
                          text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    return Outcome(proc.returncode, proc.stderr)


def run_in_process(argv: list[str]) -> Outcome:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse's refusals exit from inside main
            code = exc.code if isinstance(exc.code, int) else 1
    return Outcome(code, err.getvalue())


def run_case(name: str, c: Case, files: dict[str, Path], runner) -> tuple[Case, dict, object]:
    work = files["root"] / "cases" / name.replace(" ", "_").replace(":", "").replace("/", "_")
    work.mkdir(parents=True)
    values = {k: str(v) for k, v in files.items()} | {"out": str(work / "out")}
    argv = [a.format(**values) for a in c.argv]
    return Case(tuple(argv), c.code, c.names.format(**values), c.data_errors), values, \
        (runner(argv), work)


@pytest.fixture(scope="module")
def results(files, request):
    """Every selected case run once (the subprocess cases two at a time, beside the in-process
    ones), and the inputs before and after."""
    before = snapshot(files["root"])
    selected = {item.callspec.params["name"] for item in request.session.items
                if "name" in getattr(getattr(item, "callspec", None), "params", {})}
    runnable = {n: c for n, c in CASES.items()
                if n in selected and not (c.needs_unreadable and IS_ROOT)}
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {n: pool.submit(run_case, n, c, files, run_in_subprocess)
                   for n, c in runnable.items() if n in SUBPROCESS_CASES}
        done = {n: run_case(n, c, files, run_in_process)
                for n, c in runnable.items() if n not in SUBPROCESS_CASES}
        done |= {n: fut.result() for n, fut in futures.items()}
    return done, before, snapshot(files["root"])


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_gets_one_line_and_the_documented_exit_status(name, results):
    if CASES[name].needs_unreadable and IS_ROOT:
        pytest.skip("root can read a file whatever its mode")
    c, _, (proc, work) = results[0][name]
    command = c.argv[0]
    lines = proc.stderr.strip().splitlines()
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == c.code, proc.stderr
    assert lines and lines[0].startswith(f"seqsetvae {command}: error: "), proc.stderr
    assert c.names in lines[0], proc.stderr
    if c.data_errors:  # then one located finding per line
        assert len(lines) > 1 and all(line.startswith("  ERROR ") for line in lines[1:])
    else:
        assert len(lines) == 1, proc.stderr
    assert not any(work.iterdir()), f"left behind: {sorted(work.rglob('*'))}"


def test_no_case_touched_its_inputs_or_left_files_beside_them(results):
    _, before, after = results
    assert after == before


@pytest.mark.parametrize("flag, value", [("--threads", "0"), ("--seeds", "1"), ("--steps", "-3"),
                                         ("--workers", "0")])
def test_compare_refuses_unusable_counts_before_training(files, tmp_path, flag, value):
    proc = run_in_process(["compare", "--data-dir", str(files["data"]), "--out",
                           str(tmp_path / "cmp"), flag, value, "--no-progress"])
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert flag.lstrip("-") in proc.stderr, proc.stderr  # the message names the flag
    assert not (tmp_path / "cmp").exists()


@pytest.mark.parametrize("argv, culprit", [
    (["config", "show", "{locked_toml}"], "locked_toml"),
    (["diagnose", "--checkpoint", "{locked_pt}", "--data-dir", "{data}"], "locked_pt"),
])
def test_a_file_the_os_refuses_to_read_is_one_line(argv, culprit, files, monkeypatch, capsys):
    """What the unreadable-file cases above check, in this process, where refusing the read is
    simulated: it runs as root too."""
    import builtins
    import errno

    real_open = builtins.open

    def guarded(path, *args, **kwargs):
        if str(path) in (str(files["locked_toml"]), str(files["locked_pt"])):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", guarded)
    monkeypatch.setattr(io, "open", guarded)
    values = {k: str(v) for k, v in files.items()}
    assert main([a.format(**values) for a in argv]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert str(files[culprit]) in line and os.strerror(errno.EACCES) in line
