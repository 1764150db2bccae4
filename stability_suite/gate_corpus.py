"""The before-merge gate tested by its own corpora: changes that must pass it and changes that it
must stop (the gate-calibration session, test_gate_calibration.py).

* Neutral: edits that change float rounding or a noise stream but not the distribution of
  training, as every refactor of the numerics does (a sum reordered, a kernel swapped, the seeds
  of dropout, data order or initialisation derived differently). Comparing any two of them is an
  A/A comparison: every "worse" is a false alarm.
* Regressions: moderate, realistic edits of the kinds a pull request brings (a schedule, a loss
  weight, regularisation, clipping, the architecture), each with the statistic it should move.

Each variant is a config override and/or a patch planted in the worker process around a run
(no file is edited), like the kill matrix's faults. ``variant(name)`` is module-level, so the
worker pool can pickle it by name.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from unittest import mock

import numpy as np
import torch
import torch.nn.functional as F

from seqsetvae.data.sampler import BucketBatchSampler
from seqsetvae.model import losses
from seqsetvae.train import optim, trainer


@dataclass(frozen=True)
class Variant:
    name: str
    kind: str  # neutral: what it changes; regression: the class of change
    what: str  # the edit, in words
    patch: callable | None = None  # () -> context manager planted around the run
    overrides: dict = field(default_factory=dict)  # preset fields the edit changes (absolute)
    scale: dict = field(default_factory=dict)  # preset fields the edit multiplies
    expected: str | None = None  # regressions: the statistic it should move (statistics.py key)


def _salted_noise_seed(salt: int):
    original = trainer.noise_seed
    return lambda: mock.patch.object(trainer, "noise_seed", lambda seed, epoch, micro:
                                     original(seed * 7919 + salt, epoch, micro))


def _salted_shuffle(salt: int):
    """The sampler's stream derived from (seed, salt): another data order, same distribution."""
    original = BucketBatchSampler.__init__

    def init(self, lengths, batch_size, shuffle=True, seed=0, **kwargs):
        derived = int(np.random.SeedSequence([seed, salt]).generate_state(1)[0])
        original(self, lengths, batch_size, shuffle=shuffle, seed=derived, **kwargs)
    return lambda: mock.patch.object(BucketBatchSampler, "__init__", init)


def _salted_init(salt: int):
    """Initial weights drawn from another stream (a module added or created in another order
    shifts every later draw); dropout and data order are reseeded from the run's seed later."""
    original = trainer.seed_everything
    return lambda: mock.patch.object(trainer, "seed_everything",
                                     lambda seed: original(seed * 104729 + salt))


def _attention_rescaled_values():
    """The set encoder's attention on values scaled by 3, the output divided back: rounding
    only (neither factor is a power of two)."""
    from seqsetvae.model import layers

    original = layers.attention

    def attention(q, k, v, key_mask, dropout_p):
        return original(q, k, v * 3.0, key_mask, dropout_p) / 3.0
    return mock.patch.object(layers, "attention", attention)


def _kl_in_float64():
    def kl(mu, logvar):
        return losses.gaussian_kl_per_dim(mu.double(), logvar.double()).to(mu.dtype)
    return mock.patch("seqsetvae.model.seqsetvae.gaussian_kl_per_dim", kl)


def _recon_mean_of_selected():
    """The reconstruction mean taken over the selected real events (another summation order)."""
    def reconstruction_loss(pred, target, mask, clip):
        err = F.huber_loss(pred, target.clamp(-clip, clip), reduction="none", delta=1.0)
        return err[mask].mean() if mask.any() else err.sum() * 0
    return mock.patch("seqsetvae.model.seqsetvae.reconstruction_loss", reconstruction_loss)


def _layer_norm_by_hand():
    """Layer norm written out (mean, biased variance, rsqrt) instead of the fused kernel."""
    def layer_norm(x, shape, weight=None, bias=None, eps=1e-5):
        dims = tuple(range(-len(shape), 0))
        mean = x.mean(dims, keepdim=True)
        var = (x - mean).square().mean(dims, keepdim=True)
        y = (x - mean) * torch.rsqrt(var + eps)
        return y * weight + bias if weight is not None else y
    return mock.patch("torch.nn.functional.layer_norm", layer_norm)


def _unfused_adamw():
    """AdamW's per-tensor-group (foreach) kernels instead of the fused one."""
    def build_optimizer(model, cfg):
        groups = optim.param_groups(model, cfg.optim.weight_decay)
        return torch.optim.AdamW(groups, lr=cfg.optim.lr, fused=False, foreach=True)
    return mock.patch("seqsetvae.train.trainer.build_optimizer", build_optimizer)


def _focal_from_logsigmoid():
    """Focal loss computed from log-sigmoids instead of exp(-BCE): rounding only."""
    def focal_loss(logits, labels, alpha, gamma):
        log_p = F.logsigmoid(logits)
        log_q = F.logsigmoid(-logits)
        ce = -(labels * log_p + (1 - labels) * log_q)
        p_true = torch.where(labels == 1, log_p.exp(), log_q.exp())
        weight = labels * alpha + (1 - labels) * (1 - alpha)
        return (weight * (1 - p_true).pow(gamma) * ce).mean()
    return mock.patch("seqsetvae.model.seqsetvae.focal_loss", focal_loss)


