"""SeqSetVAE: a set-VAE per timestamp, a causal transformer over time, a mortality head.

Shapes: B patients, S sets (timestamps) per patient, N events per set, D model width,
L latent size. Every set of every patient goes through the set encoder in one call.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..config import LossConfig, ModelConfig
from ..data.collate import Batch
from .layers import ISAB, PMA, Dropout, Packing, TimeEncoding
from .losses import focal_loss, free_bits_kl, gaussian_kl_per_dim, reconstruction_loss

# the scalar loss terms of ModelOutput, in the order the trainer logs them
LOSS_TERMS = ("loss", "recon", "kl", "kl_objective", "cls")


@dataclass
class ModelOutput:
    loss: torch.Tensor  # scalar: recon_weight * recon + beta * kl_objective + cls_weight * cls
    recon: torch.Tensor  # scalar: mean Huber per real event
    kl: torch.Tensor  # scalar: KL per set summed over dims (nats), batch-averaged, no free bits
    kl_objective: torch.Tensor  # scalar: the free-bits KL that enters the loss
    cls: torch.Tensor  # scalar: focal loss or cross-entropy
    beta: float  # KL weight used for this step (after warm-up)
    logits: torch.Tensor  # [B]
    kl_per_dim: torch.Tensor  # [L] batch-averaged KL of each latent dimension
    mu: torch.Tensor  # [B, S, L]
    logvar: torch.Tensor  # [B, S, L]
    z: torch.Tensor  # [B, S, L] sample (train) or posterior mean (eval)
    recon_pred: torch.Tensor  # [B, S, N] predicted z-scored value of each event


class SeqSetVAE(nn.Module):
    def __init__(self, num_variables: int, model_cfg: ModelConfig | None = None,
                 loss_cfg: LossConfig | None = None, embeddings: torch.Tensor | None = None):
        super().__init__()
        cfg = self.cfg = model_cfg or ModelConfig()
        self.loss_cfg = loss_cfg or LossConfig()
        d, latent = cfg.model_dim, cfg.latent_dim
        if embeddings is not None:  # cached.csv: frozen, projected to the model width
            if embeddings.shape[0] != num_variables:
                raise ValueError(f"embedding table has {embeddings.shape[0]} rows for "
                                 f"{num_variables} variables")
            self.var_emb = nn.Embedding.from_pretrained(embeddings.float(), freeze=True)
        else:
            self.var_emb = nn.Embedding(num_variables, d)
        emb_dim = self.var_emb.embedding_dim
        # identity + value are added, so a value at the variable's mean (0) keeps its identity
        self.var_proj = nn.Linear(emb_dim, d)
        self.value_proj = nn.Linear(1, d)
        self.set_encoder = nn.ModuleList(
            ISAB(d, cfg.set_heads, cfg.num_inducing, cfg.dropout) for _ in range(cfg.levels))
        self.pool = PMA(d, cfg.set_heads, cfg.dropout)
        self.posterior = nn.Linear(d, 2 * latent)
        # posterior means start at about N(0, 0.2^2): close enough to the prior that the KL term
        # does not dwarf the others at step 0, far enough that latents differ between sets
        nn.init.normal_(self.posterior.weight, std=0.2 / d**0.5)
        nn.init.zeros_(self.posterior.bias)

        self.z_in = nn.Linear(latent, d)
        self.time = TimeEncoding(d, cfg.time_scale_minutes)
        layer = nn.TransformerEncoderLayer(d, cfg.transformer_heads, cfg.ff_dim, cfg.dropout,
                                           activation="gelu", batch_first=True, norm_first=True)
        # the layer's residual and feed-forward dropouts draw layers.dropout's cheaper mask
        layer.dropout, layer.dropout1, layer.dropout2 = (Dropout(cfg.dropout) for _ in range(3))
        self.transformer = nn.TransformerEncoder(layer, cfg.transformer_layers,
                                                 enable_nested_tensor=False)
        self.final_norm = nn.LayerNorm(d)
        self.head = nn.Sequential(nn.Linear(d, d), nn.GELU(), nn.Linear(d, 1))

        self.dec_z = nn.Linear(latent, d)
        self.dec_var = nn.Linear(emb_dim, d)
        self.dec_out = nn.Sequential(nn.GELU(), nn.Linear(d, d), nn.GELU(), nn.Linear(d, 1))

    # -- pieces (the per-set loop reference in tests/ calls these one set at a time) ---------
    def embed_events(self, var_idx: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        return self.var_proj(self.var_emb(var_idx)) + self.value_proj(values.unsqueeze(-1))

    def encode_sets(self, x: torch.Tensor, event_mask: torch.Tensor):
        """x [M, N, D] events of M sets -> (mu, logvar) [M, L]. Empty sets read a padding slot so
        attention never sees an all-masked row (their outputs are ignored downstream)."""
        key_mask = event_mask.clone()
        key_mask[:, 0] |= ~event_mask.any(dim=1)
        at = Packing(key_mask)
        rows = at.pack(x)  # the blocks compute real events only (see layers.py)
        for block in self.set_encoder:
            rows = block(rows, at)
        mu, raw = self.posterior(self.pool(rows, at)).chunk(2, dim=-1)
        bound = self.cfg.logvar_bound
        return mu, bound * torch.tanh(raw / bound)

    def sample(self, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return mu
        return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)

    def sequence(self, z: torch.Tensor, times: torch.Tensor) -> torch.Tensor:
        """z [B, S, L], times [B, S] -> causal hidden states [B, S, D]. Sets are left-aligned,
        so the causal mask alone keeps real sets from seeing padding or the future."""
        h = self.z_in(z) + self.time(times)
        causal = nn.Transformer.generate_square_subsequent_mask(h.shape[1], device=h.device,
                                                                dtype=h.dtype)
        return self.final_norm(self.transformer(h, mask=causal, is_causal=True))

    def classify(self, h_last: torch.Tensor) -> torch.Tensor:
        return self.head(h_last).squeeze(-1)

    def decode(self, z: torch.Tensor, var_idx: torch.Tensor) -> torch.Tensor:
        """Predict each event's value from its set's z and its variable: [..., N]."""
        query = self.dec_var(self.var_emb(var_idx))
        return self.dec_out(self.dec_z(z).unsqueeze(-2) + query).squeeze(-1)

    def beta_at(self, step: int | None) -> float:
        lc = self.loss_cfg
        if step is None or lc.beta_warmup_steps <= 0:
            return lc.beta
        return lc.beta * min(1.0, step / lc.beta_warmup_steps)

    # -- full model -------------------------------------------------------------------------
    def forward(self, batch: Batch, step: int | None = None, z_override: torch.Tensor | None = None
                ) -> ModelOutput:
        """``step``: optimizer step for the beta warm-up (None = full beta).
        ``z_override``: decode and classify from given latents (the collapse intervention probe)."""
        b, s, n = batch.var_idx.shape
        x = self.embed_events(batch.var_idx, batch.values).reshape(b * s, n, -1)
        mu, logvar = self.encode_sets(x, batch.event_mask.reshape(b * s, n))
        mu, logvar = mu.reshape(b, s, -1), logvar.reshape(b, s, -1)
        z = self.sample(mu, logvar) if z_override is None else z_override

        h = self.sequence(z, batch.times)
        last = (batch.set_mask.sum(dim=1) - 1).clamp_min(0)
        logits = self.classify(h[torch.arange(b, device=h.device), last])
        recon_pred = self.decode(z, batch.var_idx)
        return self.losses(batch, mu, logvar, z, logits, recon_pred, step)

    def losses(self, batch, mu, logvar, z, logits, recon_pred, step) -> ModelOutput:
        lc = self.loss_cfg
        recon = reconstruction_loss(recon_pred.float(), batch.values, batch.event_mask,
                                    lc.recon_clip)
        set_w = batch.set_mask.to(torch.float32).unsqueeze(-1)
        kl_sets = gaussian_kl_per_dim(mu.float(), logvar.float()) * set_w
        kl_per_dim = kl_sets.sum(dim=(0, 1)) / set_w.sum().clamp_min(1.0)
        kl_objective = free_bits_kl(kl_per_dim, lc.free_bits)
        logits32 = logits.float()
        if lc.use_focal_loss:
            cls = focal_loss(logits32, batch.labels, lc.focal_alpha, lc.focal_gamma)
        else:
            cls = F.binary_cross_entropy_with_logits(logits32, batch.labels)
        beta = self.beta_at(step)
        loss = lc.recon_weight * recon + beta * kl_objective + lc.cls_weight * cls
        return ModelOutput(loss=loss, recon=recon, kl=kl_per_dim.sum(), kl_objective=kl_objective,
                           cls=cls, beta=beta, logits=logits, kl_per_dim=kl_per_dim, mu=mu,
                           logvar=logvar, z=z, recon_pred=recon_pred)


def build_model(num_variables: int, config, embeddings: torch.Tensor | None = None) -> SeqSetVAE:
    return SeqSetVAE(num_variables, config.model, config.loss, embeddings)
