"""A plain per-set loop implementation of SeqSetVAE's forward pass, for tests and benchmarks only.

It runs each set of each patient through the model's own modules one at a time, with no padding
and no masks: the obviously-correct version that the batched model must agree with.
"""

from __future__ import annotations

import torch

from seqsetvae.data.collate import Batch
from seqsetvae.model.seqsetvae import ModelOutput, SeqSetVAE


def reference_forward(model: SeqSetVAE, batch: Batch, step: int | None = None) -> ModelOutput:
    B, S, N = batch.var_idx.shape
    L = model.cfg.latent_dim
    mu = torch.zeros(B, S, L)
    logvar = torch.zeros(B, S, L)
    z = torch.zeros(B, S, L)
    recon_pred = torch.zeros(B, S, N)
    logits = []
    for b in range(B):
        n_sets = int(batch.set_mask[b].sum())
        zs = []
        for s in range(max(n_sets, 1)):  # a patient with no sets reads one empty padding set
            keep = batch.event_mask[b, s]
            if not keep.any():
                keep = torch.zeros_like(keep)
                keep[0] = True
            var, val = batch.var_idx[b, s][keep], batch.values[b, s][keep]
            x = model.embed_events(var, val).unsqueeze(0)
            m, lv = model.encode_sets(x, torch.ones(1, x.shape[1], dtype=torch.bool))
            zz = model.sample(m, lv)
            mu[b, s], logvar[b, s], z[b, s] = m[0], lv[0], zz[0]
            recon_pred[b, s, keep] = model.decode(zz[0], var)
            zs.append(zz[0])
        h = model.sequence(torch.stack(zs).unsqueeze(0), batch.times[b, : len(zs)].unsqueeze(0))
        logits.append(model.classify(h[0, -1]))
    return model.losses(batch, mu, logvar, z, torch.stack(logits), recon_pred, step)
