"""The claims ledger (stability/claims.py, `seqsetvae claims`): the guide's claims as data, knob
claims in both directions one group at a time, each ledger verdict reachable on planted
measurements, seeds added only where a comparison is undecided, and the untestable claim's
reason checked against a real run."""

from __future__ import annotations

import dataclasses
import json

import numpy as np

from seqsetvae.cli import claims as claims_cli
from seqsetvae.cli import main
from seqsetvae.config import ConfigError, load_config
from seqsetvae.data.builtin import SyntheticSpec, write_synthetic
from seqsetvae.stability.claims import (
    CLAIMS,
    CONTRADICTED,
    CONTROLS,
    KNOB_GROUPS,
    NOT_TESTABLE,
    SUPPORTED,
    arms,
    comparisons,
    control_holds,
    judge,
    select,
    selection_name,
)
from seqsetvae.stability.engine import SAME, WITHIN, Design
from seqsetvae.stability.runs import PROFILES, profile_config, traced_run

from .factories import random_packed
from .traces import numbers

DESIGN = Design(block=6, max_seeds=12, two_sided=True, stop_on_worse=False)


def test_each_knob_claim_is_tested_both_ways_one_group_at_a_time():
    flat = {name: load_config(name).to_flat() for name in ("baseline", "optimized")}
    for c in comparisons():
        if c.claim.knobs is None:
            continue
        group = set(KNOB_GROUPS[c.claim.knobs])
        cand, ref = c.candidate.config().to_flat(), c.reference.config().to_flat()
        assert {k for k in cand if cand[k] != ref[k]} <= group, c.id
        # the candidate always has the guide's values of the group
        assert all(cand[k] == flat["optimized"][k] for k in group), c.id
        assert all(ref[k] == flat["baseline"][k] for k in group), c.id
    ids = [c.id for c in comparisons()]
    assert [i for i in ids if "/" in i] == [f"{c.id}/{way}" for c in CLAIMS if c.knobs
                                            for way in ("switched", "reverted")]


def measured(rng, n, **scale) -> list[dict]:
    """Run measurements with per-seed noise; ``scale``: statistic path -> factor."""
    runs = []
    for _ in range(n):
        f = np.exp(rng.normal(0, 0.05, 11))
        runs.append({"within_run_noise": 0.004 * f[0] * scale.get("noise", 1.0),
                     "final_probe_loss": 0.9 * f[1] * scale.get("final", 1.0),
                     "learning": {"relative_drop": 0.2 * f[2], "valid_auroc": 0.8},
                     "posterior": {"active_fraction": 0.8, "kl_per_dim_mean": 0.05 * f[3],
                                   "shuffle_gap_relative": 0.1 * f[4]},
                     "gradients": {"spike_ratio": 3 * f[5], "growth": 1.0 * f[6],
                                   "clipped_fraction": 0.5 * f[7], "max_applied": 1.0}})
    return runs


def planted_runs(n: int, seed: int = 0) -> dict[str, list[dict]]:
    """Every arm with harmless noise, except: lr switched alone halves the noise (claim 4
    supported there), weight decay switched alone raises the final loss by 20% (claim 8
    contradicted there)."""
    rng = np.random.default_rng(seed)
    runs = {label: measured(rng, n) for label in arms(comparisons(), ground_truth=True)}
    runs["baseline,lr=1e-05"] = measured(rng, n, noise=0.5)
    runs["baseline,weight_decay=0.01"] = measured(rng, n, final=1.2)
    return runs


def rows_by(outcome) -> dict[tuple[str, str], dict]:
    return {(r["comparison"], r["statistic"]): r for r in outcome["rows"]}


def test_planted_effects_get_their_verdicts_and_the_untestable_say_why():
    outcome = judge(comparisons(), planted_runs(12), list(range(12)), DESIGN, ground_truth=False)
    rows = rows_by(outcome)
    assert rows[("4/switched", "within_run_noise")]["ledger"] == SUPPORTED
    assert rows[("8/switched", "final_probe_loss")]["ledger"] == CONTRADICTED
    assert rows[("4/reverted", "within_run_noise")]["ledger"] in (WITHIN, SAME)
    nine = rows[("9/switched", "final_probe_loss")]
    assert nine["ledger"] == NOT_TESTABLE and "early stopping never acts" in nine["why"]
    auroc = rows[("2", "valid_auroc")]
    assert auroc["ledger"] == NOT_TESTABLE and "not known to be predictable" in auroc["why"]
    # the whole ledger is one Holm family: the supported row's adjusted p exceeds its raw p
    four = rows[("4/switched", "within_run_noise")]
    assert four["p_better_adjusted"] > four["p_better"]


def test_seeds_are_added_only_to_undecided_comparisons():
    runs = planted_runs(12, seed=1)
    first = judge(comparisons(), {k: v[:6] for k, v in runs.items()}, list(range(6)), DESIGN,
                  ground_truth=True)
    assert not first["complete"] and first["next_seeds"] == 12
    assert "4/switched" not in first["pending"] and "1" in first["pending"]
    # a decided comparison's arms need no more seeds: judged with only 6 of them, the same
    # verdicts come out as with 12
    pending_arms = arms([c for c in comparisons() if c.id in first["pending"]], True)
    short = {k: v if k in pending_arms else v[:6] for k, v in runs.items()}
    assert as_text(judge(comparisons(), short, list(range(12)), DESIGN, True)) == \
        as_text(judge(comparisons(), runs, list(range(12)), DESIGN, True))


