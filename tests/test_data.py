"""Data layer: readers, the original loader's known traps, collation, bucketing, built-ins."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from seqsetvae.cli import main
from seqsetvae.data import BucketBatchSampler, DataError, DataSource, DataWarning, collate
from seqsetvae.data.builtin import SyntheticSpec, generate_synthetic, pbcseq_events, write_synthetic

from .factories import random_packed


@pytest.fixture(scope="module")
def synthetic_dir(tmp_path_factory):
    return write_synthetic(tmp_path_factory.mktemp("d") / "syn", SyntheticSpec(patients=40, seed=3))


def a_patient_file(data_dir, split="train"):
    return sorted((data_dir / split).glob("*.parquet"))[0]


def copy_dataset(src, dst):
    import shutil

    shutil.copytree(src, dst)
    return dst


def test_layout_a_loads_every_split(synthetic_dir):
    src = DataSource.resolve(synthetic_dir)
    total = sum(len(src.load(split)) for split in ("train", "valid", "test"))
    assert total == 40


def test_layout_b_equals_layout_a(synthetic_dir, tmp_path):
    frames = []
    for split in ("train", "valid", "test"):
        for f in sorted((synthetic_dir / split).glob("*.parquet")):
            frames.append(pd.read_parquet(f).assign(patient_id=f.stem, split=split))
    pd.concat(frames).sample(frac=1.0, random_state=0).to_csv(tmp_path / "events.csv", index=False)
    a = DataSource.resolve(synthetic_dir).load("valid")
    b_src = DataSource.resolve(events=tmp_path / "events.csv",
                               params_map_path=synthetic_dir / "stats.csv",
                               label_path=synthetic_dir / "oc.csv")
    with pytest.warns(DataWarning, match="not sorted"):  # the table was shuffled on purpose
        b = b_src.load("valid")
    assert list(a.patient_ids) == list(b.patient_ids)
    np.testing.assert_array_equal(a.set_offsets, b.set_offsets)
    np.testing.assert_array_equal(a.event_offsets, b.event_offsets)
    np.testing.assert_allclose(a.set_times, b.set_times)
    # events inside a set may come in another order; compare each set as a sorted multiset
    for s in range(len(a.event_offsets) - 1):
        sl = slice(a.event_offsets[s], a.event_offsets[s + 1])
        assert sorted(zip(a.var_idx[sl], a.values[sl])) == sorted(zip(b.var_idx[sl], b.values[sl]))


def test_missing_label_is_an_error_naming_the_patient(synthetic_dir, tmp_path):
    d = copy_dataset(synthetic_dir, tmp_path / "d")
    victim = a_patient_file(d).stem
    oc = pd.read_csv(d / "oc.csv")
    oc[oc.ts_id != victim].to_csv(d / "oc.csv", index=False)
    with pytest.raises(DataError, match=f"no label: {victim}.*{victim}.parquet"):
        DataSource.resolve(d).load("train")


def test_non_binary_label_names_row_and_patient(synthetic_dir, tmp_path):
    d = copy_dataset(synthetic_dir, tmp_path / "d")
    oc = pd.read_csv(d / "oc.csv")
    oc.loc[3, "in_hospital_mortality"] = 2
    oc.to_csv(d / "oc.csv", index=False)
    with pytest.raises(DataError, match=rf"row 5 \(patient {oc.ts_id[3]}: 2\)"):
        DataSource.resolve(d).load("train")


def test_variable_missing_from_stats_is_an_error_naming_it(synthetic_dir, tmp_path):
    d = copy_dataset(synthetic_dir, tmp_path / "d")
    stats = pd.read_csv(d / "stats.csv")
    stats[stats.variable != "var03"].to_csv(d / "stats.csv", index=False)
    with pytest.raises(DataError, match="var03.*not in stats"):
        DataSource.resolve(d).load("train")
    with pytest.warns(DataWarning, match="var03.*dropped"):
        packed = DataSource.resolve(d).load("train", unknown_variables="drop")
    assert "var03" not in packed.variables


def test_zero_std_is_an_error_naming_the_variable(synthetic_dir, tmp_path):
    d = copy_dataset(synthetic_dir, tmp_path / "d")
    stats = pd.read_csv(d / "stats.csv")
    stats.loc[stats.variable == "var05", "std"] = 0.0
    stats.to_csv(d / "stats.csv", index=False)
    with pytest.raises(DataError, match="var05.*divide by zero"):
        DataSource.resolve(d).load("train")


def test_unsorted_rows_warn_with_the_file_and_still_group_sets_by_time(synthetic_dir, tmp_path):
    d = copy_dataset(synthetic_dir, tmp_path / "d")
    clean = DataSource.resolve(d).load("train")
    path = a_patient_file(d)
    pd.read_parquet(path).sample(frac=1.0, random_state=1).to_parquet(path)
    with pytest.warns(DataWarning, match=path.name):
        shuffled = DataSource.resolve(d).load("train")
    np.testing.assert_array_equal(clean.event_offsets, shuffled.event_offsets)
    np.testing.assert_array_equal(clean.set_times, shuffled.set_times)


def test_non_finite_value_names_the_file(synthetic_dir, tmp_path):
    d = copy_dataset(synthetic_dir, tmp_path / "d")
    path = a_patient_file(d)
    df = pd.read_parquet(path)
    df.loc[2, "value"] = np.inf
    df.to_parquet(path)
    with pytest.raises(DataError, match=f"{path.name}.*'value'"):
        DataSource.resolve(d).load("train")


def test_truncated_file_is_named(synthetic_dir, tmp_path):
    d = copy_dataset(synthetic_dir, tmp_path / "d")
    path = a_patient_file(d)
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(DataError, match=f"{path.name}: unreadable"):
        DataSource.resolve(d).load("train")


def test_set_index_defines_sets_when_present(tmp_path):
    from seqsetvae.data.io import EventTable
    from seqsetvae.data.packed import pack

    ev = pd.DataFrame({"patient_id": "a", "variable": ["x", "y", "x"], "value": [1.0, 2.0, 3.0],
                       "minute": [0.0, 5.0, 5.0], "set_index": [0, 0, 1]})
    stats = pd.DataFrame({"mean": [0.0, 0.0], "std": [1.0, 1.0]}, index=["x", "y"])
    packed = pack(EventTable(ev, {"a": "a.parquet"}, []), stats, pd.Series({"a": 1.0}))
    assert list(packed.event_offsets) == [0, 2, 3]


def test_patient_without_events_keeps_its_label_aligned(tmp_path):
    from seqsetvae.data.io import EventTable, _empty_events
    from seqsetvae.data.packed import pack

    ev = _empty_events()
    ev.loc[0] = ["b", "x", 1.0, 0.0]
    stats = pd.DataFrame({"mean": [0.0], "std": [1.0]}, index=["x"])
    packed = pack(EventTable(ev, {"a": "a.parquet", "b": "b.parquet"}, ["a"]), stats,
                  pd.Series({"a": 1.0, "b": 0.0}))
    batch = collate(packed, [0, 1])
    assert batch.labels.tolist() == [1.0, 0.0]
    assert batch.set_mask.sum(1).tolist() == [0, 1]


def test_collate_matches_a_naive_loop():
    data = random_packed(7, max_sets=6, max_events=5, seed=2)
    idx = [5, 0, 3]
    batch = collate(data, idx)
    for b, p in enumerate(idx):
        sets = range(data.set_offsets[p], data.set_offsets[p + 1])
        assert int(batch.set_mask[b].sum()) == len(sets)
        for s, set_id in enumerate(sets):
            ev = slice(data.event_offsets[set_id], data.event_offsets[set_id + 1])
            n = ev.stop - ev.start
            assert batch.var_idx[b, s, :n].tolist() == data.var_idx[ev].tolist()
            assert torch.equal(batch.values[b, s, :n], torch.from_numpy(data.values[ev]))
            assert batch.event_mask[b, s].sum() == n
            elapsed = data.set_times[set_id] - data.set_times[sets[0]]
            assert batch.times[b, s] == pytest.approx(elapsed)
        assert batch.labels[b] == data.labels[p]


def test_collate_max_sets_keeps_the_latest():
    data = random_packed(2, max_sets=8, max_events=3, seed=4, min_sets=8)
    full, cut = collate(data, [0]), collate(data, [0], max_sets=3)
    assert cut.var_idx.shape[1] == 3
    assert torch.equal(cut.var_idx[0, :, : full.var_idx.shape[2]][:, : cut.var_idx.shape[2]],
                       full.var_idx[0, 5:, : cut.var_idx.shape[2]])


def test_bucketing_covers_every_patient_once_and_cuts_padding():
    lengths = np.random.default_rng(0).integers(1, 100, 400)
    sampler = BucketBatchSampler(lengths, batch_size=8, seed=1)
    batches = list(sampler)
    assert sorted(np.concatenate(batches).tolist()) == list(range(400))
    padded = sum(len(b) * lengths[b].max() for b in batches)
    naive = sum(len(b) * lengths[b].max() for b in np.array_split(np.arange(400), 50))
    assert padded < 0.7 * naive
    sampler.set_epoch(1)
    assert [b.tolist() for b in sampler] != [b.tolist() for b in batches]
    shards = [list(BucketBatchSampler(lengths, 8, seed=1, rank=r, world_size=2)) for r in (0, 1)]
    assert len(shards[0]) == len(shards[1])
    assert not set(np.concatenate(shards[0])) & set(np.concatenate(shards[1]))


def test_synthetic_labels_depend_on_the_sets_over_time():
    """The ground truth: end-of-stay marker level predicts the label, set count does not."""
    from scipy.stats import mannwhitneyu

    events, labels = generate_synthetic(SyntheticSpec(patients=200, seed=5))
    late_marker, length = [], []
    for df in events.values():
        last = df[df.minute >= df.minute.quantile(0.7)]
        late_marker.append(last[last.variable < "var04"].value.mean())
        length.append(df.minute.nunique())
    late_marker, length, y = np.array(late_marker), np.array(length), labels.to_numpy()
    auc_marker = mannwhitneyu(late_marker[y == 1], late_marker[y == 0]).statistic / (
        (y == 1).sum() * (y == 0).sum())
    auc_length = mannwhitneyu(length[y == 1], length[y == 0]).statistic / (
        (y == 1).sum() * (y == 0).sum())
    assert abs(auc_marker - 0.5) > 0.2
    assert abs(auc_length - 0.5) < 0.15
    assert 0.2 < y.mean() < 0.6


def test_pbcseq_importer_gives_312_labelled_patients_with_both_classes_per_split(tmp_path):
    assert main(["data", "pbcseq", "--out", str(tmp_path / "pbc")]) == 0
    src = DataSource.resolve(tmp_path / "pbc")
    total = 0
    for split in ("train", "valid", "test"):
        packed = src.load(split)
        total += len(packed)
        assert set(np.unique(packed.labels)) == {0.0, 1.0}, split
    assert total == 312
    events, labels = pbcseq_events()
    assert sum(len(df.minute.unique()) for df in events.values()) == 1945
    assert len(packed.variables) == 14


def test_data_cli_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "syn"
    assert main(["data", "synthetic", "--out", str(out), "--patients", "10"]) == 0
    assert main(["data", "synthetic", "--out", str(out), "--patients", "10"]) == 2
    assert "not empty" in capsys.readouterr().err
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".syn")]


@pytest.mark.parametrize("rows, problem", [
    ({"Key": ["a", "a"], "e0": [1.0, 2.0]}, "several embedding rows: ['a']"),
    ({"Key": ["a", "b"], "e0": [1.0, "x"]}, "must be finite floats"),
])
def test_the_loader_refuses_embeddings_the_validator_calls_errors(tmp_path, rows, problem):
    from seqsetvae.data.io import read_embeddings

    pd.DataFrame(rows).to_csv(tmp_path / "cached.csv", index=False)
    with pytest.raises(DataError, match=f"cached.csv: .*{problem}".replace("[", r"\[")):
        read_embeddings(tmp_path / "cached.csv")


def test_embeddings_are_read_by_variable_name(tmp_path):
    from seqsetvae.data.io import read_embeddings

    pd.DataFrame({"Key": ["b", "a"], "e0": [1.0, 2.0]}).to_csv(tmp_path / "cached.csv",
                                                              index=False)
    table = read_embeddings(tmp_path / "cached.csv")
    assert table.loc[["a", "b"], "e0"].tolist() == [2.0, 1.0]


@pytest.mark.parametrize("bad", [1.5, "abc"])
def test_the_loader_refuses_a_set_index_that_is_not_a_whole_number(synthetic_dir, tmp_path, bad):
    """The validator's schema check calls it an error; the loader used to take 1.5 as a key of
    its own and read text as a missing key (minute grouping)."""
    from seqsetvae.validation import validate_dataset

    frames = [pd.read_parquet(f).assign(patient_id=f.stem, split="train")
              for f in sorted((synthetic_dir / "train").glob("*.parquet"))[:3]]
    events = pd.concat(frames, ignore_index=True)
    events["set_index"] = (events["minute"] // 60).astype(int).astype(object)
    events.loc[4, "set_index"] = bad
    events.to_csv(tmp_path / "events.csv", index=False)
    source = DataSource.resolve(events=tmp_path / "events.csv",
                                params_map_path=synthetic_dir / "stats.csv",
                                label_path=synthetic_dir / "oc.csv")
    pid = events.loc[4, "patient_id"]
    with pytest.raises(DataError, match=rf"events.csv \(patient {pid}\): column 'set_index' .*"
                                        rf"not whole numbers, first {bad!r}.*table rows 4$"):
        source.load("train")
    schema = validate_dataset(source, splits=("train",), checks=["schema"]).errors
    assert any("'set_index' must be an integer" in f.message for f in schema)
