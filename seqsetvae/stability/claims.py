"""The seed guide's advice as data, claim by claim, and the ledger's verdict on each.

A claim is the guide's words, the intervention that tests it, the statistics it predicts to move
and the direction. A knob claim ("lower the learning rate") is tested in both directions, one
knob group at a time: switched alone from the baseline, and reverted alone from the optimized
config. In every comparison the side with the advice applied is the candidate, so the engine's
verdict on the candidate reads directly:

* supported: significantly better, beyond the statistic's minimal effect;
* contradicted: significantly worse;
* within minimal effect: the interval excludes a change as large as the minimal effect either way;
* no detectable change: undecided at the seed cap (read it with its resolution);
* not testable at this profile: with the reason (the knob does not act in these runs, the data
  cannot show it, or too few usable pairs).

Every comparison of the guide's claims is one family: Holm across the whole ledger, two-sided
(each direction at alpha / 2), seeds added in blocks only to comparisons still undecided
(engine.compare with ``freeze_settled``). The planted controls are a family of their own, so
they neither dilute nor borrow the claims' power.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..config import Config, ConfigError, load_config
from .engine import (
    BETTER,
    IDENTICAL,
    SAME,
    UNDECIDED,
    UNMEASURED,
    WITHIN,
    WORSE,
    Design,
    compare,
    in_family,
)
from .statistics import BY_KEY

SUPPORTED, CONTRADICTED, NOT_TESTABLE = ("supported", "contradicted",
                                         "not testable at this profile")
LEDGER_VERDICTS = (SUPPORTED, CONTRADICTED, WITHIN, SAME, NOT_TESTABLE)
GROUND_TRUTH_ONLY = {"valid_auroc"}  # needs labels known to be predictable (synthetic data)

# The guide's own sections ("optimized config in detail"): the knobs each one changes.
KNOB_GROUPS = {
    "lr": ("lr",),
    "kl": ("beta", "free_bits"),
    "architecture": ("transformer_layers", "transformer_heads", "ff_dim"),
    "clip": ("gradient_clip_val",),
    "weight_decay": ("weight_decay",),
    "patience": ("early_stopping_patience",),
}


@dataclass(frozen=True)
class Arm:
    """One side of a comparison: a preset with some fields set, trained on seeds shifted by
    ``seed_offset`` (paired with the other side's seeds in order)."""

    preset: str
    fields: tuple[tuple[str, object], ...] = ()
    seed_offset: int = 0

    @property
    def label(self) -> str:
        parts = [self.preset] + [f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                                 for k, v in self.fields]
        if self.seed_offset:
            parts.append(f"seeds+{self.seed_offset}")
        return ",".join(parts)

    def config(self) -> Config:
        """The arm's config at the guide's true values (a profile then scales it)."""
        cfg = load_config(self.preset)
        return cfg.replace(**dict(self.fields)) if self.fields else cfg


@dataclass(frozen=True)
class Claim:
    id: str
    words: str  # what the guide says, in English
    predicts: tuple[str, ...]  # statistic keys the advice should move
    knobs: str | None = None  # a KNOB_GROUPS key; None: the intervention is given below
    candidate: Arm | None = None  # explicit arms (whole presets, fallbacks, controls)
    reference: Arm | None = None
    direction: str = "better"  # the predicted move of the candidate on each statistic
    expect: tuple[str, ...] = ()  # controls: the ledger verdicts allowed
    untestable: str | None = None  # why no run at this profile can test it


@dataclass(frozen=True)
class Comparison:
    id: str  # "4/switched", "4/reverted", "1", ...
    claim: Claim
    candidate: Arm  # the side with the advice applied
    reference: Arm
    how: str  # in words, for the report


BASELINE, OPTIMIZED = Arm("baseline"), Arm("optimized")


def values(preset: str, knobs: tuple[str, ...]) -> tuple[tuple[str, object], ...]:
    flat = load_config(preset).to_flat()
    return tuple((k, flat[k]) for k in knobs)


def fallback(field: str) -> Arm:
    """Claim 10's fallbacks: one field of the conservative preset, from the optimized config."""
    return Arm("optimized", values("conservative", (field,)))


CLAIMS = (
    Claim("1", "the optimized config makes the loss more stable, with fewer large swings",
          ("within_run_noise", "between_seed_spread"), candidate=OPTIMIZED, reference=BASELINE),
    Claim("2", "the loss then falls steadily instead of staying high; better convergence",
          ("probe_drop", "final_probe_loss", "valid_auroc"), candidate=OPTIMIZED,
          reference=BASELINE),
    Claim("3", "fewer exploding or vanishing gradients", ("grad_spike_ratio", "grad_growth"),
          candidate=OPTIMIZED, reference=BASELINE),
    Claim("4", "lr 5e-5 -> 1e-5 improves stability and reduces loss swings",
          ("within_run_noise",), knobs="lr"),
    Claim("5", "beta 0.1 -> 0.01 and free bits 0.03 -> 0.1 prevent posterior collapse",
          ("active_fraction", "kl_per_dim", "shuffle_gap"), knobs="kl"),
    Claim("6", "4 -> 2 transformer layers, 8 -> 4 heads (ff 512 -> 256) improve stability",
          ("within_run_noise", "grad_spike_ratio", "grad_growth"), knobs="architecture"),
    Claim("7", "clip 0.2 is too strict; 1.0 avoids over-clipping", ("clipped_fraction",),
          knobs="clip"),
    Claim("8", "weight decay 0.03 -> 0.01 avoids over-regularisation", ("final_probe_loss",),
          knobs="weight_decay"),
    Claim("9", "patience 8 -> 15 gives the model time to converge", ("final_probe_loss",),
          knobs="patience",
          untestable="the profile's runs train a fixed number of steps without validation, "
                     "so early stopping never acts"),
    Claim("10a", "if problems persist: lr 5e-6", ("within_run_noise",),
          candidate=fallback("lr"), reference=OPTIMIZED),
    Claim("10b", "if problems persist: gradient accumulation 8", ("within_run_noise",),
          candidate=fallback("gradient_accumulation_steps"), reference=OPTIMIZED),
    Claim("10c", "if problems persist: focal loss off", ("within_run_noise",),
          candidate=fallback("use_focal_loss"), reference=OPTIMIZED),
)

# Planted claims with a known answer: the ledger can fail only if these come out as expected.
CONTROLS = (
    Claim("C1", "(planted) beta 5 without free bits collapses the posterior",
          ("active_fraction", "kl_per_dim", "shuffle_gap"), direction="worse",
          expect=(SUPPORTED,), candidate=Arm("optimized", (("beta", 5.0), ("free_bits", 0.0))),
          reference=OPTIMIZED),
    Claim("C2", "(planted) a noise-stream change lowers within-run noise", ("within_run_noise",),
          expect=(CONTRADICTED, WITHIN, SAME), candidate=Arm("baseline", seed_offset=1000),
          reference=BASELINE),
    # From optimized, where the gate's regression corpus (lr_doubled) shows the doubling raising
    # within-run noise far beyond the minimal effect; from the baseline the same doubling was
    # too small to be decided within the seed cap (CHANGELOG), so it could not be a control.
    Claim("C3", "(planted) doubling the optimized config's learning rate lowers within-run "
          "noise", ("within_run_noise",), expect=(CONTRADICTED,),
          candidate=Arm("optimized", (("lr", 2e-5),)), reference=OPTIMIZED),
)


def comparisons(claims=CLAIMS) -> list[Comparison]:
    """Every comparison the claims ask for, knob claims in both directions."""
    out = []
    for c in claims:
        if c.knobs is None:
            out.append(Comparison(c.id, c, c.candidate, c.reference,
                                  f"{c.candidate.label} vs {c.reference.label}"))
            continue
        knobs = KNOB_GROUPS[c.knobs]
        out.append(Comparison(f"{c.id}/switched", c, Arm("baseline", values("optimized", knobs)),
                              BASELINE, f"{c.knobs} switched alone from the baseline"))
        out.append(Comparison(f"{c.id}/reverted", c, OPTIMIZED,
                              Arm("optimized", values("baseline", knobs)),
                              f"{c.knobs} reverted alone from the optimized config"))
    return out


DIRECTIONS = ("both", "switched", "reverted")


def select(comps: list[Comparison], claim_ids: tuple[str, ...] | None = None,
           direction: str = "both") -> list[Comparison]:
    """The comparisons of some claims only, and of knob claims in one direction only. A part of
    the ledger is one Holm family of its own, so its verdicts are not the whole ledger's."""
    known = list(dict.fromkeys(c.claim.id for c in comps))  # in the ledger's order
    unknown = [i for i in claim_ids or () if i not in known]
    if unknown:
        raise ConfigError(f"no claim {', '.join(unknown)}; the claims are "
                          f"{', '.join(known)} (--claims)")
    if direction not in DIRECTIONS:
        raise ConfigError(f"direction {direction!r} is not one of {DIRECTIONS} (--direction)")
    return [c for c in comps
            if (claim_ids is None or c.claim.id in claim_ids)
            and (direction == "both" or c.claim.knobs is None
                 or c.id.endswith("/" + direction))]


def selection_name(selection: dict | None) -> str:
    """A part of the ledger as a file-name-safe suffix ("" for the whole ledger): recorded
    verdicts and published pages of a part never stand in for the whole's."""
    selection = selection or {}
    parts = (["claims-" + "-".join(selection["claims"])] if selection.get("claims") else []) + (
        [selection["direction"]] if selection.get("direction", "both") != "both" else [])
    return "-".join(parts)


def testable(comparison: Comparison, ground_truth: bool) -> tuple[tuple, dict[str, str]]:
    """The statistics a comparison can test here (as family members), and why the others
    cannot be tested."""
    why = {}
    if comparison.claim.untestable:
        why = {k: comparison.claim.untestable for k in comparison.claim.predicts}
    elif not ground_truth:
        why = {k: "labels not known to be predictable on this data" for k in
               comparison.claim.predicts if k in GROUND_TRUTH_ONLY}
    stats = tuple(in_family(BY_KEY[k]) for k in comparison.claim.predicts if k not in why)
    return stats, why


def arms(comps: list[Comparison], ground_truth: bool) -> dict[str, Arm]:
    """Every arm that some testable comparison needs, by label."""
    found = {}
    for c in comps:
        if testable(c, ground_truth)[0]:
            found[c.candidate.label] = c.candidate
            found[c.reference.label] = c.reference
    return found


def ledger_verdict(row: dict, direction: str = "better") -> str:
    """The engine's verdict on the candidate as the ledger's word for the claim."""
    moved = {BETTER: "better", WORSE: "worse"}.get(row["verdict"])
    if moved is not None:
        return SUPPORTED if moved == direction else CONTRADICTED
    return {WITHIN: WITHIN, SAME: SAME, UNDECIDED: SAME, IDENTICAL: NOT_TESTABLE,
            UNMEASURED: NOT_TESTABLE}[row["verdict"]]


def judge(comps: list[Comparison], runs: dict[str, list[dict]], seeds: list[int],
          design: Design, ground_truth: bool) -> dict:
    """The ledger over the runs so far. ``runs``: arm label -> run measurements in seed order
    (statistics.measurements). Returns the engine's outcome; when complete, also the rows with
    their ledger verdicts."""
    families = {c.id: testable(c, ground_truth) for c in comps}
    tested = [c for c in comps if families[c.id][0]]
    ref = {c.id: {s.key: [s.value(m) for m in runs.get(c.reference.label, [])]
                  for s in families[c.id][0]} for c in tested}
    cand = {c.id: {s.key: [s.value(m) for m in runs.get(c.candidate.label, [])]
                   for s in families[c.id][0]} for c in tested}
    outcome = compare(ref, cand, seeds, design, {c.id: families[c.id][0] for c in tested},
                      freeze_settled=True) if tested else {
        "complete": True, "configs": {}, "design": None, "stop": "nothing testable"}
    if not outcome["complete"]:
        return outcome
    rows = []
    for c in comps:
        statistics = {r["key"]: r for r in outcome["configs"].get(c.id, {}).get("statistics", [])}
        for key in c.claim.predicts:
            base = {"comparison": c.id, "claim": c.claim.id, "words": c.claim.words,
                    "direction": c.claim.direction,
                    "how": c.how, "candidate": c.candidate.label,
                    "reference": c.reference.label, "statistic": key,
                    "label": BY_KEY[key].label}
            if key in statistics:
                row = statistics[key]
                reason = ("the knob does not change these runs" if row["identical"] else
                          "too few usable pairs" if not row["measured"] else None)
                rows.append({**base, **row, "ledger": ledger_verdict(row, c.claim.direction),
                             "why": reason})
            else:
                rows.append({**base, "ledger": NOT_TESTABLE, "why": families[c.id][1][key],
                             "measured": False, "identical": False})
    return {**outcome, "rows": rows}


def control_holds(claim: Claim, rows: list[dict]) -> bool:
    """Did a planted claim come out as it must? Every statistic of it, in every comparison."""
    verdicts = [r["ledger"] for r in rows if r["claim"] == claim.id]
    return bool(verdicts) and all(v in claim.expect for v in verdicts)


HEADLINE = CLAIMS[:3]  # optimized vs baseline: answerable from any run of the two presets


def headline_ledger(optimized: list[dict], baseline: list[dict], ground_truth: bool) -> dict:
    """Claims 1-3 as one family over the paired seeds given (run measurements of each preset,
    in seed order): what the stability suite checks on its own runs and what a published
    comparison of the two presets can still answer without its runs."""
    if len(optimized) != len(baseline) or len(optimized) < 2:
        raise ValueError(f"the headline claims need the same seeds (at least 2) for both "
                         f"presets, got {len(optimized)} and {len(baseline)} runs")
    n = len(optimized)
    return judge(comparisons(HEADLINE), {"optimized": optimized, "baseline": baseline},
                 list(range(n)), Design.fixed(n, two_sided=True, stop_on_worse=False),
                 ground_truth)


def recorded_form(rows: list[dict]) -> dict[str, dict]:
    """What the record keeps of each row: the verdict and the measured interval."""
    def number(v):
        return None if v is None or v != v else round(float(v), 6)

    return {f"{r['comparison']}:{r['statistic']}": {
        "verdict": r["ledger"], "effect": number(r.get("effect")),
        "ci": [number(r.get("ci_low")), number(r.get("ci_high"))], "pairs": r.get("pairs")}
        for r in rows}


def flips(recorded: dict[str, dict], rows: list[dict]) -> list[str]:
    """Rows whose verdict differs from the record, each with the numbers of both."""
    now = recorded_form(rows)
    found = []
    for key in sorted(set(recorded) | set(now)):
        old, new = recorded.get(key), now.get(key)
        if old is None or new is None or old["verdict"] != new["verdict"]:
            found.append(f"{key}: recorded {describe_recorded(old)}, now {describe_recorded(new)}")
    return found


def describe_recorded(entry: dict | None) -> str:
    if entry is None:
        return "nothing"
    if entry["effect"] is None:
        return entry["verdict"]
    return (f"{entry['verdict']} (effect {entry['effect']:.4g}, 95% CI {entry['ci'][0]:.4g}-"
            f"{entry['ci'][1]:.4g}, {entry['pairs']} pairs)")