ROUNDING = [
    Variant("attention_rescaled_values", "rounding", "set attention on values x3, output / 3",
            _attention_rescaled_values),
    Variant("kl_in_float64", "rounding", "the Gaussian KL computed in float64", _kl_in_float64),
    Variant("recon_mean_of_selected", "rounding", "the reconstruction mean over selected events",
            _recon_mean_of_selected),
    Variant("layer_norm_by_hand", "rounding", "layer norm written out instead of the fused "
            "kernel", _layer_norm_by_hand),
    Variant("adamw_foreach", "rounding", "AdamW's foreach kernels instead of the fused one",
            _unfused_adamw),
    Variant("focal_from_logsigmoid", "rounding", "the focal loss from log-sigmoids",
            _focal_from_logsigmoid),
]


def stream_variants(count: int, first_salt: int = 1) -> list[Variant]:
    """``count`` noise-stream edits, cycling through dropout/sampling noise, data order and
    initialisation; each salt gives a stream of its own."""
    makers = [("noise", "the per-micro-batch noise seed derived with salt {s}", _salted_noise_seed),
              ("shuffle", "the data order derived with salt {s}", _salted_shuffle),
              ("init", "the initial weights drawn with salt {s}", _salted_init)]
    out = []
    for i in range(count):
        kind, what, make = makers[i % len(makers)]
        salt = first_salt + i
        out.append(Variant(f"{kind}_stream_{salt}", f"{kind} stream", what.format(s=salt),
                           make(salt)))
    return out


BASE = Variant("main", "none", "the code as it is")


def neutral_corpus(streams: int, first_salt: int = 1) -> list[Variant]:
    """The unchanged code, the rounding edits and ``streams`` noise-stream edits."""
    return [BASE, *ROUNDING, *stream_variants(streams, first_salt)]


def _extra_eval_forward():
    """A debug evaluation of each micro-batch left in the step: eval mode and no_grad, so it
    draws no random numbers and changes no gradient; it only costs time."""
    original = trainer.Trainer.batch

    def batch(self, indices):
        b = original(self, indices)
        was = self.model.training
        with torch.no_grad():
            self.model.eval()
            self.model(b)
        self.model.train(was)
        return b
    return lambda: mock.patch.object(trainer.Trainer, "batch", batch)


REGRESSIONS = [
    Variant("lr_doubled", "schedule", "the learning rate doubled", scale={"lr": 2.0},
            expected="within_run_noise"),
    Variant("no_lr_decay", "schedule", "the cosine decay removed (constant rate after warm-up)",
            overrides={"min_lr_ratio": 1.0}, expected="within_run_noise"),
    Variant("beta_x10", "loss weight", "the KL weight beta 0.01 -> 0.1",
            overrides={"beta": 0.1}, expected="kl_per_dim"),
    Variant("recon_weight_halved", "loss weight", "the reconstruction weight 1 -> 0.5",
            overrides={"recon_weight": 0.5}, expected="final_probe_loss"),
    Variant("dropout_0.3", "regularisation", "dropout 0.1 -> 0.3", overrides={"dropout": 0.3},
            expected="final_probe_loss"),
    Variant("free_bits_removed", "regularisation", "free bits 0.1 -> 0 nats per dimension",
            overrides={"free_bits": 0.0}, expected="kl_per_dim"),
    Variant("clip_quartered", "clipping", "the gradient clip 1.0 -> 0.25",
            overrides={"gradient_clip_val": 0.25}, expected="clipped_fraction"),
    Variant("clip_tenth", "clipping", "the gradient clip 1.0 -> 0.1",
            overrides={"gradient_clip_val": 0.1}, expected="probe_drop"),
    Variant("one_transformer_layer", "architecture", "the causal transformer 2 -> 1 layer",
            overrides={"transformer_layers": 1}, expected="final_probe_loss"),
    Variant("one_inducing_point", "architecture", "the set encoder's inducing points 4 -> 1 "
            "(the quick profile's 4, cut by the same factor as its earlier 8 -> 2)",
            overrides={"num_inducing": 1}, expected="final_probe_loss"),
    Variant("one_set_level", "architecture", "the set encoder 2 -> 1 ISAB level",
            overrides={"levels": 1}, expected="final_probe_loss"),
]
# A speed regression changes no statistic of training, only its speed: it is judged by the
# timed A/B rounds (the speed verdict), not by these runs.
SPEED_REGRESSION = Variant("debug_eval_forward", "speed", "an eval-mode forward of every "
                           "micro-batch left in the step", _extra_eval_forward(),
                           expected="steps_per_second")

VARIANTS = {v.name: v for v in [*neutral_corpus(60), *REGRESSIONS, SPEED_REGRESSION]}


def variant(name: str) -> contextlib.AbstractContextManager:
    """The context manager that plants variant ``name`` (module-level, picklable by name)."""
    patch = VARIANTS[name].patch
    return patch() if patch is not None else contextlib.nullcontext()


def variant_config(v: Variant, cfg):
    """The run's config with the variant's preset edits (scales on the profile's values)."""
    updates = dict(v.overrides)
    updates.update({k: cfg.to_flat()[k] * f for k, f in v.scale.items()})
    return cfg.replace(**updates) if updates else cfg
