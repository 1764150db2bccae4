"""The dataset validator: one corrupted dataset per check (right severity, right location),
random corruption never raises, clean data passes, and the check-data exit codes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seqsetvae.cli import main
from seqsetvae.data import DataError, DataSource
from seqsetvae.data.builtin import SyntheticSpec, write_pbcseq, write_synthetic
from seqsetvae.validation.validate import CHECK_DOCS, CHECKS, validate_dataset

from . import corrupt_datasets as cd

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> Path:
    return write_synthetic(tmp_path_factory.mktemp("v") / "clean",
                           SyntheticSpec(patients=40, seed=2, max_sets=8))


@pytest.fixture
def root(clean, tmp_path) -> Path:
    return Path(shutil.copytree(clean, tmp_path / "data"))


def check(root_or_source, name, **kw):
    src = root_or_source if isinstance(root_or_source, DataSource) else DataSource.resolve(
        root_or_source)
    return validate_dataset(src, checks=[name], **kw).of(name)


def hit(findings, severity, *where):
    """The first finding of ``severity`` whose location or message names every ``where``."""
    for f in findings:
        text = f"{f.location} {f.message}"
        if f.severity == severity and all(str(w) in text for w in where):
            return f
    raise AssertionError(f"no {severity} naming {where} in {findings}")


# -- clean data ----------------------------------------------------------------------------------
def test_clean_synthetic_has_no_findings(clean):
    report = validate_dataset(DataSource.resolve(clean))
    assert report.ok, report.errors
    assert report.checks == list(CHECKS)
    s = report.summary
    assert sum(v["patients"] for v in s["splits"].values()) == 40
    assert s["set_size"]["max"] <= 12 and s["sequence_length"]["max"] <= 8


def test_pbcseq_has_no_errors(tmp_path):
    report = validate_dataset(DataSource.resolve(write_pbcseq(tmp_path / "pbc")))
    assert report.ok, report.errors
    assert report.summary["patients"] == 312


def test_layout_b_clean_and_report_json(clean, tmp_path):
    events = cd.to_layout_b(clean, tmp_path / "b")
    report = validate_dataset(DataSource.resolve(events=events))
    assert report.ok, report.errors
    out = report.to_json(tmp_path / "r" / "report.json")
    data = json.loads(out.read_text())
    assert data["ok"] and data["summary"]["layout"] == "B"
    assert not list(out.parent.glob(".*"))  # no temp file left behind


# -- one corruption per check --------------------------------------------------------------------
def test_unreadable_file(root):
    f = cd.truncate(root)
    assert hit(check(root, "files_readable"), "error", f).location == str(f)


def test_missing_split_dir(root):
    shutil.rmtree(root / "test")
    hit(check(root, "files_readable"), "error", root / "test")


def test_schema_string_value_names_row(root):
    f = cd.string_values(root)
    hit(check(root, "schema"), "error", f, "row", "2", "'value'", "high")


def test_schema_missing_column(root):
    f = cd.drop_minute(root)
    hit(check(root, "schema"), "error", f, "'minute'")


def test_schema_stats_and_labels(root):
    cd.edit_csv(root / "stats.csv", lambda s: s.drop(columns="std"))
    cd.edit_csv(root / "oc.csv", lambda s: s.rename(columns={cd.LABEL: "y"}))
    found = check(root, "schema")
    hit(found, "error", root / "stats.csv", "'std'")
    hit(found, "error", root / "oc.csv", cd.LABEL)


def test_infinite_value(root):
    f = cd.inf_value(root)
    hit(check(root, "finite"), "error", f, "row 3", "'value'")


def test_nan_minute(root):
    f = cd.nan_minute(root)
    hit(check(root, "finite"), "error", f, "row 1", "'minute'")


def test_unsorted_rows(root):
    f = cd.reverse_rows(root)
    hit(check(root, "time_order"), "warning", f, f.stem)


def test_set_index_spanning_minutes(root):
    f = cd.set_index_two_minutes(root)
    hit(check(root, "set_grouping"), "error", f, f.stem, "set_index")


def test_set_index_on_some_rows_of_a_patient(root):
    f = cd.set_index_on_some_rows(root)
    hit(check(root, "set_grouping"), "error", f, f.stem, "set_index is missing on")
    with pytest.raises(DataError, match=f.stem):  # the loader refuses it too
        DataSource.resolve(root).load("train")


def test_set_index_in_some_files_only_groups_the_others_by_minute(root):
    with_index, without = cd.set_index_in_one_file(root)
    assert [f for f in check(root, "set_grouping") if f.severity == "error"] == []
    train = DataSource.resolve(root).load("train")
    for f in (with_index, without):
        sets = train.num_sets[list(train.patient_ids).index(f.stem)]
        assert sets == cd.read(f)["minute"].nunique(), f


def test_set_bounds(root):
    found = check(root, "set_bounds", max_set_size=2, min_sets=6)
    f = cd.patient_file(root)
    hit(found, "warning", "max_set_size=2")
    hit(found, "warning", "min_sets=6")
    assert any(f.stem in x.message for x in found)


def test_identical_duplicate(root):
    f = cd.duplicate_row(root)
    found = check(root, "duplicates")
    hit(found, "warning", f, "identical")
    assert len(found) == 1


def test_conflicting_duplicate(root):
    f = cd.conflicting_duplicate(root)
    hit(check(root, "duplicates"), "warning", f, "different values")


def test_variable_missing_from_stats(root):
    var = cd.drop_stats_variable(root)
    f = hit(check(root, "stats_coverage"), "error", f"variable {var}")
    assert cd.patient_file(root).stem in f.message  # names the patients


def test_zero_std(root):
    var = cd.zero_std(root)
    hit(check(root, "stats_std"), "error", f"variable {var}")


def test_non_binary_label(root):
    pid = cd.label_two(root)
    hit(check(root, "labels_binary"), "error", root / "oc.csv", "row 4", pid)


def test_two_labels_for_one_patient(root):
    pid = cd.duplicate_label(root)
    hit(check(root, "labels_unique"), "error", root / "oc.csv", f"patient {pid}")


def test_patient_without_label(root):
    pid, f = cd.delete_label(root)
    hit(check(root, "labels_missing"), "error", f"patient {pid}", f, "oc.csv")


def test_one_class_only(root):
    cd.one_class(root)
    hit(check(root, "label_classes"), "error", root / "oc.csv", "class 0")


def test_one_class_in_the_training_split_is_an_error_naming_it(root):
    cd.one_class_split(root, "train", 0)  # valid and test keep their labels
    found = check(root, "label_classes")
    hit(found, "error", "split train", "'train'", "class 0", "cannot be trained")
    assert [f.location for f in found if f.severity == "error"] == \
        [f"split train ({root / 'oc.csv'})"]


def test_one_class_training_split_fails_check_data_data_checks_and_train(root, tmp_path,
                                                                          capsys):
    cd.one_class_split(root, "train", 1)  # the dataset as a whole keeps both classes
    assert main(["check-data", "--data-dir", str(root)]) == 1
    out = capsys.readouterr().out
    assert "ERROR   label_classes" in out and "split 'train' has only class 1" in out
    suite = subprocess.run([sys.executable, "-m", "pytest", "data_checks", "--data-dir",
                            str(root), "-q", "-p", "no:cacheprovider"], cwd=REPO,
                           capture_output=True, text=True, timeout=600)
    assert suite.returncode == 1, suite.stdout
    assert "FAILED data_checks/test_checks.py::test_check[user-label_classes]" in suite.stdout
    assert "split 'train' has only class 1" in suite.stdout
    run = tmp_path / "run"
    assert main(["train", "--data-dir", str(root), "--max-steps", "1", "--out", str(run),
                 "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "label_classes" in err and "split 'train' has only class 1" in err
    assert "Traceback" not in err and not list(run.glob("**/*.pt"))


@pytest.mark.parametrize("split, consequence", [("valid", "validation reports NaN"),
                                                ("test", "cannot be measured")])
def test_one_class_in_another_split_is_a_warning_stating_the_consequence(root, split,
                                                                         consequence):
    cd.one_class_split(root, split, 1)
    found = check(root, "label_classes")
    hit(found, "warning", f"split {split}", "class 1", "AUROC", consequence)
    assert not [f for f in found if f.severity == "error"]


def test_prevalence_drift(root):
    cd.drift(root)
    f = hit(check(root, "prevalence_drift"), "warning", "split valid")
    assert "Fisher" in f.message or "chi-square" in f.message
    assert "p =" in f.message


def test_patient_in_two_splits(root):
    pid = cd.leak(root)
    f = hit(check(root, "leakage"), "error", f"patient {pid}", "train", "test")
    assert str(root / "train") in f.location and str(root / "test") in f.location


def test_empty_patient_file(root):
    f = cd.empty_file(root)
    hit(check(root, "empty_patients"), "warning", f, f.stem)


def test_embeddings_missing_variable_and_nan(root):
    path, gone = cd.embeddings(root, missing=True, nan_row=True)
    found = check(root, "embeddings")
    hit(found, "error", f"variable {gone}")
    hit(found, "error", path, "row 0")


def test_embeddings_with_a_text_column(root):
    path, _ = cd.embeddings(root, missing=False, text_column=True)
    hit(check(root, "embeddings"), "error", path, "column 'd2'", "'high'")
    with pytest.raises(DataError, match="finite"):  # what training would meet
        DataSource.resolve(root).embeddings()


def test_embeddings_clean_are_used(root):
    cd.embeddings(root, missing=False)
    assert check(root, "embeddings") == []
    assert check(root, "model_batch") == []


def test_model_batch_reports_the_loader_refusal(root):
    cd.drop_stats_variable(root)
    hit(check(root, "model_batch"), "error", "split train", "not in stats")


def test_model_batch_reports_outputs_outside_the_contract(root, monkeypatch):
    """Each problem of the shared output contract (model/contract.py) is an error finding."""
    from seqsetvae.model.seqsetvae import SeqSetVAE

    forward = SeqSetVAE.forward

    def broken(self, batch, *args, **kwargs):
        out = forward(self, batch, *args, **kwargs)
        out.recon_pred = out.recon_pred * float("nan")
        out.logits = out.logits[:-1]
        return out

    monkeypatch.setattr(SeqSetVAE, "forward", broken)
    found = check(root, "model_batch")
    hit(found, "error", "split train", "output recon_pred", "non-finite", "patients")
    hit(found, "error", "split train", "output logits: shape")


def test_layout_b_split_without_rows(clean, tmp_path):
    events = cd.to_layout_b(clean, tmp_path / "b")
    split = cd.drop_split_rows(events, "valid")
    found = check(DataSource.resolve(events=events), "files_readable")
    hit(found, "error", events, f"split '{split}' has no rows")


def test_layout_b_locations(clean, tmp_path):
    events = cd.to_layout_b(clean, tmp_path / "b")
    df = pd.read_parquet(events)
    df["value"] = df["value"].astype(str)
    df.loc[7, "value"] = "n/a"
    moved = df.loc[df["split"] == "train", "patient_id"].iloc[0]
    extra = df[df["patient_id"] == moved].assign(split="valid")
    pd.concat([df, extra], ignore_index=True).to_parquet(events, index=False)
    report = validate_dataset(DataSource.resolve(events=events))
    hit(report.of("schema"), "error", events, "row", "7", "n/a")
    hit(report.of("leakage"), "error", f"patient {moved}", "train", "valid")


# -- random corruption never raises --------------------------------------------------------------
OPS = ["drop_column", "nan", "inf", "string", "duplicate", "truncate", "delete_labels", "shuffle",
       "garbage_csv"]


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(st.sampled_from(OPS), min_size=1, max_size=3), seed=st.integers(0, 10**6),
       layout_b=st.booleans())
def test_random_corruption_gives_findings_not_exceptions(clean, ops, seed, layout_b):
    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(shutil.copytree(clean, Path(tmp) / "d"))
        events = cd.to_layout_b(root, Path(tmp) / "b") if layout_b else None
        for op in ops:
            target = events if layout_b else cd.patient_file(root, n=int(rng.integers(0, 5)))
            _corrupt(op, target, root if not layout_b else events.parent, rng)
        src = DataSource.resolve(events=events) if layout_b else DataSource.resolve(root)
        report = validate_dataset(src)
    assert report.checks == list(CHECKS)
    assert not [f for f in report.findings if "internal" in f.message], report.findings


def _corrupt(op, target: Path, root: Path, rng) -> None:
    if op == "truncate":
        data = target.read_bytes()
        target.write_bytes(data[: int(rng.integers(0, len(data)))])
        return
    if op == "delete_labels":
        cd.edit_csv(root / "oc.csv", lambda oc: oc.sample(frac=0.7, random_state=0))
        return
    if op == "garbage_csv":
        (root / "stats.csv").write_text("variable,mean\nx,1,2,3\n\"unclosed\n")
        return
    try:
        df = cd.read(target)
    except Exception:
        return  # already truncated
    i = int(rng.integers(0, max(len(df), 1)))
    col = str(rng.choice(["variable", "value", "minute"]))
    if op == "drop_column" and col in df.columns:
        df = df.drop(columns=col)
    elif op == "string" and col in df.columns and len(df):
        df[col] = df[col].astype(str)
        df.loc[df.index[i], col] = "??"
    elif op in ("nan", "inf") and col in df.columns and len(df):
        df.loc[df.index[i], col] = np.nan if op == "nan" or col == "variable" else -np.inf
    elif op == "duplicate":
        df = pd.concat([df, df.iloc[: i + 1]], ignore_index=True)
    elif op == "shuffle":
        df = df.sample(frac=1.0, random_state=i).reset_index(drop=True)
    df.to_parquet(target, index=False)


# -- command line --------------------------------------------------------------------------------
def test_cli_exit_codes(clean, root, tmp_path, capsys):
    assert main(["check-data", "--data_dir", str(clean)]) == 0
    cd.leak(root)
    out = tmp_path / "r.json"
    assert main(["check-data", "--data-dir", str(root), "--report", str(out)]) == 1
    text = capsys.readouterr().out
    assert "ERROR" in text and "leakage" in text and "patients" in text
    assert json.loads(out.read_text())["errors"] >= 1
    assert main(["check-data"]) == 2
    assert main(["check-data", "--data_dir", str(tmp_path / "nope")]) == 2
    assert main(["check-data", "--data_dir", str(clean), "--events", str(clean)]) == 2
    with pytest.raises(SystemExit) as exc:
        main(["check-data", "--no-such-flag"])
    assert exc.value.code == 2


def test_every_check_is_documented_in_the_check_data_help(capsys):
    assert list(CHECK_DOCS) == list(CHECKS)  # docs/reference/data-checks.md's table is this list
    with pytest.raises(SystemExit) as exc:
        main(["check-data", "--help"])
    assert exc.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for name, (what, severity) in CHECK_DOCS.items():
        assert f"{name} {what} [{severity}]" in text, name


def test_cli_layout_b_and_missing_labels(clean, tmp_path):
    events = cd.to_layout_b(clean, tmp_path / "b")
    assert main(["check-data", "--events", str(events)]) == 0
    (events.parent / "oc.csv").unlink()
    assert main(["check-data", "--events", str(events)]) == 1  # reported, not a crash


def test_ids_with_leading_zeros_match_their_labels(tmp_path):
    """The validator reads ids as text, like the loader: "007" must not become "7"."""
    import pandas as pd

    from seqsetvae.data import DataSource
    from seqsetvae.validation import validate_dataset

    ids = [f"00{k}" for k in range(1, 7)]  # numeric-looking ids with leading zeros
    for s, split in enumerate(("train", "valid", "test")):
        (tmp_path / split).mkdir()
        for i, pid in enumerate(ids[2 * s:2 * s + 2]):
            pd.DataFrame({"variable": ["a", "b"], "value": [1.0, 2.0 + i],
                          "minute": [0.0, 0.0]}).to_parquet(tmp_path / split / f"{pid}.parquet")
    pd.DataFrame({"variable": ["a", "b"], "mean": [1.0, 2.0], "std": [1.0, 1.0]}).to_csv(
        tmp_path / "stats.csv", index=False)
    pd.DataFrame({"ts_id": ids, "in_hospital_mortality": [0, 1] * 3}).to_csv(
        tmp_path / "oc.csv", index=False)
    report = validate_dataset(DataSource.resolve(tmp_path))
    assert not [f for f in report.errors if f.check == "labels_missing"], report.errors
