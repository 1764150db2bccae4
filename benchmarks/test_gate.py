"""CI gate: short benchmark checks. How to run and read them: docs/howto/benchmarks.md.

Gates:
* step speedup (a same-run ratio): the batched training step (forward, backward, the trainer's
  fused AdamW, zero_grad) must stay MIN_STEP_SPEEDUP x faster than the per-set loop reference's
  forward + backward at the representative shape (4 x 50 x 10), baseline preset. The two are
  timed interleaved and compared best-to-best, so load from other processes hits both alike.
  test_bench_step.py records speedup_vs_reference and its ceiling, speedup_ceiling_at_gemm_peak
  (the speedup if every FLOP of the step ran at the same-run GEMM peak).
* collation speedup (a same-run ratio): vectorised collation must stay MIN_COLLATE_SPEEDUP x an
  event-by-event Python loop that builds the same tensors. The absolute target of 1 M events/s
  is printed and recorded by test_bench_data.py, not gated: the loop reference itself can reach
  it on a fast machine, so an absolute floor would not catch a loop.
Each gate has a control showing it fails on a genuinely slower variant of the code under test:
the step with its set encoder regressed to a loop over sets, collation looping over sets.
Each floor sits midway, in log ratio, between the slowest real measurement and the fastest
control seen across CPU kinds and kernel sets (benchmarks/gate_spread.py measures both), so a
flake and a missed regression are equally far: a floor near either end fails on a machine that
rounds or schedules a little differently.
"""

from __future__ import annotations

import os
from unittest import mock

import numpy as np
import pytest
import torch

from seqsetvae import perf
from seqsetvae.data import BucketBatchSampler, collate
from seqsetvae.model import SeqSetVAE
from tests.factories import random_packed

pytestmark = pytest.mark.gate

# regression floors from gate_spread.py's rule (see above; docs/howto/benchmarks.md);
# the step's is overridable only to diagnose a runner without editing code
MIN_STEP_SPEEDUP = float(os.environ.get("SEQSETVAE_GATE_MIN_SPEEDUP", "2.8"))
MIN_COLLATE_SPEEDUP = 4.8
COLLATE_TARGET_EVENTS_PER_S = 1_000_000  # the target, printed and in the bench JSON


def step_speedup(step, reference, rounds: int = 3) -> float:
    """Best reference time over best step time, the two timed interleaved."""
    times = perf.time_interleaved({"step": step, "reference": reference}, rounds=rounds)
    speedup = times["reference"].best / times["step"].best
    print(f"step {times['step'].seconds} reference {times['reference'].seconds} "
          f"speedup {speedup:.1f}x (floor {MIN_STEP_SPEEDUP}x)")
    return speedup


def _looped_collate(data, indices, fill_set):
    """The padded tensors of ``collate`` (events, masks, times from each patient's first set),
    built by a Python loop over patients and sets; ``fill_set(arrays, b, s_pos, s)`` copies
    set ``s``'s events into row (b, s_pos)."""
    sets = [range(data.set_offsets[p], data.set_offsets[p + 1]) for p in indices]
    n_max = max((data.event_offsets[s + 1] - data.event_offsets[s] for r in sets for s in r),
                default=1)
    shape = (len(sets), max(max(map(len, sets), default=1), 1), max(n_max, 1))
    arrays = (np.zeros(shape, np.int64), np.zeros(shape, np.float32), np.zeros(shape, bool))
    set_mask, times = np.zeros(shape[:2], bool), np.zeros(shape[:2], np.float32)
    for b, set_range in enumerate(sets):
        for s_pos, s in enumerate(set_range):
            set_mask[b, s_pos] = True
            times[b, s_pos] = data.set_times[s] - data.set_times[set_range[0]]
            fill_set(arrays, b, s_pos, s)
    return [torch.from_numpy(a) for a in (*arrays, set_mask, times)]


def collate_event_by_event(data, indices):
    """The loop reference for collation: one set and one event at a time."""
    def fill(arrays, b, s_pos, s):
        var_idx, values, event_mask = arrays
        for n_pos, e in enumerate(range(data.event_offsets[s], data.event_offsets[s + 1])):
            var_idx[b, s_pos, n_pos] = data.var_idx[e]
            values[b, s_pos, n_pos] = data.values[e]
            event_mask[b, s_pos, n_pos] = True
    return _looped_collate(data, indices, fill)


