"""`seqsetvae gate REF`: the A/B of two code versions flags changes that make training worse,
reports a change that does not touch the numerics as exactly identical, and refuses what it
cannot compare in one line.

The A/B tests build throwaway commits in a temporary clone of this repository: its base commit
holds this checkout's package as it is (committed or not), the candidate edit is committed on
top, and the CLI runs from inside the clone, so the clone's code is the working tree and the
base commit is REF.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import seqsetvae
from seqsetvae.cli import main
from seqsetvae.data.builtin import SyntheticSpec, write_synthetic
from seqsetvae.stability.ab import revision

REPO = Path(seqsetvae.__file__).resolve().parents[1]
# blocks of five seeds up to ten; three short timed rounds keep the speed verdict cheap
AB = ["--configs", "baseline", "--seeds", "5", "--max_seeds", "10", "--steps", "12",
      "--timed_rounds", "3", "--timed_steps", "2", "--no_progress"]
NUMERIC = "numerically identical to REF"

pytestmark = pytest.mark.skipif(shutil.which("git") is None or not (REPO / ".git").exists(),
                                reason="needs git and a git checkout of this repository")


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout.strip()


def commit_all(repo: Path, message: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--allow-empty", "-m", message)


def edit(repo: Path, path: str, old: str, new: str) -> None:
    file = repo / path
    text = file.read_text()
    assert old in text, f"{path} no longer holds {old!r}: update the test's edit"
    file.write_text(text.replace(old, new, 1))


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> Path:
    return write_synthetic(tmp_path_factory.mktemp("ab") / "syn",
                           SyntheticSpec(patients=80, max_sets=12))


@pytest.fixture(scope="module")
def base_repo(tmp_path_factory) -> Path:
    repo = tmp_path_factory.mktemp("ab-base") / "repo"
    git(REPO.parent, "clone", "--quiet", str(REPO), str(repo))
    git(repo, "config", "user.name", "ab test")
    git(repo, "config", "user.email", "ab-test@example.invalid")
    shutil.rmtree(repo / "seqsetvae")
    shutil.copytree(REPO / "seqsetvae", repo / "seqsetvae",
                    ignore=shutil.ignore_patterns("__pycache__"))
    commit_all(repo, "base: the package under test")
    return repo


@pytest.fixture
def clone(base_repo, tmp_path) -> Path:
    repo = tmp_path / "repo"
    git(tmp_path, "clone", "--quiet", str(base_repo), str(repo))
    git(repo, "config", "user.name", "ab test")
    git(repo, "config", "user.email", "ab-test@example.invalid")
    return repo


def gate_in(repo: Path, *args) -> subprocess.CompletedProcess:
    """The CLI run from inside ``repo`` with ``repo``'s package on the path."""
    env = {**os.environ, "PYTHONPATH": str(repo)}
    return subprocess.run([sys.executable, "-m", "seqsetvae", "gate", *map(str, args)],
                          cwd=repo, env=env, capture_output=True, text=True, timeout=600)


def ab(repo: Path, data: Path, out: Path, worse: bool, ref: str = "HEAD~1") -> dict:
    """One A/B. ``worse``: the change is expected to be worse, and --fail_on_worse must then
    exit 1 (the speed verdict, a timing, is not asserted on: --fail_on_slower is not given)."""
    flags = ["--fail_on_worse"] if worse else []
    proc = gate_in(repo, ref, "--data_dir", data, "--out", out, *flags, *AB)
    assert proc.returncode == (1 if worse else 0), proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    # the temporary checkout of REF is gone, and the user's checkout has no other worktree
    assert len(git(repo, "worktree", "list").splitlines()) == 1
    summary = json.loads((out / "summary.json").read_text())
    summary["stdout"] = proc.stdout
    return summary


def statistics(summary: dict) -> dict[str, dict]:
    return {s["key"]: s for s in summary["configs"]["baseline"]["statistics"]}


