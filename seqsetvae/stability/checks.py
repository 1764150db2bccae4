"""The model's contract, checked on a trained model: each function returns a list of problems,
empty when the contract holds. Each problem is a ``Problem`` carrying the name of its check in
``CHECKS`` (printed as "loss: ...", "causality: ..."), so a report or the kill matrix reads which
checks fired from that field with ``check_names`` instead of parsing sentences.

Shapes, dtypes and finiteness of the outputs are ``seqsetvae.model.contract.output_problems``
(shared with the unit tests and the data validator). Beyond them, the contract covers what a
broken wiring would change without crashing: the loss is the documented sum of its terms (KL
recomputed here from mu and logvar, free bits per dimension, the configured beta), sampling draws
z = mu + sigma * eps with the sigma the KL uses (and z = mu in eval mode), outputs do not
depend on padding, on the order of events within a set, or on later sets (causality), and
dropout is unbiased in every place it drops (golden values cannot guard it: its random stream is
free to change).
"""

from __future__ import annotations

import contextlib
import functools
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..model import layers
from ..model.contract import output_problems

TOLERANCE = dict(rtol=1e-4, atol=1e-4)  # fp32 outputs that must be equal up to summation order

CHECKS = {
    "labels": "one label per patient, each 0 or 1, the labels file's",
    "values": "each patient's events and values reach its batch as loaded",
    "outputs": "every model output of its shape, floating point and finite",
    "loss": "each loss term, and their weighted sum, as documented",
    "sampling": "z = mu + sigma * eps in train mode, z = mu in eval mode",
    "invariance": "the invariance checks below could run on the model",
    "padding": "a patient's outputs do not depend on its batch mates' padding",
    "permutation": "a set's latent does not depend on the order of its events",
    "causality": "hidden states do not depend on later sets",
    "dropout": "train-mode dropout is unbiased: its mean over masks is the eval-mode output",
    "gradients": "finite gradients reaching every trained parameter, none left over after "
                 "the optimizer step",
    "schedule": "learning rate in (0, lr] and beta in [0, beta], at beta after warm-up",
}


@dataclass(frozen=True)
class Problem:
    """One contract violation: the check of CHECKS that found it, and what it found. Printed as
    "check: message", the text reports show."""
    check: str
    message: str

    def __str__(self) -> str:
        return f"{self.check}: {self.message}"


def check_names(problems: list[Problem]) -> list[str]:
    """The checks that fired, in CHECKS order; a problem naming no check is a bug here."""
    fired = {p.check for p in problems}
    unknown = fired - CHECKS.keys()
    if unknown:
        raise ValueError(f"problems that name no check of CHECKS: {sorted(unknown)}")
    return [name for name in CHECKS if name in fired]


def label_problems(labels: torch.Tensor, num_patients: int) -> list[Problem]:
    problems = []
    if labels.shape != (num_patients,):
        problems.append(Problem("labels", f"shape {tuple(labels.shape)}, expected "
                                f"({num_patients},) (one per patient)"))
    bad = ~((labels == 0) | (labels == 1))
    if bad.any():
        idx = bad.nonzero().flatten()[:5].tolist()
        problems.append(Problem("labels", f"values outside {{0, 1}} at batch positions {idx}: "
                                f"{labels.flatten()[idx].tolist()}"))
    return problems


def objective_problems(out, batch, loss_cfg) -> list[Problem]:
    """At full beta (step None) each loss term, recomputed here from the model's outputs as
    documented, matches what the model reports: reconstruction = mean Huber (delta 1) per real
    event on targets clipped to +-recon_clip; KL = set-averaged Gaussian KL of mu, logvar;
    classification = focal loss (alpha on the positive class) or cross-entropy; and
    loss = recon_weight * recon + beta * sum_d max(free_bits, KL_d) + cls_weight * cls."""
    lc = loss_cfg
    err = F.huber_loss(out.recon_pred.float(), batch.values.clamp(-lc.recon_clip, lc.recon_clip),
                       reduction="none", delta=1.0)
    recon = err[batch.event_mask].mean() if batch.event_mask.any() else err.sum() * 0
    mu, logvar = out.mu.float(), out.logvar.float()
    kl = 0.5 * (mu.square() + logvar.exp() - 1.0 - logvar)[batch.set_mask].mean(0)
    logits, y = out.logits.float(), batch.labels
    ce = F.binary_cross_entropy_with_logits(logits, y, reduction="none")
    if lc.use_focal_loss:
        p_true = torch.where(y == 1, torch.sigmoid(logits), 1 - torch.sigmoid(logits))
        ce = torch.where(y == 1, lc.focal_alpha, 1 - lc.focal_alpha) * (1 - p_true) \
            ** lc.focal_gamma * ce
    terms = {"recon": (out.recon, recon), "kl_per_dim": (out.kl_per_dim, kl),
             "cls": (out.cls, ce.mean())}
    terms["loss"] = (out.loss, lc.recon_weight * recon + lc.beta * kl.clamp_min(lc.free_bits).sum()
                     + lc.cls_weight * ce.mean())
    return [Problem("loss", f"{name} {_short(got)} differs from its definition {_short(want)}")
            for name, (got, want) in terms.items()
            if not torch.allclose(got.float(), want, rtol=1e-3, atol=1e-5)]


