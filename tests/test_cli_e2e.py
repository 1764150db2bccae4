"""End to end through the real command line: data -> check -> train -> diagnose -> compare."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from .factories import small_flags

SMALL = small_flags(warmup_steps=2)


def cli(*args, check=True):
    proc = subprocess.run([sys.executable, "-m", "seqsetvae", *map(str, args)],
                          capture_output=True, text=True, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    cli("data", "synthetic", "--out", root / "syn", "--patients", 30, "--max-sets", 8)
    cli("data", "pbcseq", "--out", root / "pbc")
    return {"synthetic": root / "syn", "pbcseq": root / "pbc"}


@pytest.mark.parametrize("name", ["synthetic", "pbcseq"])
def test_train_then_diagnose(name, datasets, tmp_path):
    out = tmp_path / "run"
    # the seed guide's flags, spelled as in the guide
    # one full epoch, so the run validates once and writes best.pt
    cli("train", "--data_dir", datasets[name], "--params_map_path", datasets[name] / "stats.csv",
        "--label_path", datasets[name] / "oc.csv", "--batch_size", 4, "--max_epochs", 1,
        "--config", "optimized", *SMALL, "--out", out, "--no-progress")
    for f in ("config.json", "metrics.jsonl", "summary.json", "checkpoints/last.pt",
              "checkpoints/best.pt"):
        assert (out / f).is_file(), f
    summary = json.loads((out / "summary.json").read_text())
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert summary["steps"] >= 2 and len(lines) == summary["steps"]
    assert json.loads(lines[-1])["step"] == summary["steps"]
    assert 0.0 <= summary["final_validation"]["auroc"] <= 1.0
    proc = cli("diagnose", "--checkpoint", out / "checkpoints" / "last.pt",
               "--data_dir", datasets[name], "--json")
    report = json.loads(proc.stdout)
    assert report["gradients"]["global_norm"] > 0
    assert report["posterior"]["latent_dim"] == 8
    for finding in report["findings"]:
        assert "`" in finding["recommendation"]  # names a config field
    text = cli("diagnose", "--checkpoint", out / "checkpoints" / "last.pt",
               "--data_dir", datasets[name]).stdout
    assert "diagnostic report" in text


def test_resume_continues_from_the_last_checkpoint(datasets, tmp_path):
    args = ["train", "--data_dir", datasets["synthetic"], "--batch-size", 4, *SMALL,
            "--no-progress", "--checkpoint-every", 1]
    cli(*args, "--max-steps", 4, "--out", tmp_path / "full")
    cli(*args, "--max-steps", 2, "--out", tmp_path / "part")
    cli(*args, "--max-steps", 4, "--out", tmp_path / "part", "--resume")
    assert (tmp_path / "part" / "metrics.jsonl").read_text() == \
        (tmp_path / "full" / "metrics.jsonl").read_text()


def test_layout_b_table_trains_exactly_like_the_layout_a_directory(datasets, tmp_path):
    import pandas as pd

    src = datasets["synthetic"]
    frames = [pd.read_parquet(f).assign(patient_id=f.stem, split=split)
              for split in ("train", "valid", "test")
              for f in sorted((src / split).glob("*.parquet"))]
    table = tmp_path / "events.parquet"
    pd.concat(frames).to_parquet(table, index=False)
    args = ["--params_map_path", src / "stats.csv", "--label_path", src / "oc.csv",
            "--batch-size", 4, "--max-steps", 3, *SMALL, "--no-progress"]
    cli("train", "--data_dir", src, *args, "--out", tmp_path / "a")
    cli("train", "--events", table, *args, "--out", tmp_path / "b")
    assert (tmp_path / "a" / "metrics.jsonl").read_text() == \
        (tmp_path / "b" / "metrics.jsonl").read_text()
    both = cli("train", "--data_dir", src, "--events", table, "--out", tmp_path / "c",
               check=False)
    assert both.returncode != 0 and "exactly one of --data_dir" in both.stderr


def test_train_refuses_bad_data_with_a_located_message(datasets, tmp_path):
    import shutil

    import pandas as pd

    bad = tmp_path / "bad"
    shutil.copytree(datasets["synthetic"], bad)
    oc = pd.read_csv(bad / "oc.csv")
    victim = sorted((bad / "train").glob("*.parquet"))[0].stem
    oc[oc.ts_id != victim].to_csv(bad / "oc.csv", index=False)
    proc = cli("train", "--data_dir", bad, "--max-steps", 1, "--out", tmp_path / "r", check=False)
    assert proc.returncode != 0
    assert victim in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "r" / "checkpoints" / "last.pt").exists()


def test_compare_writes_report_plots_and_summary(datasets, tmp_path):
    out = tmp_path / "cmp"
    proc = cli("compare", "--data_dir", datasets["synthetic"], "--configs", "baseline",
               "optimized", "--seeds", 3, "--steps", 12, "--out", out, "--no-progress",
               "--matched_lr", "--workers", 1)
    assert "claim 'optimized has lower within-run noise than baseline'" in proc.stdout
    assert "claim 'optimized@lr=0.0025 has lower between-seed spread" in proc.stdout
    for f in ("report.md", "summary.json", "loss_curves.png", "grad_norms.png", "posterior.png",
              "noise_by_config.png"):
        assert (out / f).stat().st_size > 0, f
    summary = json.loads((out / "summary.json").read_text())
    comparison = summary["comparisons"][0]
    assert {"p_worse_adjusted", "p_better_adjusted", "ci_low", "ci_high", "effect", "verdict",
            "resolution", "claim"} <= set(comparison)
    assert summary["schema"] == 2 and summary["kind"] == "configs"
    # every statistic gets the engine's verdict per pair, in the gate's table
    pair = summary["pairs"][0]
    assert (pair["candidate"], pair["reference"]) == ("optimized", "baseline")
    assert len(pair["statistics"]) == 12 and all("verdict" in s for s in pair["statistics"])
    assert "| statistic | baseline | optimized | change |" in (out / "report.md").read_text()
    baseline = summary["configs"]["baseline"]
    assert len(baseline["runs"]) == 3
    # twelve steps on 30 patients teach nothing: the report must say so, not pass the run
    assert baseline["verdicts"]["learns"].startswith("VIOLATED")
    assert "| learns |" in (out / "report.md").read_text()
    assert f"Stability comparison on {datasets['synthetic']}" in (out / "report.md").read_text()
    short = cli("compare", "--data_dir", datasets["synthetic"], "--steps", 8, "--out",
                tmp_path / "short", check=False)
    assert short.returncode == 2 and "use at least 12" in short.stderr
    assert "Traceback" not in short.stderr and not (tmp_path / "short").exists()
