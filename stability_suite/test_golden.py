"""Property 5: regression against golden values (CPU fp32 only)."""

from __future__ import annotations

from pathlib import Path

import pytest

from seqsetvae.data import DataSource
from seqsetvae.data.builtin import SyntheticSpec, write_synthetic
from seqsetvae.stability.golden import (
    compare_golden,
    diff_lines,
    golden_run,
    load_golden,
    save_golden,
)

GOLDEN_DIR = Path(__file__).parent / "golden"


GOLDEN_DATA = SyntheticSpec(patients=160, max_sets=16, seed=0)  # fixed: the files depend on it


@pytest.fixture(scope="module")
def golden_data(settings, tmp_path_factory):
    if settings["device"] != "cpu" or settings["precision"] != "fp32":
        pytest.skip("golden values apply to CPU fp32; other settings assert the other properties")
    src = DataSource.resolve(write_synthetic(tmp_path_factory.mktemp("golden") / "syn",
                                             GOLDEN_DATA))
    return src.load("train", src.stats(), src.labels())


@pytest.mark.parametrize("preset", ["baseline", "optimized", "conservative"])
def test_matches_golden_values(preset, golden_data, pytestconfig):
    path = GOLDEN_DIR / f"{preset}.json"
    actual = golden_run(preset, golden_data)
    old = load_golden(path)
    if pytestconfig.getoption("--update-golden"):
        GOLDEN_DIR.mkdir(exist_ok=True)
        save_golden(path, actual)
        print("\n" + "\n".join(diff_lines(old, actual)))
        return
    assert old is not None, f"{path} missing: run `nox -s stability -- --update-golden`"
    problems = compare_golden(old, actual)
    assert not problems, "\n".join([f"{preset} drifted from {path}:", *problems])


def test_control_changed_numerics_are_flagged(golden_data):
    old = load_golden(GOLDEN_DIR / "optimized.json")
    if old is None:
        pytest.skip("no golden file yet")
    changed = golden_run("optimized", golden_data, lr=1.05e-5)  # a 5% LR change
    assert compare_golden(old, changed), "a 5% LR change went unnoticed"