def _short(t: torch.Tensor) -> str:
    return f"{float(t):.6g}" if t.numel() == 1 else f"(sum {float(t.sum()):.6g})"


def sampling_problems(model, batch) -> list[Problem]:
    """Train mode: ``model.sample`` draws z = mu + exp(logvar / 2) * eps, checked on a grid of
    log-variances (a trained posterior may sit near logvar 0, where exp(logvar) and its square
    root agree). Eval mode: a forward pass returns z = mu."""
    problems = []
    mu = torch.linspace(-2, 2, 4096, device=batch.values.device)
    was_training = model.training
    model.train()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        for logvar_value in (-4.0, 0.0, 2.0):
            logvar = torch.full_like(mu, logvar_value)
            eps = (model.sample(mu, logvar).float() - mu) / math.exp(logvar_value / 2)
            mean, var = float(eps.mean()), float(eps.var())
            if abs(mean) > 0.1 or not 0.9 < var < 1.1:  # 4096 normals: SE 0.016 and 0.022
                problems.append(Problem("sampling", f"at logvar {logvar_value:g}, (z - mu) / "
                                        f"sigma has mean {mean:.3g} and variance {var:.3g}, "
                                        "expected 0 and 1"))
    model.eval()
    out = model(batch)
    if not torch.equal(out.z, out.mu):
        problems.append(Problem("sampling", "z is not the posterior mean in eval mode"))
    model.train(was_training)
    return problems


def batch_problems(make_batch, data, index_groups) -> list[Problem]:
    """The batches the trainer builds carry each patient's own label and events: labels equal the
    labels file's (via ``data``), and each patient's event count and value sum match its data."""
    problems = []
    for idx in index_groups:
        idx = np.asarray(idx)
        batch = make_batch(idx)
        labels = batch.labels.cpu()
        problems += label_problems(labels, len(idx))
        wrong = np.flatnonzero(labels.numpy() != np.asarray(data.labels)[idx])
        if len(wrong):
            problems.append(Problem("labels", f"the trainer's batch gives patients "
                                    f"{[str(data.patient_ids[idx[w]]) for w in wrong[:5]]} "
                                    "labels that differ from the labels file"))
        mask = batch.event_mask.cpu()
        counts = mask.sum((1, 2)).numpy()
        sums = (batch.values.cpu().double() * mask).sum((1, 2)).numpy()
        start, stop = data.event_offsets[data.set_offsets[idx]], \
            data.event_offsets[data.set_offsets[idx + 1]]
        want_sums = np.array([data.values[a:b].astype(float).sum() for a, b in zip(start, stop)])
        if not (np.array_equal(counts, stop - start) and np.allclose(sums, want_sums, atol=1e-3)):
            problems.append(Problem("values", "the trainer's batch does not carry each "
                                    "patient's events and values as loaded"))
    return sorted(set(problems), key=str)


def schedule_problems(records: list[dict], max_lr: float, max_beta: float,
                      beta_warmup_steps: int) -> list[Problem]:
    """From the per-step records: the learning rate the optimizer used stays in (0, lr] and
    beta in [0, beta], reaching beta once its warm-up is over."""
    lrs = np.array([r["lr"] for r in records], float)
    betas = np.array([r["beta"] for r in records], float)
    steps = np.array([r["step"] for r in records])
    problems = []
    if len(lrs) and not ((lrs > 0).all() and (lrs <= max_lr * (1 + 1e-6)).all()):
        problems.append(Problem("schedule", f"learning rate outside (0, {max_lr:g}]: "
                                f"min {lrs.min():.3g}, max {lrs.max():.3g}"))
    if len(betas) and not ((betas >= 0).all() and (betas <= max_beta * (1 + 1e-6)).all()):
        problems.append(Problem("schedule", f"beta outside [0, {max_beta:g}]: "
                                f"max {betas.max():.3g}"))
    done = betas[steps > beta_warmup_steps]
    if len(done) and not np.allclose(done, max_beta):
        problems.append(Problem("schedule", f"beta is not {max_beta:g} after its "
                                f"{beta_warmup_steps} warm-up steps (from {done.min():.3g} to "
                                f"{done.max():.3g})"))
    return problems


