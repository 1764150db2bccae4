"""Short seeded training runs traced on fixed probe batches: the raw material of every check.

A profile fixes sizes and lengths; the three presets keep every knob of config.PRESETS.
The quick profile is a time-compressed proxy: it shrinks widths (model_dim 256 -> 64, ff_dim in
proportion, latent 256 -> 16, 4 inducing points) and multiplies every preset's learning rate by
one common factor (their ratios are kept), so that runs short enough for a 2-core laptop still
learn. The full profile uses the true sizes and learning rates.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from ..config import Config, load_config
from ..data.collate import collate
from ..data.packed import PackedData
from ..train.metrics import auroc
from ..train.trainer import RunOptions, Trainer, precision_context
from .checks import (
    Problem,
    batch_problems,
    contract_problems,
    schedule_problems,
    stale_gradient_problems,
)
from .collapse import PosteriorHealth, posterior_health
from .gradients import GradientReport, gradient_report
from .learning import LearningReport, learning_report


@dataclass(frozen=True)
class Profile:
    name: str
    steps: int  # optimizer steps per run
    seeds: tuple[int, ...]
    warmup_steps: int  # LR and beta warm-up; the variability statistics skip these steps
    probe_patients: int  # fixed probe set (from the validation split)
    lr_scale: float = 1.0  # common learning-rate multiplier of the time-compressed proxy
    shrink: dict = field(default_factory=dict)  # size overrides (ff_dim is scaled, see below)


PROFILES = {
    "quick": Profile("quick", steps=60, seeds=tuple(range(6)), warmup_steps=6,
                     probe_patients=16, lr_scale=50.0,
                     shrink=dict(model_dim=64, latent_dim=16, num_inducing=4)),
    "full": Profile("full", steps=300, seeds=tuple(range(10)), warmup_steps=50,
                    probe_patients=128),
}


def profile_config(name_or_path: str | Config, profile: Profile, **overrides) -> Config:
    """A preset, config file or Config at the profile's sizes, schedule and learning-rate scale;
    ``overrides`` are absolute values applied last (a control's ``lr=1.0`` is not scaled)."""
    cfg = name_or_path if isinstance(name_or_path, Config) else load_config(name_or_path)
    shrink = dict(profile.shrink)
    if "model_dim" in shrink:  # keep each preset's ff_dim : model_dim ratio
        shrink["ff_dim"] = max(8, cfg.model.ff_dim * shrink["model_dim"] // cfg.model.model_dim)
    schedule = dict(warmup_steps=profile.warmup_steps, beta_warmup_steps=profile.warmup_steps,
                    max_epochs=10_000, lr=cfg.optim.lr * profile.lr_scale)
    return cfg.replace(**{**shrink, **schedule, **overrides})


def probe_batch(data: PackedData, patients: int, device="cpu"):
    """The first `patients` patients, always the same: a fixed yardstick for every run."""
    return collate(data, np.arange(min(patients, len(data)))).to(device)


@torch.inference_mode()
def probe_loss(model, batch) -> float:
    """Reconstruction per event + binary cross-entropy, in eval mode: unweighted by recon_weight,
    beta or focal settings, so configs with different loss weights are measured alike."""
    was_training = model.training
    model.eval()
    out = model(batch)
    model.train(was_training)
    return float(out.recon + F.binary_cross_entropy_with_logits(out.logits.float(), batch.labels))


@torch.no_grad()
def validation_auroc(model, data: PackedData, device="cpu", batch_patients: int = 64) -> float:
    """AUROC of the model's predictions on every patient of ``data``, scored against the labels
    stored in the data (not those of the batches, so a label bug in collation cannot hide)."""
    model.eval()
    logits = [model(collate(data, np.arange(i, min(i + batch_patients, len(data)))).to(device)
                    ).logits.float().cpu() for i in range(0, len(data), batch_patients)]
    return auroc(np.asarray(data.labels), torch.cat(logits).numpy())


@dataclass
class RunTrace:
    config_name: str
    seed: int
    records: list[dict]  # the trainer's per-step records
    probe: list[float]  # probe loss after each optimizer step (index 0: before training)
    learning: LearningReport
    gradients: GradientReport
    posterior: PosteriorHealth
    contract_problems: list[Problem]
    seconds: float  # wall time of the training loop (probe evaluations included)

    def series(self, key: str) -> np.ndarray:
        return np.array([r[key] for r in self.records], dtype=float)

    @property
    def steps_per_second(self) -> float:
        return len(self.records) / self.seconds if self.seconds > 0 else float("nan")


def traced_run_job(cfg: Config, config_name: str, train: PackedData, probe_data: PackedData,
                   profile: Profile, seed: int, device: str = "cpu",
                   setup: Callable[[], contextlib.AbstractContextManager] | None = None
                   ) -> RunTrace:
    """Picklable entry point for worker processes (one intra-op thread each). ``setup``: a
    module-level callable returning a context manager held around the run (fault injection)."""
    torch.set_num_threads(1)
    with setup() if setup is not None else contextlib.nullcontext():
        return traced_run(cfg, config_name, train, probe_data, profile,
                          seed, device)


def traced_run(cfg: Config, config_name: str, train: PackedData, valid: PackedData,
               profile: Profile, seed: int, device: str = "cpu") -> RunTrace:
    options = RunOptions(seed=seed, device=device, max_steps=profile.steps, validate=False,
                         progress=False)
    trainer = Trainer(cfg, train, None, options)
    probe = probe_batch(valid, profile.probe_patients, device)
    probe_values = [probe_loss(trainer.model, probe)]
    records: list[dict] = []

    def on_step(t: Trainer, record: dict) -> None:
        records.append(record)
        if record["finite"]:
            probe_values.append(probe_loss(t.model, probe))

    trainer.on_step = on_step
    started = time.perf_counter()
    trainer.fit()
    seconds = time.perf_counter() - started
    with precision_context(cfg.optim.precision, trainer.device):
        valid_auroc = validation_auroc(trainer.model, valid, device)
    health = posterior_health(trainer.model, probe, mi_sets=256, seed=seed)
    problems = stale_gradient_problems(trainer.model)  # before anything computes new ones
    problems += contract_problems(
        trainer.model, probe, lambda: precision_context(cfg.optim.precision, trainer.device))
    problems += batch_problems(trainer.batch, train, trainer.sampler.batches()[:8])
    problems += schedule_problems(records, cfg.optim.lr, cfg.loss.beta,
                                  cfg.loss.beta_warmup_steps)
    return build_trace(config_name, seed, records, probe_values, valid_auroc,
                       cfg.optim.gradient_clip_val, profile.warmup_steps, health, problems,
                       seconds)


def build_trace(config_name: str, seed: int, records: list[dict], probe: list[float],
                valid_auroc: float, clip_value: float, warmup_steps: int,
                health: PosteriorHealth, problems: list[Problem], seconds: float) -> RunTrace:
    """A RunTrace from a run's raw material: the learning and gradient statistics are derived
    here, so a run traced in this process and one rebuilt from another checkout's worker
    (`seqsetvae gate`) are measured alike."""
    grads = gradient_report([r["grad_norm"] for r in records], clip_value,
                            [r["applied_norm"] for r in records], warmup_steps)
    return RunTrace(config_name, seed, records, probe, learning_report(probe, valid_auroc),
                    grads, health, problems, seconds)