def collate_set_by_set(data, indices):
    """A regression the gate must catch: collation that copies each set's events with one
    slice per set (a Python loop over sets instead of index arithmetic over the batch)."""
    def fill(arrays, b, s_pos, s):
        lo, hi = data.event_offsets[s], data.event_offsets[s + 1]
        var_idx, values, event_mask = arrays
        var_idx[b, s_pos, :hi - lo] = data.var_idx[lo:hi]
        values[b, s_pos, :hi - lo] = data.values[lo:hi]
        event_mask[b, s_pos, :hi - lo] = True
    return _looped_collate(data, indices, fill)


@pytest.fixture(scope="module")
def step_case(make_step):
    case = make_step("baseline", (4, 50, 10), compile_model=False)
    if not case.has_reference:
        pytest.skip("the per-set loop reference is the fp32 CPU baseline")
    return case


def test_batched_step_beats_per_set_loop_reference(step_case):
    def timed_step():
        step_case.step()
        step_case.sync()

    # a reference round costs several steps: few interleaved rounds keep the gate short
    speedup = step_speedup(timed_step, step_case.reference)
    assert speedup >= MIN_STEP_SPEEDUP, (
        f"batched step only {speedup:.1f}x the per-set loop reference (floor {MIN_STEP_SPEEDUP}x)")


def encode_sets_one_by_one(model, x, event_mask):
    """A regression the gate must catch: the batched model's set encoder fed one set at a time
    (a Python loop over sets), everything else in the step unchanged."""
    parts = [SeqSetVAE.encode_sets(model, x[i:i + 1], event_mask[i:i + 1])
             for i in range(x.shape[0])]
    return torch.cat([mu for mu, _ in parts]), torch.cat([lv for _, lv in parts])


def step_looping_over_sets(case) -> None:
    """One training step of ``case`` with its set encoder regressed to a loop over sets."""
    with mock.patch.object(case.model, "encode_sets",
                           lambda x, m: encode_sets_one_by_one(case.model, x, m)):
        case.step()
    case.sync()


def test_step_gate_control_a_step_looping_over_sets_fails(step_case):
    """The gate can fail: the real training step with its set encoder regressed to a loop."""
    speedup = step_speedup(lambda: step_looping_over_sets(step_case), step_case.reference,
                           rounds=1)
    assert speedup < MIN_STEP_SPEEDUP


def collation_inputs():
    """The packed data and batch sampler the collation gate times."""
    data = random_packed(300, 100, 20, num_variables=100, seed=1)
    return data, BucketBatchSampler(data.num_sets, 4, shuffle=True, seed=0)


@pytest.fixture(scope="module")
def collation_data():
    return collation_inputs()


def test_event_loop_reference_builds_the_same_batch(collation_data):
    data, sampler = collation_data
    idx = next(iter(sampler))
    batch, looped = collate(data, idx), collate_event_by_event(data, idx)
    for name, tensor in zip(("var_idx", "values", "event_mask", "set_mask", "times"), looped):
        assert torch.equal(getattr(batch, name), tensor), name


def collation_speedup(collate_fn, data, sampler) -> float:
    """Events/s of ``collate_fn`` over one epoch of batches, relative to the event loop's, the
    two timed interleaved (best of 5 epochs each)."""
    def epoch(fn):
        return lambda: [fn(data, idx) for idx in sampler]

    times = perf.time_interleaved({"under_test": epoch(collate_fn),
                                   "loop": epoch(collate_event_by_event)}, rounds=5)
    rate, loop_rate = (data.num_events / times[k].best for k in ("under_test", "loop"))
    print(f"collation {rate:,.0f} events/s (target {COLLATE_TARGET_EVENTS_PER_S:,}), event loop "
          f"{loop_rate:,.0f} events/s: {rate / loop_rate:.1f}x (floor {MIN_COLLATE_SPEEDUP}x)")
    return rate / loop_rate


def test_collation_beats_an_event_loop(collation_data):
    speedup = collation_speedup(collate, *collation_data)
    assert speedup >= MIN_COLLATE_SPEEDUP, (
        f"vectorised collation only {speedup:.1f}x an event-by-event loop")


def test_collation_gate_control_a_set_by_set_collation_fails(collation_data):
    """The gate can fail: a collation that builds the same batch but loops over sets."""
    data, sampler = collation_data
    idx = next(iter(sampler))
    for got, want in zip(collate_set_by_set(data, idx), collate_event_by_event(data, idx)):
        assert torch.equal(got, want)
    assert collation_speedup(collate_set_by_set, *collation_data) < MIN_COLLATE_SPEEDUP


def test_floor_rule_sits_midway_in_log_ratio():
    from gate_spread import floor_between

    got = floor_between(real=[6.0, 8.0], control=[1.0, 1.5])
    assert got["floor"] == pytest.approx(3.0) and got["margin"] == pytest.approx(2.0)
