"""A corpus of code-level faults, injected by patching (no file is edited), for the kill matrix.

Each fault is a realistic slip of one line in the model, trainer or data path. ``inject(name)``
returns the context manager that plants it; the suite runs a short training under it in a worker
process and asks which stability properties flag the run. Golden values are left out on purpose:
they flag any numeric change, so they say nothing about whether the properties would.
"""

from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass
from unittest import mock

import torch

from seqsetvae.model import layers, losses
from seqsetvae.model.seqsetvae import SeqSetVAE
from seqsetvae.train import trainer


@dataclass(frozen=True)
class Fault:
    name: str
    kind: str  # the class of fault (the list)
    what: str  # the slip, in words
    patch: callable  # () -> context manager


def _method(name, fn):
    return lambda: mock.patch.object(SeqSetVAE, name, fn)


def _function(target, fn):
    return lambda: mock.patch(target, fn)


_original_collate = trainer.collate
_original_sample = SeqSetVAE.sample
_original_decode = SeqSetVAE.decode
_original_encode_sets = SeqSetVAE.encode_sets
_original_keep_mask = layers.keep_mask


def _collate_then(edit):
    def collate(data, indices, max_sets=None):
        batch = _original_collate(data, indices, max_sets)
        return dataclasses.replace(batch, **edit(batch))
    return _function("seqsetvae.train.trainer.collate", collate)


def _sample_always(self, mu, logvar):
    return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)


def _sample_unit_noise(self, mu, logvar):
    return mu + torch.randn_like(mu) if self.training else mu


def _sample_variance_as_std(self, mu, logvar):
    return mu + torch.exp(logvar) * torch.randn_like(mu) if self.training else mu


def _sample_detached(self, mu, logvar):
    return _original_sample(self, mu.detach(), logvar.detach())


def _decode_without_z(self, z, var_idx):
    return _original_decode(self, torch.zeros_like(z), var_idx)


def _encode_attending_padding(self, x, event_mask):
    return _original_encode_sets(self, x, torch.ones_like(event_mask))


def _sequence_without_causal_mask(self, z, times):
    h = self.z_in(z) + self.time(times)
    return self.final_norm(self.transformer(h))


def _no_clip(parameters, max_norm, *args, **kwargs):
    grads = [p.grad for p in parameters if p.grad is not None]
    return torch.nn.utils.get_total_norm(grads)


def _keep_unscaled(shape, p, device):
    keep, _ = _original_keep_mask(shape, p, device)
    return keep, 1.0


def _shuffled_labels(batch):
    perm = torch.randperm(len(batch.labels), generator=torch.Generator().manual_seed(0))
    return {"labels": batch.labels[perm]}


FAULTS = [
    # KL / free bits / beta wiring
    Fault("kl_weight_always_zero", "KL / free bits / beta", "beta_at returns 0: the KL term "
          "never enters the loss", _method("beta_at", lambda self, step: 0.0)),
    Fault("free_bits_as_ceiling", "KL / free bits / beta", "free bits clamp the KL from above "
          "(clamp max instead of min)",
          _function("seqsetvae.model.seqsetvae.free_bits_kl",
                    lambda kl, fb: torch.clamp(kl, max=fb).sum())),
    Fault("kl_sign_flipped", "KL / free bits / beta", "the KL term is subtracted from the loss",
          _function("seqsetvae.model.seqsetvae.free_bits_kl",
                    lambda kl, fb: -torch.clamp(kl, min=fb).sum())),
    Fault("beta_warmup_uncapped", "KL / free bits / beta", "beta warm-up lacks min(1, .): beta "
          "keeps growing past its maximum",
          _method("beta_at", lambda self, step: self.loss_cfg.beta * (
              1.0 if step is None else step / max(self.loss_cfg.beta_warmup_steps, 1)))),
    # sampling and the reparameterisation
    Fault("noise_ignores_sigma", "sampling", "z = mu + eps: sigma is never applied",
          _method("sample", _sample_unit_noise)),
    Fault("variance_used_as_sigma", "sampling", "z = mu + exp(logvar) * eps (no square root)",
          _method("sample", _sample_variance_as_std)),
    Fault("sampling_in_eval", "sampling", "eval mode samples instead of using the posterior "
          "mean", _method("sample", _sample_always)),
    Fault("reparam_detached", "sampling", "mu and logvar detached before sampling: the encoder "
          "learns from the KL alone", _method("sample", _sample_detached)),
    Fault("dropout_not_rescaled", "sampling", "dropout zeroes elements but does not scale the "
          "kept ones by 1 / (1 - p): train-mode outputs shrink by 1 - p",
          _function("seqsetvae.model.layers.keep_mask", _keep_unscaled)),
    # gradient flow between encoder, decoder and head
    Fault("decoder_ignores_z", "gradient flow", "the decoder reads zeros instead of z",
          _method("decode", _decode_without_z)),
    Fault("classifier_loss_detached", "gradient flow", "the classification term is detached "
          "(no gradient reaches the head)",
          _function("seqsetvae.model.seqsetvae.focal_loss",
                    lambda *a, **k: losses.focal_loss(*a, **k).detach())),
    # optimizer, schedule, clipping, gradient zeroing
    Fault("clipping_disabled", "optimizer / schedule / clipping", "clip_grad_norm_ measures "
          "the norm but never rescales", _function("torch.nn.utils.clip_grad_norm_", _no_clip)),
    Fault("lr_stays_zero", "optimizer / schedule / clipping", "the schedule's factor is 0 at "
          "every step", _function("seqsetvae.train.optim.lr_factor", lambda *a: 0.0)),
    Fault("grads_never_zeroed", "optimizer / schedule / clipping", "zero_grad is never called: "
          "gradients accumulate across steps",
          lambda: mock.patch.object(torch.optim.Optimizer, "zero_grad",
                                    lambda self, set_to_none=True: None)),
    Fault("lr_warmup_uncapped", "optimizer / schedule / clipping", "linear warm-up never stops: "
          "the learning rate keeps rising",
          _function("seqsetvae.train.optim.lr_factor", lambda step, warm, total, floor:
                    (step + 1) / max(warm, 1))),
    # label and value handling in the data path
    Fault("labels_shuffled", "data path", "labels permuted within each training batch",
          _collate_then(_shuffled_labels)),
    Fault("values_zeroed", "data path", "every value arrives as 0 (read from the wrong column)",
          _collate_then(lambda b: {"values": torch.zeros_like(b.values)})),
    # masking and causality
    Fault("event_padding_attended", "masking / causality", "the set encoder's key mask is "
          "all True: padding events are attended", _method("encode_sets",
                                                            _encode_attending_padding)),
    Fault("causal_mask_dropped", "masking / causality", "the transformer runs without its "
          "causal mask: sets see the future", _method("sequence", _sequence_without_causal_mask)),
    Fault("recon_counts_padding", "masking / causality", "the reconstruction loss averages over "
          "padding slots too", _function("seqsetvae.model.seqsetvae.reconstruction_loss",
                                         lambda pred, target, mask, clip:
                                         losses.reconstruction_loss(pred, target,
                                                                    torch.ones_like(mask), clip))),
]
FAULTS_BY_NAME = {f.name: f for f in FAULTS}


def inject(name: str) -> contextlib.AbstractContextManager:
    """The context manager that plants fault ``name`` (module-level, so picklable by name)."""
    return FAULTS_BY_NAME[name].patch()

