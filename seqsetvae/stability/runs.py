"""Short seeded training runs traced on fixed probe batches: the raw material of every check.

A profile fixes sizes and lengths; the three presets keep every knob of DESIGN.md section 4.
The quick profile shrinks widths (model_dim 256 -> 64, ff_dim / 4, latent 256 -> 16) and
schedule lengths so the whole suite runs on a 2-core laptop; the full profile uses true sizes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from ..config import Config, load_config
from ..data.collate import collate
from ..data.packed import PackedData
from ..train.trainer import RunOptions, Trainer, precision_context
from .collapse import PosteriorHealth, posterior_health
from .contract import contract_problems
from .gradients import GradientReport, gradient_report


@dataclass(frozen=True)
class Profile:
    name: str
    steps: int  # optimizer steps per run
    seeds: tuple[int, ...]
    warmup_steps: int  # LR and beta warm-up; the variability statistic skips these steps
    probe_patients: int  # fixed probe set (from the validation split)
    shrink: dict = field(default_factory=dict)  # size overrides (ff_dim is scaled, see below)


PROFILES = {
    "quick": Profile("quick", steps=40, seeds=tuple(range(6)), warmup_steps=5, probe_patients=32,
                     shrink=dict(model_dim=64, latent_dim=16, num_inducing=8)),
    "full": Profile("full", steps=300, seeds=tuple(range(10)), warmup_steps=50,
                    probe_patients=128),
}


def profile_config(name_or_path: str, profile: Profile, **overrides) -> Config:
    cfg = load_config(name_or_path)
    shrink = dict(profile.shrink)
    if "model_dim" in shrink:  # keep each preset's ff_dim : model_dim ratio (512/256 vs 256/256)
        shrink["ff_dim"] = max(8, cfg.get("ff_dim") * shrink["model_dim"] // cfg.get("model_dim"))
    schedule = dict(warmup_steps=profile.warmup_steps, beta_warmup_steps=profile.warmup_steps,
                    max_epochs=10_000)
    return cfg.replace(**{**shrink, **schedule, **overrides})


def probe_batch(data: PackedData, patients: int, device="cpu"):
    """The first `patients` patients, always the same: a fixed yardstick for every run."""
    return collate(data, np.arange(min(patients, len(data)))).to(device)


@torch.no_grad()
def probe_loss(model, batch) -> float:
    """Reconstruction per event + binary cross-entropy, in eval mode: unweighted by recon_weight,
    beta or focal settings, so configs with different loss weights are measured alike."""
    was_training = model.training
    model.eval()
    out = model(batch)
    model.train(was_training)
    return float(out.recon + F.binary_cross_entropy_with_logits(out.logits.float(), batch.labels))


@dataclass
class RunTrace:
    config_name: str
    seed: int
    records: list[dict]  # the trainer's per-step records
    probe: list[float]  # probe loss after each optimizer step (index 0: before training)
    gradients: GradientReport
    posterior: PosteriorHealth
    contract_problems: list[str]

    def series(self, key: str) -> np.ndarray:
        return np.array([r[key] for r in self.records], dtype=float)


def traced_run_job(cfg_flat: dict, config_name: str, train: PackedData, probe_data: PackedData,
                   profile: Profile, seed: int, device: str = "cpu") -> RunTrace:
    """Picklable entry point for worker processes (one intra-op thread each)."""
    torch.set_num_threads(1)
    return traced_run(Config.from_flat(cfg_flat), config_name, train, probe_data, profile, seed,
                      device)


def traced_run(cfg: Config, config_name: str, train: PackedData, probe_data: PackedData,
               profile: Profile, seed: int, device: str = "cpu") -> RunTrace:
    options = RunOptions(seed=seed, device=device, max_steps=profile.steps, validate=False,
                         progress=False)
    trainer = Trainer(cfg, train, None, options)
    probe = probe_batch(probe_data, profile.probe_patients, device)
    probe_values = [probe_loss(trainer.model, probe)]
    records: list[dict] = []

    def on_step(t: Trainer, record: dict) -> None:
        records.append(record)
        if record["finite"]:
            probe_values.append(probe_loss(t.model, probe))

    trainer.on_step = on_step
    trainer.fit()
    health = posterior_health(trainer.model, probe, mi_sets=256, seed=seed)
    grads = gradient_report([r["grad_norm"] for r in records], cfg.get("gradient_clip_val"))
    with precision_context(cfg.get("precision"), trainer.device):
        problems = contract_problems(trainer.model, probe, step=trainer.state.step)
    return RunTrace(config_name, seed, records, probe_values, grads, health, problems)