# -- A/B runs: worse, worse, identical ------------------------------------------------------------
@pytest.mark.slow
def test_a_comment_only_change_is_numerically_identical_even_uncommitted(clone, synthetic,
                                                                         tmp_path):
    comment = "\n# a comment only: the numerics are untouched\n"
    edit(clone, "seqsetvae/train/trainer.py", "\nclass ", comment + "\nclass ")
    commit_all(clone, "comment only")
    # a second comment left uncommitted: the working tree is compared as it is, and says so
    edit(clone, "seqsetvae/model/losses.py", "\ndef ", comment + "\ndef ")
    out = tmp_path / "identical"
    summary = ab(clone, synthetic, out, worse=False)
    assert summary["numerically_identical"] is True
    for s in statistics(summary).values():
        assert s["verdict"] == "identical", s["label"]
        assert s["candidate_values"] == s["reference_values"], s["label"]
    # identical on the first block: no more seeds are run
    assert summary["gate"]["seeds_used"] == 5
    report = (out / "report.md").read_text()
    assert summary["speed"]["rounds"] == 3 and "**Speed**" in report
    assert NUMERIC in report and NUMERIC in summary["stdout"]
    assert summary["working_tree"]["uncommitted"] == ["seqsetvae/model/losses.py"]
    assert "uncommitted changes" in summary["stdout"] and "uncommitted changes" in report
    assert report.startswith("## Stability A/B: working tree vs `HEAD~1`")
    for png in ("ab_statistics_baseline.png", "loss_curves_baseline.png",
                "grad_norms_baseline.png"):
        assert (out / png).stat().st_size > 0


@pytest.mark.slow
def test_raising_the_kl_weight_is_worse(clone, synthetic, tmp_path):
    edit(clone, "seqsetvae/config.py", '"baseline": {},', '"baseline": {"beta": 5.0},')
    commit_all(clone, "raise the KL weight of the baseline preset")
    summary = ab(clone, synthetic, tmp_path / "kl", worse=True)
    stats = statistics(summary)
    # the posterior collapses towards the prior, and a clear regression stops at the first
    # block: statistics not yet decided then say so
    collapse = {"kl_per_dim", "active_fraction", "shuffle_gap"}
    assert {k for k, s in stats.items() if s["verdict"] == "worse"} & collapse
    assert summary["gate"]["seeds_used"] == 5 and summary["seeds"] == list(range(5))
    assert any(s["verdict"].startswith("undecided") for s in stats.values())
    assert not summary["numerically_identical"]
    assert {"field": "beta", "ref": 0.1, "tree": 5.0} \
        in summary["configs"]["baseline"]["config_changes"]
    report = (tmp_path / "kl" / "report.md").read_text()
    # a pull-request comment: the verdict and the short table come before the details
    assert report.index("**Worse than `HEAD~1`**") < report.index("| KL per dim |") \
        < report.index("### Setup")
    assert "WORSE than HEAD~1" in summary["stdout"]


@pytest.mark.slow
def test_loosening_the_clip_is_worse(clone, synthetic, tmp_path):
    edit(clone, "seqsetvae/config.py", '"baseline": {},',
         '"baseline": {"gradient_clip_val": 1.0},')
    commit_all(clone, "loosen the clip of the baseline preset")
    summary = ab(clone, synthetic, tmp_path / "clip", worse=True)
    stats = statistics(summary)
    assert stats["max_applied_norm"]["verdict"] == "worse"
    assert "largest applied gradient norm" in summary["worse"]
    # the same change clips fewer steps: reported, and it does not cancel the verdict
    assert stats["clipped_fraction"]["verdict"] == "better"


