"""The guide's claims, recorded: a change that flips a claim's verdict fails with the numbers.

CI checks the headline claims (1-3, optimized vs baseline: claims.headline_ledger) on the suite's
own runs, one family over the profile's seeds, in fp32. The whole ledger runs in `nox -s claims`
(`seqsetvae claims` on both built-in datasets, then this module with ``--claims-ledger DIR``),
which also holds the planted controls to their planted verdicts. ``--update-claims`` records
the verdicts measured now and prints what changed, as ``--update-golden`` does for golden values.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from stability_support import MAIN_CONFIGS, has_ground_truth

from seqsetvae.fileio import write_json
from seqsetvae.stability.claims import (
    CONTROLS,
    control_holds,
    flips,
    headline_ledger,
    recorded_form,
    selection_name,
)
from seqsetvae.stability.statistics import measurements

RECORD = Path(__file__).with_name("recorded_claims.json")
# Verdicts at the edge of their thresholds (a within-minimal-effect call at 6 seeds) moved with
# the CPU's bf16 rounding (AVX2 against AVX512-BF16 kernels, same seeds and code) while every
# fp32 verdict stayed put: a recorded verdict must change only when the code does.
RECORDED_PRECISION_ONLY = ("claim verdicts are recorded in fp32; in mixed precision they move "
                           "with the CPU's rounding kernels (the suite's other properties still "
                           "hold in bf16)")


def record_key(settings, dataset: str) -> str:
    return f"{settings['profile'].name}/{dataset}/{settings['precision']}"


def held_to_record(pytestconfig, section: str, key: str, rows: list[dict], record_figure):
    record = json.loads(RECORD.read_text()) if RECORD.exists() else {}
    recorded = record.get(section, {}).get(key)
    for r in rows:
        record_figure(f"claims/{section}/{key}", f"{r['comparison']} {r['label']}",
                      r["ledger"] + (f" ({r['why']})" if r.get("why") else ""))
    if pytestconfig.getoption("--update-claims"):
        changed = flips(recorded or {}, rows)
        record.setdefault(section, {})[key] = recorded_form(rows)
        write_json(RECORD, record)
        print(f"recorded {section} {key}:" + "".join(f"\n  {c}" for c in changed))
        return
    if recorded is None:
        pytest.skip(f"no recorded {section} verdicts for {key}: record them with "
                    "--update-claims")
    changed = flips(recorded, rows)
    assert not changed, (f"{len(changed)} claim verdict(s) changed ({section}, {key}); if the "
                         "change is meant, record it with --update-claims:\n  "
                         + "\n  ".join(changed))


def test_headline_claims_keep_their_recorded_verdicts(dataset, runs, settings, pytestconfig,
                                                      record_figure):
    if settings["precision"] != "fp32":
        pytest.skip(RECORDED_PRECISION_ONLY)
    profile = settings["profile"]
    optimized, baseline = ([measurements(t, profile) for t in runs(dataset, name)]
                           for name in MAIN_CONFIGS)
    ledger = headline_ledger(optimized, baseline, has_ground_truth(dataset))
    held_to_record(pytestconfig, "headline", record_key(settings, dataset), ledger["rows"],
                   record_figure)


@pytest.fixture
def ledger_summary(pytestconfig, dataset):
    folder = pytestconfig.getoption("--claims-ledger")
    if folder is None:
        pytest.skip("the whole ledger runs in `nox -s claims` (--claims-ledger DIR)")
    path = Path(folder) / dataset / "summary.json"
    if not path.is_file():
        pytest.fail(f"{path}: no ledger here; run `seqsetvae claims --out {path.parent}` first")
    return json.loads(path.read_text())


def test_the_ledger_keeps_its_recorded_verdicts(ledger_summary, settings, dataset, pytestconfig,
                                               record_figure):
    key = f"{ledger_summary['profile']}/{dataset}/{ledger_summary['precision']}"
    if part := selection_name(ledger_summary.get("selection")):
        key += f"/{part}"
    held_to_record(pytestconfig, "ledger", key, ledger_summary["claims"]["rows"], record_figure)


def test_the_planted_controls_come_out_as_planted(ledger_summary):
    if ledger_summary["controls"] is None:
        pytest.skip("this ledger was judged without its planted controls (--no_controls)")
    rows = ledger_summary["controls"]["rows"]
    wrong = {c.id: [r["ledger"] for r in rows if r["claim"] == c.id] for c in CONTROLS
             if not control_holds(c, rows)}
    assert not wrong, f"planted claims not as planted (expected {[c.expect for c in CONTROLS]})" \
                      f": {wrong}"
