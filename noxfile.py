"""Sessions: tests, stability (device x precision), stability_full, stability_diff, claims,
gate_calibration, data_checks, bench, bench_gate, lint, docs.

Every session runs in the current environment (venv_backend "none"): CI installs torch==2.13.0
and the package once, and no session downloads torch again.
`nox` alone runs what CI runs; CUDA sessions skip without a GPU unless REQUIRE_CUDA=1.
Every session but lint first checks that the seqsetvae it imports is this checkout's: an
editable install made from another clone or worktree would otherwise be what gets tested.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import nox

nox.options.default_venv_backend = "none"
nox.options.sessions = ["lint", "tests", "data_checks", "stability", "bench_gate", "docs"]
nox.options.error_on_missing_interpreters = True

MATRIX = [("cpu", "fp32"), ("cpu", "bf16"), ("cuda", "fp32"), ("cuda", "bf16"), ("cuda", "fp16")]


HERE = os.path.dirname(os.path.abspath(__file__))
_WHERE = "import os, seqsetvae; print(os.path.dirname(os.path.abspath(seqsetvae.__file__)))"


def _this_checkout(session) -> None:
    """Stop unless `import seqsetvae` (outside this folder's sys.path entry) finds this
    checkout's package."""
    found = session.run("python", "-P", "-c", _WHERE, silent=True, success_codes=[0, 1])
    found = ((found or "").strip().splitlines() or ["nothing"])[-1]
    expected = os.path.join(HERE, "seqsetvae")
    if not os.path.isdir(found):
        session.error(f"seqsetvae cannot be imported ({found}): run `pip install -e .` in {HERE}")
    if not os.path.samefile(found, expected):
        session.error(f"seqsetvae is imported from {found}, not from this checkout "
                      f"{expected}: run `pip install -e .` here")


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


@nox.session
def tests(session):
    """The unit tests, one worker process per core; each test file stays in one worker (its
    module fixtures are built once)."""
    _this_checkout(session)
    session.run("pytest", "tests", "-q", "-n", "auto", "--dist", "loadfile", *session.posargs)


@nox.session
@nox.parametrize(("device", "precision"), MATRIX, ids=[f"{d}-{p}" for d, p in MATRIX])
def stability(session, device, precision):
    _this_checkout(session)
    if device == "cuda" and not _cuda_available():
        if os.environ.get("REQUIRE_CUDA") == "1":
            session.error("REQUIRE_CUDA=1 but no CUDA GPU is visible")
        session.skip("no CUDA GPU visible (set REQUIRE_CUDA=1 to make this an error)")
    os.makedirs(".stability", exist_ok=True)  # per-cell figures and the kill matrix land here
    session.run("pytest", "stability_suite", "-q", "-p", "no:cacheprovider",
                f"--device={device}", f"--precision={precision}",
                f"--stability-report=.stability/{device}-{precision}.json",
                f"--kill-matrix=.stability/kill_matrix-{device}.md", *session.posargs)


@nox.session
def stability_full(session):
    """The suite at the full profile (true sizes and learning rates, 300 steps, 10 seeds), CPU
    fp32 unless told otherwise (``-- --device=cuda``): for a nightly or release run. Every
    finished run is kept in .stability/full/runs, so an interrupted session started again trains
    only the runs it lacks; SEQSETVAE_SCHEDULER=tcp://host:8786 (or ``-- --scheduler=ADDRESS``)
    sends the runs to a Dask cluster. Figures: .stability/full/report.json, kill matrix beside
    it. Not in the default list: hours on a 2-core machine (README, "Scale-out")."""
    _this_checkout(session)
    os.makedirs(".stability/full", exist_ok=True)
    session.run("pytest", "stability_suite", "-q", "-p", "no:cacheprovider", "--profile=full",
                "--device=cpu", "--precision=fp32", "--results=.stability/full/runs",
                "--progress", "--stability-report=.stability/full/report.json",
                "--kill-matrix=.stability/full/kill_matrix.md", *session.posargs)


@nox.session
def stability_diff(session):
    """Is the working tree less stable than REF? ``nox -s stability_diff -- REF`` (default main;
    more arguments go to `seqsetvae gate`): a paired A/B of the two code versions on the
    built-in synthetic data with the quick profile, seeds added in blocks while a statistic is
    undecided; fails when a gating statistic is worse (speed has its own verdict).
    Report: .stability/diff/report.md, written to be pasted as a pull-request comment.
    Not in the default list: it compares two versions, which CI decides per pull request."""
    _this_checkout(session)
    ref, *more = session.posargs or ["main"]
    with tempfile.TemporaryDirectory(prefix="stability-diff-") as tmp:
        data = os.path.join(tmp, "synthetic")
        session.run("python", "-m", "seqsetvae", "data", "synthetic", "--out", data)
        session.run("python", "-m", "seqsetvae", "gate", ref, "--data_dir", data,
                    "--ground_truth", "--profile", "quick", "--out", ".stability/diff",
                    "--fail_on_worse", "--no_progress", *more)


@nox.session
def claims(session):
    """The seed guide's claims one by one (`seqsetvae claims`) on the built-in synthetic and
    pbcseq data, quick profile unless told otherwise (``-- --profile full``; more arguments go
    to `seqsetvae claims`); then each ledger is held to its recorded verdicts and the planted
    controls to theirs (stability_suite/test_claims.py). Reports: .stability/claims/<data>/.
    Finished runs are kept in .stability/claims/runs, so a rerun trains only what it lacks. Not
    in the default list: CI checks the headline claims on the stability suite's own runs."""
    _this_checkout(session)
    root = ".stability/claims"
    with tempfile.TemporaryDirectory(prefix="claims-") as tmp:
        for name, data_flags, flags in (
                ("synthetic", ["--patients", "240", "--max-sets", "16"], ["--ground_truth"]),
                ("pbcseq", [], [])):
            data = os.path.join(tmp, name)
            session.run("python", "-m", "seqsetvae", "data", name, "--out", data, *data_flags)
            # exit 1 (a planted control not as planted) still writes the report; the check
            # below fails on it
            session.run("python", "-m", "seqsetvae", "claims", "--data_dir", data, "--out",
                        f"{root}/{name}", "--results", f"{root}/runs", *flags, *session.posargs,
                        success_codes=[0, 1])
    session.run("pytest", "stability_suite/test_claims.py", "-q", "-p", "no:cacheprovider",
                "-k", "ledger or planted", f"--claims-ledger={root}")


@nox.session
def gate_calibration(session):
    """The before-merge gate's two error rates, measured at `stability_diff`'s setting: false
    alarms on A/A comparisons of a neutral corpus, detection of a regression corpus, and the
    speed verdict's rates (over an hour on 2 cores; finished runs are kept in
    .stability/gate/runs, so an interrupted session resumes). Writes .stability/gate/ and the
    package's seqsetvae/stability/ab/gate_calibration.json, which reports quote. Not in the
    default list."""
    _this_checkout(session)
    os.makedirs(".stability/gate", exist_ok=True)
    session.run("pytest", "stability_suite/test_gate_calibration.py", "-q", "-p",
                "no:cacheprovider", "--gate-calibration=.stability/gate",
                "--results=.stability/gate/runs", "--progress", *session.posargs)


@nox.session
def data_checks(session):
    _this_checkout(session)
    session.run("pytest", "data_checks", "-q", *session.posargs)


@nox.session
def bench(session):
    """Full benchmarks; JSON lands in .benchmarks/bench.json."""
    _this_checkout(session)
    os.makedirs(".benchmarks", exist_ok=True)
    session.run("pytest", "benchmarks", "--benchmark-json=.benchmarks/bench.json",
                "--benchmark-columns=min,median,max,rounds", *session.posargs)


@nox.session
def bench_gate(session):
    """The CI gate: a short benchmark run whose assertions are same-run ratios."""
    _this_checkout(session)
    session.run("pytest", "benchmarks", "-m", "gate", "-q", *session.posargs)


@nox.session
def lint(session):
    if shutil.which("ruff") is None:
        session.error("ruff is not installed: pip install -e '.[test]'")
    session.run("ruff", "check", ".")


@nox.session
def docs(session):
    """The documentation site (Sphinx, MyST): the reference pages are written from the code,
    every warning is an error (a broken link between pages, a missing anchor or image), and the
    committed results pages must match their JSON. HTML: docs/_build/html/index.html."""
    _this_checkout(session)
    session.run("python", "docs/generate_results.py", "--check")
    session.run("python", "-m", "sphinx", "-W", "--keep-going", "-n", "-q", "-b", "html",
                "-d", "docs/_build/doctrees", "docs", "docs/_build/html", *session.posargs)