def invariance_problems(model, batch) -> list[Problem]:
    """In eval mode and fp32: a patient's outputs do not change with the padding its batch
    mates add, with the order of events in its sets, or with sets that come later in time."""
    model.eval()
    problems = []
    full = model(batch)
    # padding: the patient with the fewest sets, alone in a batch trimmed to its own size
    i = int(batch.set_mask.sum(1).argmin())
    s_i = int(batch.set_mask[i].sum())
    n_i = max(int(batch.event_mask[i, :s_i].sum(-1).max()), 1)
    alone = _select(batch, [i], s_i, n_i)
    one = model(alone)
    if not (torch.allclose(one.logits, full.logits[i:i + 1], **TOLERANCE)
            and torch.allclose(one.mu, full.mu[i:i + 1, :s_i], **TOLERANCE)):
        problems.append(Problem("padding", f"patient at batch position {i} gets other outputs "
                                "when its batch mates add padding (a mask is ignored)"))
    # permutation of events within every set (padding slots move too)
    perm = torch.randperm(batch.var_idx.shape[2], generator=torch.Generator().manual_seed(0))
    permuted = _select(batch, range(batch.var_idx.shape[0]), batch.var_idx.shape[1],
                       batch.var_idx.shape[2], event_order=perm.to(batch.var_idx.device))
    p = model(permuted)
    if not (torch.allclose(p.mu, full.mu, **TOLERANCE)
            and torch.allclose(p.logits, full.logits, **TOLERANCE)):
        problems.append(Problem("permutation", "reordering the events of a set changes its "
                                "latent or the prediction"))
    # causality: hidden states of the first k sets ignore sets k, k+1, ...
    k = max(int(batch.set_mask.sum(1).max()) // 2, 1)
    h_all = model.sequence(full.mu, batch.times)
    h_first = model.sequence(full.mu[:, :k], batch.times[:, :k])
    if not torch.allclose(h_all[:, :k], h_first, **TOLERANCE):
        problems.append(Problem("causality", f"hidden states of the first {k} sets change when "
                                "later sets are present (future leakage)"))
    return problems


DROPOUT_DRAWS = 32  # masks per dropping place
DROPOUT_MAX_Z = 6.0  # |bias| / its Monte Carlo standard error; 31 degrees of freedom


def dropout_problems(model, batch, draws: int = DROPOUT_DRAWS) -> list[Problem]:
    """Train-mode dropout keeps outputs unbiased, in fp32, at every place that drops: each dropout
    module with p > 0, on the input it receives from ``batch`` in one train-mode forward pass,
    and the set encoder's attention weights (``layers.attention`` on fixed queries, keys and
    values, with the batch's key mask). For each place, the train-mode output y_k of mask k is
    projected on the eval-mode output e: r_k = <y_k, e> / <e, e> has mean 1 when E[y] = e, and
    the mean of ``draws`` masks must be 1 within DROPOUT_MAX_Z of its standard error (measured
    from the r_k themselves)."""
    was_training = model.training
    inputs: dict[str, torch.Tensor] = {}
    droppers = {name: m for name, m in model.named_modules()
                if isinstance(m, (layers.Dropout, torch.nn.Dropout)) and m.p > 0}

    def capture(name):
        def hook(module, args):
            inputs.setdefault(name, args[0].detach().float().clone())
        return hook

    handles = [m.register_forward_pre_hook(capture(name)) for name, m in droppers.items()]
    problems = []
    try:
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            model.train()
            model(batch)
            for handle in handles:
                handle.remove()
            places = {f"{name} ({type(m).__name__})": (m, inputs[name])
                      for name, m in droppers.items() if name in inputs}
            missing = sorted(droppers.keys() - inputs.keys())
            if missing:  # a dropout module the forward pass never reached cannot be checked
                problems.append(Problem("dropout", f"modules {missing} drop (p > 0) but "
                                        "received no input"))
            for place, (module, x) in places.items():
                module.eval()
                want = module(x)
                module.train()
                problems += _unbiased(place, functools.partial(module, x), want, draws)
            p = float(model.cfg.dropout)
            if p > 0:
                q, k, v, key_mask = _attention_inputs(model, batch)
                want = layers.attention(q, k, v, key_mask, 0.0)
                problems += _unbiased("set attention weights (layers.attention)",
                                      lambda: layers.attention(q, k, v, key_mask, p), want, draws)
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return problems


def _unbiased(place: str, draw, want: torch.Tensor, draws: int) -> list[Problem]:
    want = want.float()
    norm = float(want.square().sum())
    if not norm > 0:
        return []  # an all-zero input is unchanged by any mask
    r = torch.tensor([float((draw().float() * want).sum()) / norm for _ in range(draws)],
                     dtype=torch.float64)
    mean, se = float(r.mean()), float(r.std()) / math.sqrt(draws)
    if not (math.isfinite(mean) and abs(mean - 1.0) <= DROPOUT_MAX_Z * se + 1e-6):
        return [Problem("dropout", f"{place}: the mean over {draws} masks is {mean:.4f} x the "
                        f"eval-mode output (standard error {se:.2g}), expected 1")]
    return []


def _attention_inputs(model, batch):
    """Fixed queries (one shared set, like inducing points), keys and values at the set
    encoder's shapes, and the key mask of the batch's sets."""
    cfg = model.cfg
    mask = batch.event_mask.reshape(-1, batch.event_mask.shape[-1]).clone()
    mask[:, 0] |= ~mask.any(dim=1)
    heads, dh = cfg.set_heads, cfg.model_dim // cfg.set_heads
    g = torch.Generator(device="cpu").manual_seed(0)
    q = torch.randn(1, heads, cfg.num_inducing, dh, generator=g).to(mask.device)
    k, v = (torch.randn(mask.shape[0], heads, mask.shape[1], dh, generator=g).to(mask.device)
            for _ in range(2))
    return q, k, v, mask


def _select(batch, patients, sets: int, events: int, event_order=None):
    idx = torch.as_tensor(list(patients), device=batch.var_idx.device)
    fields = {}
    for name in ("var_idx", "values", "event_mask"):
        t = getattr(batch, name)[idx, :sets, :events]
        fields[name] = t if event_order is None else t[..., event_order]
    for name in ("set_mask", "times"):
        fields[name] = getattr(batch, name)[idx, :sets]
    return type(batch)(**fields, labels=batch.labels[idx])


def stale_gradient_problems(model: torch.nn.Module) -> list[Problem]:
    """After an optimizer step the trainer clears every gradient; one left over would be added
    to the next step's."""
    stale = [name for name, p in model.named_parameters() if p.grad is not None]
    if stale:
        return [Problem("gradients", f"{len(stale)} parameters still hold a gradient after the "
                        f"optimizer step (e.g. {stale[0]}): the next step would add to it")]
    return []


def gradient_problems(model: torch.nn.Module) -> list[Problem]:
    """After a backward pass of the loss: every gradient finite, and every trainable parameter
    reached by one (a parameter the loss does not depend on, like a head behind a detached
    term, is never trained)."""
    problems = [Problem("gradients", f"{name} is not finite")
                for name, p in model.named_parameters()
                if p.grad is not None and not torch.isfinite(p.grad).all()]
    unreached = [name for name, p in model.named_parameters()
                 if p.requires_grad and p.grad is None]
    if unreached:
        problems.append(Problem("gradients", f"the loss does not reach {len(unreached)} "
                                f"trainable parameters (e.g. {unreached[0]}): they are never "
                                "trained"))
    return problems


def contract_problems(model, batch, precision_context=contextlib.nullcontext) -> list[Problem]:
    """Every contract violation of ``model`` on ``batch``. Outputs, objective, sampling and
    gradients are checked under ``precision_context()`` (the run's autocast); the invariances in
    fp32, where "unchanged" can be tested tightly. A check that cannot even run (a broken model
    raising) is itself a problem. Leaves the model in eval mode with no gradients."""
    model.zero_grad(set_to_none=True)
    problems = label_problems(batch.labels, batch.var_idx.shape[0])
    with torch.no_grad():
        model.eval()
        with precision_context():
            out = model(batch)
            problems += [Problem("outputs", p)
                         for p in output_problems(out, batch, model.cfg.latent_dim)]
            problems += _guarded("loss", objective_problems, out, batch, model.loss_cfg)
            problems += _guarded("sampling", sampling_problems, model, batch)
        problems += _guarded("invariance", invariance_problems, model, batch)
    problems += _guarded("dropout", dropout_problems, model, batch)
    model.train()
    with torch.random.fork_rng(devices=[]), precision_context():
        torch.manual_seed(0)
        loss = model(batch).loss
    if torch.isfinite(loss):
        loss.backward()
        problems += gradient_problems(model)
    model.zero_grad(set_to_none=True)
    model.eval()
    return problems


def _guarded(name: str, check, *args) -> list[Problem]:
    try:
        return check(*args)
    except (RuntimeError, ValueError, IndexError) as exc:
        return [Problem(name, f"the check could not run on this model's outputs "
                        f"({type(exc).__name__}: {str(exc).splitlines()[0]})")]
