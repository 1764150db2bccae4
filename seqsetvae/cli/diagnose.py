"""`seqsetvae diagnose --checkpoint F --data_dir DIR`: load a checkpoint, run a few batches and
print each finding with the config field to change."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from ..data import DataError, collate
from ..diagnostics import (
    analyze_gradients,
    analyze_loss_components,
    analyze_parameter_distributions,
    generate_diagnostic_report,
)
from ..model import build_model
from ..stability.collapse import posterior_health
from ..train.checkpoint import CheckpointError, first_line
from ..train.contents import read_run
from ..train.layout import RunLayout
from ..train.metrics import read_jsonl
from .common import add_data_source_flags, data_source, flag, positive_int


def cmd_diagnose(args) -> int:
    cfg, variables, weights, step = read_run(args.checkpoint)
    data = data_source(args).load(args.split)
    if list(data.variables) != variables:
        raise DataError(f"{args.checkpoint}: trained on variables {variables[:5]}..., the data "
                        f"has {list(data.variables)[:5]}...")
    if len(data) == 0:
        raise DataError(f"split {args.split!r} has no patients to diagnose")
    model = build_model(len(variables), cfg)
    try:
        model.load_state_dict(weights)
    except RuntimeError as exc:
        raise CheckpointError(f"{args.checkpoint}: weights do not fit the model its config "
                              f"describes ({first_line(exc)})") from None
    batch = collate(data, np.arange(min(args.patients, len(data))))

    model.train()
    torch.manual_seed(0)
    out = model(batch, step=step)
    out.loss.backward()
    report = generate_diagnostic_report(
        model, analyze_gradients(model), analyze_loss_components(out),
        analyze_parameter_distributions(model), posterior_health(model, batch), config=cfg,
        **_norm_history(Path(args.checkpoint)))
    report.run = {"checkpoint": str(args.checkpoint), "optimizer_step": step,
                  "patients": int(batch.labels.numel()), "split": args.split}
    print(json.dumps(report.to_dict(), indent=2, default=float) if args.json else report)
    return 0


def _norm_history(checkpoint: Path) -> dict:
    """Pre-clip and applied gradient norms from the run's metrics.jsonl, when it is there."""
    metrics = RunLayout.of_checkpoint(checkpoint).metrics
    if not metrics.is_file():
        return {}
    records = read_jsonl(metrics)
    applied = [r["applied_norm"] for r in records] if all("applied_norm" in r for r in records) \
        else None  # runs logged before the applied norm was recorded
    return {"grad_norm_history": [r["grad_norm"] for r in records],
            "applied_norm_history": applied}


def register(sub) -> None:
    p = sub.add_parser("diagnose", help="diagnose a checkpoint: gradients, losses, posterior")
    flag(p, "--checkpoint", type=Path, required=True)
    add_data_source_flags(p)
    flag(p, "--split", default="valid")
    flag(p, "--patients", type=positive_int, default=64, help="patients in the diagnostic batch")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_diagnose)
