"""The training step under benchmark and its per-set loop reference, shared by the pytest
benchmarks (conftest.py) and the profiler script (profile_step.py)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import torch

# tests/ is not a package on the import path when pytest or a script starts from benchmarks/
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from seqsetvae import perf  # noqa: E402
from seqsetvae.config import preset  # noqa: E402
from seqsetvae.data import collate  # noqa: E402
from seqsetvae.model import build_model  # noqa: E402
from seqsetvae.train.optim import build_optimizer  # noqa: E402
from seqsetvae.train.trainer import precision_context  # noqa: E402
from tests.factories import random_packed  # noqa: E402
from tests.reference import reference_forward  # noqa: E402

NUM_VARIABLES = 100
# the target for the batched step over the per-set loop reference (baseline, 4x50x10);
# the benchmarks report how much of the GEMM peak it would take (gemm_fraction_needed_for_target)
TARGET_STEP_SPEEDUP = 15.0
PRECISIONS = ("fp32", "bf16")
GEMM_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}  # the peak each is measured against


@dataclass
class StepCase:
    """One training-step configuration: a model, the trainer's AdamW and a fixed batch."""

    model: torch.nn.Module
    forward: torch.nn.Module  # the model itself, or its torch.compile wrapper
    optimizer: torch.optim.Optimizer
    batch: object
    device: torch.device
    num_events: int
    num_patients: int
    precision: str = "fp32"  # fp32 or bf16: the forward under the trainer's autocast context

    def step(self) -> None:
        """Forward, backward, AdamW step, zero_grad: one optimizer step of training."""
        with precision_context(self.precision, self.device):
            out = self.forward(self.batch, step=1)
        out.loss.backward()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)

    @property
    def has_reference(self) -> bool:
        """The per-set loop reference builds fp32 outputs on the CPU: it is the fp32 CPU
        baseline, so speedups against it are measured there only."""
        return self.device.type == "cpu" and self.precision == "fp32"

    def reference(self) -> None:
        """The per-set loop reference, forward and backward (no optimizer step)."""
        out = reference_forward(self.model, self.batch, step=1)
        out.loss.backward()
        self.model.zero_grad(set_to_none=True)

    def sync(self) -> None:
        perf.synchronize(self.device)


def fixed_batch(shape: tuple[int, int, int], seed: int = 0):
    """Every patient has exactly S sets of exactly N events: no padding, so events/s is exact."""
    b, s, n = shape
    data = random_packed(b, s, n, num_variables=NUM_VARIABLES, seed=seed, min_sets=s,
                         min_events=n)
    return collate(data, range(b))


def make_step_case(preset_name: str, shape: tuple[int, int, int], device: torch.device,
                   compile_model: bool = False, overrides: dict | None = None,
                   precision: str = "fp32") -> StepCase:
    if precision not in PRECISIONS:
        raise ValueError(f"benchmark precision {precision!r}: choose {', '.join(PRECISIONS)} "
                         "(fp16 needs the trainer's GradScaler)")
    torch.manual_seed(0)
    cfg = preset(preset_name).replace(**(overrides or {}))
    model = build_model(NUM_VARIABLES, cfg).to(device).train()
    batch = fixed_batch(shape).to(device)
    forward = torch.compile(model) if compile_model else model
    optimizer = build_optimizer(model, cfg)  # the trainer's: parameter groups, fused kernel
    return StepCase(model, forward, optimizer, batch, device, batch.num_events, shape[0],
                    precision)
