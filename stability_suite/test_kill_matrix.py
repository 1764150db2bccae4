"""The suite tested by its own corpus of injected faults (faults.py): each fault must be flagged
by at least one stability property, golden values left out. Runs on CPU/CUDA fp32 only: the
matrix is a property of the code, not of the precision."""

from __future__ import annotations

import datetime
import json
import platform

import pytest
import torch
from faults import FAULTS
from stability_support import has_ground_truth

from seqsetvae.stability.checks import Problem, check_names
from seqsetvae.stability.verdicts import RUN_PROPERTIES, findings_text, run_findings

KILL_DATASET, KILL_CONFIG, KILL_SEED = "synthetic", "baseline", 0  # baseline: its clip is active
MIN_KILL_FRACTION = 0.9
EXPECTED_MISSES: set[str] = set()  # a fault that starts to slip through fails the suite


@pytest.fixture(scope="module")
def matrix(settings, runs):
    if settings["precision"] != "fp32":
        pytest.skip("the kill matrix is measured in fp32")
    for fault in FAULTS:  # queue every fault run before waiting for any of them
        runs(KILL_DATASET, KILL_CONFIG, (KILL_SEED,), fault=fault.name, wait=False)
    return {f.name: run_findings(runs(KILL_DATASET, KILL_CONFIG, (KILL_SEED,), fault=f.name)[0],
                                 has_ground_truth(KILL_DATASET)) for f in FAULTS}


def checks_hit(findings: list[Problem]) -> str:
    """The contract checks that fired ('loss', 'sampling', ...), read from each problem's
    check."""
    return ", ".join(check_names(findings))


def render(matrix: dict) -> str:
    lines = ["| fault | class | " + " | ".join(RUN_PROPERTIES) + " |",
             "|---|---|" + "---|" * len(RUN_PROPERTIES)]
    for fault in FAULTS:
        row = matrix[fault.name]
        cells = [("**x**" + (f" ({checks_hit(row[p])})" if p == "contract" else ""))
                 if row[p] else "" for p in RUN_PROPERTIES]
        lines.append(f"| `{fault.name}` | {fault.kind} | " + " | ".join(cells) + " |")
    flagged = sum(any(row.values()) for row in matrix.values())
    lines += ["", f"{flagged}/{len(matrix)} faults flagged "
              f"({flagged / len(matrix):.0%}); missed: "
              f"{', '.join(n for n, r in matrix.items() if not any(r.values())) or 'none'}"]
    return "\n".join(lines) + "\n"


def test_the_reference_run_is_clean(runs):
    """The unfaulted run every fault is compared with passes every property."""
    trace = runs(KILL_DATASET, KILL_CONFIG, (KILL_SEED,))[0]
    assert not any(run_findings(trace, has_ground_truth(KILL_DATASET)).values())


@pytest.mark.parametrize("fault", [f.name for f in FAULTS])
def test_fault_is_flagged(fault, matrix, record_figure):
    hits = {p: f for p, f in matrix[fault].items() if f}
    record_figure("kill matrix", fault, ", ".join(
        f"{p} ({checks_hit(f)})" if p == "contract" else p for p, f in hits.items()) or "MISSED")
    if fault in EXPECTED_MISSES:
        assert not hits, f"{fault} is now flagged: remove it from EXPECTED_MISSES"
    else:
        assert hits, f"{fault} passed every stability property"


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            names = [line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")]
    except OSError:
        names = []
    return f"{names[0] if names else platform.processor() or platform.machine()}, " \
           f"{len(names) or '?'} cores"


def as_json(matrix: dict, settings: dict) -> dict:
    """The matrix with what the results page needs to say where it came from."""
    return {"date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d"),
            "machine": cpu_name(), "torch": torch.__version__,
            "device": settings["device"], "precision": settings["precision"],
            "profile": settings["profile"].name, "dataset": KILL_DATASET,
            "config": KILL_CONFIG, "seed": KILL_SEED, "properties": list(RUN_PROPERTIES),
            "faults": [{"name": f.name, "class": f.kind} for f in FAULTS],
            "matrix": {name: findings_text(row) for name, row in matrix.items()},
            "contract_checks": {name: check_names(row["contract"])
                                for name, row in matrix.items() if row["contract"]}}


def test_kill_fraction_and_matrix(matrix, pytestconfig, settings):
    flagged = sum(any(row.values()) for row in matrix.values())
    assert len(FAULTS) >= 12
    assert flagged / len(FAULTS) >= MIN_KILL_FRACTION
    path = pytestconfig.getoption("--kill-matrix")
    if path:
        with open(path, "w") as fh:
            fh.write(render(matrix))
        with open(f"{path}.json", "w") as fh:
            json.dump(as_json(matrix, settings), fh, indent=1)