def as_text(outcome) -> str:
    """The rows as canonical JSON (NaN p-values of identical rows compare equal there)."""
    return json.dumps(outcome["rows"], sort_keys=True)


def test_a_control_holds_only_with_its_planted_verdict_on_every_statistic():
    c1 = CONTROLS[0]
    rows = [{"claim": "C1", "ledger": SUPPORTED}] * 3
    assert control_holds(c1, rows)
    assert not control_holds(c1, rows[:2] + [{"claim": "C1", "ledger": SAME}])
    assert not control_holds(c1, [])  # a control that was not judged does not hold
    c2 = CONTROLS[1]
    assert control_holds(c2, [{"claim": "C2", "ledger": SAME}])
    assert not control_holds(c2, [{"claim": "C2", "ledger": SUPPORTED}])
    assert not control_holds(c2, [{"claim": "C2", "ledger": NOT_TESTABLE}])


def test_patience_does_not_act_in_a_profile_run():
    """Claim 9's reason, checked: a profile run never validates, so its early-stopping
    patience cannot change a single number."""
    train, valid = random_packed(24, 5, 4, seed=3), random_packed(8, 5, 4, seed=4)
    profile = dataclasses.replace(PROFILES["quick"], steps=12)
    traces = [traced_run(profile_config("baseline", profile, early_stopping_patience=p),
                         "baseline", train, valid, profile, seed=0) for p in (8, 15)]
    assert numbers(traces[0]) == numbers(traces[1])


def test_the_command_writes_the_ledger_and_fails_when_a_control_does_not_hold(
        tmp_path, monkeypatch, capsys):
    """One claim and one control on a tiny run: too little training for the planted collapse
    to show, so the command must say the ledger cannot be trusted and exit 1."""
    data = write_synthetic(tmp_path / "syn", SyntheticSpec(patients=30, max_sets=6))
    monkeypatch.setattr(claims_cli, "CLAIMS", CLAIMS[6:7])  # claim 7: clip, both directions
    monkeypatch.setattr(claims_cli, "CONTROLS", CONTROLS[:1])
    out = tmp_path / "ledger"
    code = main(["claims", "--data_dir", str(data), "--out", str(out), "--seeds", "2",
                 "--max_seeds", "2", "--steps", "12", "--workers", "1", "--no_progress"])
    printed = capsys.readouterr().out
    assert code == 1 and "NOT as planted: C1" in printed
    summary = json.loads((out / "summary.json").read_text())
    assert summary["schema"] == 2 and summary["kind"] == "claims"
    assert [r["comparison"] for r in summary["claims"]["rows"]] == ["7/switched", "7/reverted"]
    assert summary["controls_hold"] == {"C1": False}
    report = (out / "report.md").read_text()
    assert "| 7/switched |" in report and "NOT as planted: C1" in report
    assert (out / "forest.png").stat().st_size > 0


def test_a_part_of_the_ledger_is_chosen_by_claim_and_direction():
    ids = [c.id for c in select(comparisons(CLAIMS), ("4", "1"), "switched")]
    assert ids == ["1", "4/switched"]  # a whole-preset claim has no direction to drop
    reverted = select(comparisons(CLAIMS), None, "reverted")
    assert {c.claim.id for c in reverted} == {c.id for c in CLAIMS}
    assert all(c.id.endswith("/reverted") for c in reverted if c.claim.knobs)
    assert select(comparisons(CLAIMS)) == comparisons(CLAIMS)
    try:
        select(comparisons(CLAIMS), ("4", "11"))
    except ConfigError as exc:
        assert "no claim 11" in str(exc) and "10c" in str(exc)
    else:
        raise AssertionError("an unknown claim id was accepted")
    assert selection_name({"claims": ["4", "5"], "direction": "switched"}) == \
        "claims-4-5-switched"
    assert selection_name({"claims": [], "direction": "both"}) == selection_name(None) == ""


def test_the_command_judges_a_part_without_controls_and_says_so(tmp_path, capsys):
    data = write_synthetic(tmp_path / "syn", SyntheticSpec(patients=30, max_sets=6))
    out = tmp_path / "part"
    code = main(["claims", "--data_dir", str(data), "--out", str(out), "--claims", "7",
                 "--direction", "switched", "--no_controls", "--seeds", "2", "--max_seeds", "2",
                 "--steps", "12", "--workers", "1", "--no_progress"])
    assert code == 0 and "controls: not run" in capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    assert [r["comparison"] for r in summary["claims"]["rows"]] == ["7/switched"]
    assert summary["controls"] is None and summary["controls_hold"] == {}
    assert summary["selection"] == {"claims": ["7"], "direction": "switched"}
    report = (out / "report.md").read_text()
    assert "Part of the ledger: claims 7, knob claims switched only" in report
    assert "Planted controls: not run here" in report


def test_a_design_that_cannot_run_is_refused_in_one_line(tmp_path, capsys):
    code = main(["claims", "--data_dir", str(tmp_path), "--out", str(tmp_path / "o"),
                 "--seeds", "6", "--max_seeds", "3"])
    err = capsys.readouterr().err
    assert code == 2 and "--max_seeds 3 is below the first block" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "o").exists()
