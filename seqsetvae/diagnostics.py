"""Training diagnostics with the seed guide's API, each finding tied to a config field to change.

    grads = analyze_gradients(model)                  # after loss.backward()
    losses = analyze_loss_components(outputs)
    params = analyze_parameter_distributions(model)
    print(generate_diagnostic_report(model, grads, losses, params))
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from .stability.collapse import PosteriorHealth
from .stability.gradients import gradient_report
from .stability.verdicts import (
    clip_findings,
    clip_tightness_findings,
    collapse_findings,
    gradient_findings,
)


def _top_level(name: str) -> str:
    return name.split(".")[0]


def analyze_gradients(model: nn.Module) -> dict:
    """True global L2 norm over all gradients plus a per-module table (top-level children)."""
    per_module: dict[str, list[torch.Tensor]] = {}
    nonfinite, missing = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if p.grad is None:
            missing.append(name)
            continue
        g = p.grad.detach().float()
        if not torch.isfinite(g).all():
            nonfinite.append(name)
        per_module.setdefault(_top_level(name), []).append(g)
    table = {}
    total_sq = 0.0
    for module, grads in per_module.items():
        sq = sum(float(g.square().sum()) for g in grads)
        total_sq += sq
        table[module] = {"norm": math.sqrt(sq), "max_abs": max(float(g.abs().max()) for g in grads),
                         "params": sum(g.numel() for g in grads)}
    return {"global_norm": math.sqrt(total_sq), "modules": table, "nonfinite": nonfinite,
            "without_grad": missing}


def analyze_loss_components(outputs) -> dict:
    """Each term of the objective and its share of the total (ModelOutput or a dict)."""
    get = (lambda k: outputs[k]) if isinstance(outputs, dict) else (lambda k: getattr(outputs, k))
    def val(k: str) -> float:
        v = get(k)
        return float(v.detach()) if isinstance(v, torch.Tensor) else float(v)

    beta = val("beta")
    terms = {"recon": val("recon"), "beta_kl": beta * val("kl_objective"), "cls": val("cls")}
    total = sum(abs(v) for v in terms.values()) or 1.0
    return {"total": val("loss"), "kl_raw": val("kl"), "beta": beta, "terms": terms,
            "shares": {k: abs(v) / total for k, v in terms.items()},
            "finite": all(math.isfinite(v) for v in terms.values())}


def analyze_parameter_distributions(model: nn.Module) -> dict:
    table = {}
    for module, params in _group_params(model).items():
        flat = torch.cat([p.detach().float().flatten() for p in params])
        finite = flat[torch.isfinite(flat)]
        table[module] = {"mean": float(finite.mean()) if len(finite) else float("nan"),
                         "std": float(finite.std()) if len(finite) > 1 else 0.0,
                         "max_abs": float(finite.abs().max()) if len(finite) else float("nan"),
                         "nonfinite": int(len(flat) - len(finite)), "params": len(flat)}
    return table


def _group_params(model: nn.Module) -> dict[str, list[torch.Tensor]]:
    groups: dict[str, list[torch.Tensor]] = {}
    for name, p in model.named_parameters():
        groups.setdefault(_top_level(name), []).append(p)
    return groups


@dataclass
class Finding:
    severity: str  # "problem" or "note"
    what: str
    recommendation: str

    def __str__(self) -> str:
        return f"[{self.severity}] {self.what}\n    -> {self.recommendation}"


@dataclass
class DiagnosticReport:
    findings: list[Finding]
    gradients: dict
    losses: dict
    parameters: dict
    posterior: dict | None = None
    run: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        lines = ["SeqSetVAE diagnostic report", "=" * 27,
                 "loss terms: " + ", ".join(f"{k} {v:.4g} ({self.losses['shares'][k]:.0%})"
                                             for k, v in self.losses["terms"].items()),
                 f"global gradient norm: {self.gradients['global_norm']:.4g}"]
        if self.posterior:
            p = self.posterior
            lines.append(f"posterior: {p['active_units']}/{p['latent_dim']} active units, "
                         f"KL/dim {p['kl_per_dim_mean']:.4f}, MI {p['mutual_information']:.3f}")
        for key, value in self.run.items():
            lines.append(f"{key}: {value}")
        lines.append("")
        lines += [str(f) for f in self.findings] or ["no problems found"]
        return "\n".join(lines)


def generate_diagnostic_report(model: nn.Module, gradient_stats: dict, loss_components: dict,
                               param_stats: dict, posterior: PosteriorHealth | None = None,
                               config=None, grad_norm_history=None,
                               applied_norm_history=None) -> DiagnosticReport:
    """Turn the analyses into findings, each naming the config field to change and why. The
    verdicts are those of the stability suite (seqsetvae.stability.verdicts)."""
    f: list[Finding] = []
    clip = config.optim.gradient_clip_val if config is not None else None
    if gradient_stats["nonfinite"] or not loss_components["finite"]:
        f.append(Finding("problem", f"non-finite gradients in {gradient_stats['nonfinite'][:5]} "
                         "or non-finite loss terms",
                         "lower `lr`, use precision=fp32, and run `seqsetvae check-data` for "
                         "NaN/Inf in the inputs"))
    bad_params = [m for m, s in param_stats.items() if s["nonfinite"]]
    if bad_params:
        f.append(Finding("problem", f"non-finite parameters in {bad_params}",
                         "resume from the last good checkpoint and lower `lr`"))
    if grad_norm_history is not None and clip is not None:
        report = gradient_report(grad_norm_history, clip, applied_norm_history)
        for text in clip_tightness_findings(report):
            f.append(Finding("problem", text, "the clip is too tight and every update is "
                             "rescaled: raise `gradient_clip_val` (the guide uses 1.0)"))
        for text in clip_findings(report):
            f.append(Finding("problem", text, "the optimizer steps with unclipped gradients: "
                             "check that clipping runs after unscaling and before the step"))
        for text in gradient_findings(report):
            f.append(Finding("problem", text, "lower `lr` or increase `warmup_steps`; keep "
                             "clipping on"))
    elif clip and gradient_stats["global_norm"] > 10 * clip:
        f.append(Finding("note", f"global gradient norm {gradient_stats['global_norm']:.3g} is "
                         f"over 10x gradient_clip_val={clip}", "if this persists, lower `lr`"))
    shares = loss_components["shares"]
    dominant = max(shares, key=shares.get)
    if shares[dominant] > 0.9:
        field_name = {"recon": "recon_weight", "beta_kl": "beta", "cls": "cls_weight"}[dominant]
        f.append(Finding("note", f"{dominant} is {shares[dominant]:.0%} of the objective",
                         f"the other terms barely steer training: consider lowering "
                         f"`{field_name}`"))
    if posterior is not None:
        for text in collapse_findings(posterior):
            f.append(Finding("problem", f"posterior collapse: {text}",
                             "raise `free_bits` (e.g. 0.1), lower `beta`, or lengthen "
                             "`beta_warmup_steps`"))
    tiny = [m for m, s in gradient_stats["modules"].items() if s["norm"] < 1e-8]
    if tiny:
        f.append(Finding("note", f"vanishing gradients in {tiny}",
                         "check that these modules are used; consider fewer "
                         "`transformer_layers`"))
    return DiagnosticReport(f, gradient_stats, loss_components, param_stats,
                            posterior.to_dict() if posterior is not None else None)
