"""What the stability tests share besides fixtures: the built-in synthetic cohort, the main
configs, the positive controls and how a named config is built. Tests import from here, never
from conftest.py (several suites have one, and a combined pytest call loads them all)."""

from __future__ import annotations

from seqsetvae.config import Config
from seqsetvae.data.builtin import SyntheticSpec
from seqsetvae.stability.runs import profile_config

SYNTHETIC = SyntheticSpec(patients=240, max_sets=16, seed=0)
# Deliberately broken configs: each property's check must flag its control.
# name -> (preset, absolute overrides, factor on the profile's learning rate)
CONTROLS = {
    "noisier": ("baseline", {}, 2.0),  # 2x the baseline learning rate: still learns
    "frozen": ("baseline", {"lr": 0.0}, 1.0),  # nothing can be learned
    "collapse_prone": ("optimized", {"beta": 5.0, "free_bits": 0.0, "lr": 1e-3}, 1.0),
    "exploding": ("baseline", {"lr": 1.0, "gradient_clip_val": 0.0, "weight_decay": 0.0}, 1.0),
}
CONTROL_SEEDS = (0, 1, 2)
MAIN_CONFIGS = ("optimized", "baseline")


def has_ground_truth(dataset: str) -> bool:
    """Only the synthetic data has labels a model is known to be able to predict."""
    return dataset == "synthetic"


def run_config(name: str, settings) -> Config:
    """A main preset or a control at the session's profile and precision."""
    preset, overrides, lr_factor = CONTROLS.get(name, (name, {}, 1.0))
    cfg = profile_config(preset, settings["profile"], precision=settings["precision"],
                         **overrides)
    return cfg.replace(lr=cfg.optim.lr * lr_factor) if lr_factor != 1.0 else cfg