@pytest.mark.slow
def test_a_noise_stream_change_is_not_worse(clone, synthetic, tmp_path):
    """A refactor that derives the dropout and sampling seeds another way changes every number
    of every run, but not the distribution of training: the gate must let it through."""
    edit(clone, "seqsetvae/train/trainer.py", "generate_state(1)[0])",
         "generate_state(2)[1])")
    commit_all(clone, "another noise stream")
    summary = ab(clone, synthetic, tmp_path / "stream", worse=False)
    assert not summary["worse"] and not summary["numerically_identical"]
    assert any(s["verdict"] != "identical" for s in statistics(summary).values())


@pytest.mark.slow
def test_a_gate_with_a_results_folder_trains_nothing_the_second_time(clone, synthetic,
                                                                     tmp_path):
    """Both sides' runs go through the pool and its results folder: the same gate again reads
    every run back (no file rewritten: a retrained run has other seconds) and says the same."""
    edit(clone, "seqsetvae/train/trainer.py", "\nclass ", "\n# a comment only\n\nclass ")
    commit_all(clone, "comment only")
    results = tmp_path / "runs"
    quick = ["--configs", "baseline", "--seeds", "2", "--max_seeds", "2", "--steps", "12",
             "--timed_rounds", "0", "--results", results]
    outs = []
    for n in (1, 2):
        out = tmp_path / f"out{n}"
        proc = gate_in(clone, "HEAD~1", "--data_dir", synthetic, "--out", out, *quick)
        assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
        if n == 1:
            files = {f.name: (f.stat().st_mtime_ns, f.read_bytes())
                     for f in results.glob("*.json")}
            assert len(files) == 4  # 2 seeds of one config on each side
        outs.append((proc, (out / "summary.json").read_text()))
    assert {f.name: (f.stat().st_mtime_ns, f.read_bytes())
            for f in results.glob("*.json")} == files
    (first, first_summary), (second, second_summary) = outs
    assert "4 read from results" in second.stderr  # the pool's progress bar
    assert second_summary == first_summary.replace("out1", "out2")
    assert second.stdout == first.stdout.replace("out1", "out2")
    assert NUMERIC in second.stdout


# -- what it refuses, before any training ---------------------------------------------------------
def run_main(capsys, *args, command="gate") -> tuple[int, str]:
    code = main([command, *map(str, args)])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err.strip()


def test_unknown_ref_is_one_line_and_exit_2(capsys, tmp_path):
    code, err = run_main(capsys, "no-such-revision", "--data_dir", tmp_path,
                         "--out", tmp_path / "out")
    assert code == 2 and len(err.splitlines()) == 1
    assert "unknown revision 'no-such-revision'" in err
    assert not (tmp_path / "out").exists()


def test_a_ref_without_the_entry_point_is_named(clone, tmp_path):
    # history of its own, so a shallow checkout of this repository tests the same thing
    git(clone, "rm", "-q", "seqsetvae/stability/ab/worker.py")
    commit_all(clone, "a REF from before the gate")
    git(clone, "checkout", "-q", "HEAD~1", "--", "seqsetvae/stability/ab/worker.py")
    commit_all(clone, "the gate")
    old = git(clone, "rev-parse", "HEAD~1")
    proc = gate_in(clone, "HEAD~1", "--data_dir", tmp_path, "--out", tmp_path / "out")
    err = proc.stderr.strip()
    assert proc.returncode == 2 and "Traceback" not in err and len(err.splitlines()) == 1
    assert f"HEAD~1 ({old[:10]}) has no seqsetvae/stability/ab/worker.py" in err
    assert "predates" in err and not (tmp_path / "out").exists()


def test_a_ref_in_the_layout_before_the_ab_subpackage_runs_its_old_entry_point(tmp_path):
    old = tmp_path / "old"
    (old / "seqsetvae/stability").mkdir(parents=True)
    (old / "seqsetvae/stability/abrun.py").write_text("")
    assert revision.entry_module(old) == "seqsetvae.stability.abrun"
    assert revision.entry_module(old, revision.TIMING_POINTS) is None  # no speed verdict then
    assert revision.entry_module(old, revision.SERVING_POINTS) is None  # a process per run
    assert revision.entry_module(REPO) == "seqsetvae.stability.ab.worker"
    assert revision.entry_module(REPO, revision.TIMING_POINTS) == \
        "seqsetvae.stability.ab.timing_worker"
    assert revision.entry_module(REPO, revision.SERVING_POINTS) == \
        "seqsetvae.stability.ab.serving_worker"


