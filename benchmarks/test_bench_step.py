"""Training-step throughput: forward, backward, AdamW step, zero_grad, per preset and shape.

Each benchmark stores events/s, patients/s, achieved GFLOP/s (FlopCounterMode count of one step
over the best step time), the fraction of the run's best fp32 GEMM rate and, on CPU, the
speedup over the per-set loop reference (forward + backward) timed interleaved with the step,
with its ceiling: the speedup the step would reach running every FLOP at the GEMM peak.
"""

from __future__ import annotations

import pytest

from seqsetvae import perf

REPRESENTATIVE = (4, 50, 10)  # patients x sets x events, no padding
SMALL = (2, 10, 5)
# (rounds, warm-up rounds) of the step; the reference is many times slower, so it gets fewer
ROUNDS = {REPRESENTATIVE: (5, 2), SMALL: (20, 3)}
REF_ROUNDS = {REPRESENTATIVE: 3, SMALL: 5}


def measure_step(benchmark, gemm_peak, case, shape) -> None:
    def timed_step():
        case.step()
        case.sync()

    flops = perf.count_flops(case.step)  # also the first warm-up step
    rounds, warmup = ROUNDS[shape]
    gemm_peak.sample()
    benchmark.pedantic(timed_step, rounds=rounds, warmup_rounds=warmup, iterations=1)
    gemm_peak.sample()
    step_s = perf.best_benchmark_time(benchmark, timed_step, case.device)

    info = perf.throughput_info(step_s, events=case.num_events, patients=case.num_patients,
                                flops=flops)
    info.update(step_s=step_s, gflop_per_step=flops / 1e9, compiled=case.forward is not case.model)
    if case.has_reference:
        # interleaved with fresh step rounds, so both see the same load from other processes
        disabled = benchmark.disabled
        times = perf.time_interleaved({"step": timed_step, "reference": case.reference},
                                      rounds=1 if disabled else REF_ROUNDS[shape],
                                      warmup=0 if disabled else 1)
        info.update(reference_s=times["reference"].best, interleaved_step_s=times["step"].best,
                    speedup_vs_reference=times["reference"].best / times["step"].best)
    if shape == REPRESENTATIVE:
        mem = perf.peak_memory(timed_step, device=case.device)
        info.update(peak_memory_mb=mem.peak_bytes / 2**20,
                    step_memory_delta_mb=mem.delta_bytes / 2**20, memory_source=mem.source)
    benchmark.extra_info.update(info)
    # fraction_of_gemm_peak and speedup_ceiling_at_gemm_peak, against the run's best peak
    gemm_peak.register(benchmark.extra_info)


@pytest.mark.parametrize("shape", [REPRESENTATIVE, SMALL], ids=["4x50x10", "2x10x5"])
@pytest.mark.parametrize("preset_name", ["baseline", "optimized"])
def test_training_step(benchmark, make_step, gemm_peak, preset_name, shape):
    measure_step(benchmark, gemm_peak, make_step(preset_name, shape), shape)


@pytest.mark.parametrize("num_inducing", [4, 8])
def test_training_step_fewer_inducing_points(benchmark, make_step, gemm_peak, num_inducing):
    """What the set encoder's size buys (default 16): ISAB blocks hold most of the step's FLOPs,
    and with sets of a few events most of that is spent on the inducing points. Numbers for the
    modelling decision, not a default: the presets keep num_inducing = 16."""
    case = make_step("baseline", REPRESENTATIVE, overrides={"num_inducing": num_inducing})
    benchmark.extra_info["num_inducing"] = num_inducing
    measure_step(benchmark, gemm_peak, case, REPRESENTATIVE)
