"""CI gate: short benchmark checks (~1-2 minutes on 2 CPU cores).

Gates:
* step speedup (a same-run ratio): the batched training step (forward, backward, AdamW,
  zero_grad) must stay >= 5x faster than the per-set loop reference's forward + backward at the
  representative shape (4 x 50 x 10), baseline preset. The two are timed interleaved and
  compared best-to-best, so load from other processes hits both alike. This is a regression
  floor: the step measures 7-9x today, and the issue's 15x target is NOT met (the reference
  already runs its 16x256 matmuls at ~5% of GEMM peak, so 15x would need the batched step at
  ~76% of peak; it reaches ~43%). test_bench_step.py records speedup_vs_reference per run.
* collation throughput (an ABSOLUTE figure, so machine-dependent): the target is 1,000,000
  events/s; the gate asserts only a quarter of that, on the best of several epochs, so that a
  loaded CI box does not flake while a regression of the vectorised collation (a Python loop per
  event runs at ~10^4-10^5 events/s) still fails.
"""

from __future__ import annotations

import os

import pytest

from seqsetvae import perf
from seqsetvae.data import BucketBatchSampler, collate
from tests.factories import random_packed

pytestmark = pytest.mark.gate

# regression floor (see above); overridable only to diagnose a runner without editing code
MIN_STEP_SPEEDUP = float(os.environ.get("SEQSETVAE_GATE_MIN_SPEEDUP", "5"))
TARGET_STEP_SPEEDUP = 15.0  # the target, reported by test_bench_step.py
COLLATE_TARGET_EVENTS_PER_S = 1_000_000
COLLATE_GATE_EVENTS_PER_S = COLLATE_TARGET_EVENTS_PER_S / 4  # generous margin: absolute figure


def test_batched_step_beats_per_set_loop_reference(make_step):
    case = make_step("baseline", (4, 50, 10), compile_model=False)
    if case.device.type != "cpu":
        pytest.skip("the per-set loop reference builds its tensors on the CPU")

    def timed_step():
        case.step()
        case.sync()

    # reference rounds cost ~15-20 steps each; 3 interleaved rounds bound the gate to ~1 minute
    times = perf.time_interleaved({"step": timed_step, "reference": case.reference}, rounds=3)
    speedup = times["reference"].best / times["step"].best
    print(f"step {times['step'].best:.3f}s reference {times['reference'].best:.3f}s "
          f"speedup {speedup:.1f}x")
    assert speedup >= MIN_STEP_SPEEDUP, (
        f"batched step only {speedup:.1f}x the per-set loop reference "
        f"(step {times['step'].seconds}, reference {times['reference'].seconds})")


def test_collation_throughput():
    data = random_packed(300, 100, 20, num_variables=100, seed=1)
    sampler = BucketBatchSampler(data.num_sets, 4, shuffle=True, seed=0)

    def epoch():
        for idx in sampler:
            collate(data, idx)

    best = perf.time_callable(epoch, rounds=5, warmup=1).best
    rate = data.num_events / best
    print(f"collation {rate / 1e6:.2f} M events/s (target {COLLATE_TARGET_EVENTS_PER_S:,})")
    assert rate >= COLLATE_GATE_EVENTS_PER_S, (
        f"collation at {rate:,.0f} events/s; gate {COLLATE_GATE_EVENTS_PER_S:,.0f} "
        f"(absolute; target {COLLATE_TARGET_EVENTS_PER_S:,})")