def test_without_git_is_one_line(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no git on it
    code, err = run_main(capsys, "HEAD", "--data_dir", tmp_path, "--out", tmp_path / "out")
    assert code == 2 and len(err.splitlines()) == 1 and "git is not installed" in err


def test_outside_a_git_repository_is_one_line(tmp_path):
    shutil.copytree(REPO / "seqsetvae", tmp_path / "seqsetvae",
                    ignore=shutil.ignore_patterns("__pycache__"))
    proc = gate_in(tmp_path, "HEAD", "--data_dir", tmp_path, "--out", tmp_path / "out")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert f"{tmp_path} is not a git repository" in proc.stderr


def test_the_old_spelling_names_the_new_command(capsys, tmp_path):
    code, err = run_main(capsys, "--against", "HEAD", "--data_dir", tmp_path, "--out",
                         tmp_path / "out", command="compare")
    assert code == 2 and len(err.splitlines()) == 1 and "seqsetvae gate HEAD" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_a_ref_whose_worker_crashes_is_named_and_its_checkout_removed(clone, synthetic,
                                                                      tmp_path):
    # in the code both workers run, so the crash is REF's whichever of them the pool starts
    serve = "\ndef serve(request: dict, out, split=None) -> None:\n"
    edit(clone, "seqsetvae/stability/ab/worker.py", serve,
         serve + "    raise RuntimeError('REF cannot train')\n")
    commit_all(clone, "a REF whose worker crashes")
    edit(clone, "seqsetvae/stability/ab/worker.py", "    raise RuntimeError('REF cannot train')\n",
         "")
    commit_all(clone, "fixed")
    proc = gate_in(clone, "HEAD~1", "--data_dir", synthetic, "--out", tmp_path / "out", *AB)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("seqsetvae gate: error: HEAD~1 (")
    assert "its worker failed" in last and "RuntimeError: REF cannot train" in last
    assert (tmp_path / "out" / "worker-ref.log").is_file()
    # the working tree's worker was stopped for REF's failure: not a failure of its own
    assert not (tmp_path / "out" / "worker-working_tree.log").exists()
    assert len(git(clone, "worktree", "list").splitlines()) == 1


# -- the git plumbing -----------------------------------------------------------------------------
@pytest.fixture
def tiny_repo(tmp_path) -> Path:
    repo = tmp_path / "tiny"
    repo.mkdir()
    git(repo, "init", "-q")
    git(repo, "config", "user.name", "ab test")
    git(repo, "config", "user.email", "ab-test@example.invalid")
    (repo / "a.txt").write_text("a\n")
    commit_all(repo, "one")
    return repo


@pytest.mark.parametrize("exc", [RuntimeError, KeyboardInterrupt])
def test_the_checkout_of_ref_is_removed_after_an_error_or_an_interrupt(tiny_repo, exc):
    commit = revision.resolve(tiny_repo, "HEAD")
    with pytest.raises(exc):
        with revision.checkout(tiny_repo, commit) as tree:
            assert (tree / "a.txt").read_text() == "a\n"
            raise exc
    assert not tree.parent.exists()
    assert len(git(tiny_repo, "worktree", "list").splitlines()) == 1


def test_uncommitted_lists_changed_and_untracked_paths(tiny_repo):
    assert revision.uncommitted(tiny_repo) == []
    (tiny_repo / "a.txt").write_text("changed\n")
    (tiny_repo / "new.txt").write_text("new\n")
    assert sorted(revision.uncommitted(tiny_repo)) == ["a.txt", "new.txt"]
