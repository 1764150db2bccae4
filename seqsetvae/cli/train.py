"""`seqsetvae train`: the seed guide's flags plus presets, overrides, resume and precision."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist

from ..config import PRECISIONS
from ..data.errors import DataError, DatasetInvalid
from ..train import rundir
from ..train.checkpoint import CheckpointError
from ..train.state import Stop
from ..train.trainer import RunOptions, Trainer, TrainingError
from .common import (
    ARGS_ERROR,
    NONFINITE_ERROR,
    RUN_ERROR,
    add_config_flags,
    add_data_source_flags,
    data_source,
    default_device,
    fail,
    flag,
    format_finding,
    positive_int,
    resolved_config,
)


def embedding_tensor(source, variables: list[str]) -> torch.Tensor | None:
    table = source.embeddings()
    if table is None:
        return None
    missing = [v for v in variables if v not in table.index]
    if missing:
        raise DataError(f"{source.embeddings_path}: no embedding row for variable(s) "
                        f"{missing[:10]}")
    return torch.from_numpy(table.loc[variables].to_numpy())


def validate_or_exit(source) -> None:
    """Run the dataset checks before the first step; errors stop the run with their locations."""
    from ..validation import validate_dataset

    report = validate_dataset(source, splits=("train", "valid"))
    for finding in report.warnings:
        print(format_finding(finding), file=sys.stderr)
    if report.errors:
        lines = "\n".join(f"  {format_finding(f)}" for f in report.errors)
        raise DatasetInvalid(f"the dataset has {len(report.errors)} error(s):\n{lines}")


def cmd_train(args) -> int:
    if args.resume is not None and args.overwrite:
        return fail(args, "--resume continues the run in --out, --overwrite moves it aside: "
                    "give one of them", ARGS_ERROR)
    cfg = resolved_config(args)
    overrides = {k: getattr(args, k) for k in ("batch_size", "max_epochs", "precision")
                 if getattr(args, k) is not None}
    cfg = cfg.replace(**overrides)
    try:
        with rundir.claim(args.out, resume=args.resume is not None,
                          overwrite=args.overwrite) as run_dir:
            return train_in(run_dir, cfg, args)
    except rundir.RunDirError as exc:
        return fail(args, exc, ARGS_ERROR)
    except rundir.NotWritable as exc:
        return fail(args, exc, RUN_ERROR)


def train_in(run_dir: rundir.RunDir, cfg, args) -> int:
    """Check and load the data, then train into the claimed run directory."""
    source = data_source(args)
    if not args.skip_checks:
        validate_or_exit(source)
    stats, labels = source.stats(), source.labels()
    train = source.load("train", stats=stats, labels=labels)
    valid = source.load("valid", stats=stats, labels=labels)
    try:
        options = RunOptions(out_dir=args.out, device=default_device(args),
                             seed=args.seed, max_steps=args.max_steps,
                             checkpoint_every=args.checkpoint_every, progress=not args.no_progress,
                             tensorboard=args.tensorboard, max_sets=args.max_sets)
        trainer = Trainer(cfg, train, valid, options,
                          embeddings=embedding_tensor(source, train.variables))
        aside = run_dir.start_fresh()  # only now: a run that failed to start moved nothing
        if aside is not None:
            print(f"moved the previous run in {args.out} to {aside}", file=sys.stderr)
        summary = trainer.fit(resume_from=args.resume)
    except (TrainingError, CheckpointError) as exc:
        return fail(args, exc, RUN_ERROR)
    except OSError as exc:  # e.g. the disk filled up mid-run
        return fail(args, f"{exc.filename or args.out}: {exc.strerror or exc}", RUN_ERROR)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    if trainer.is_main:
        print(json.dumps(summary, indent=2, default=float))
    return NONFINITE_ERROR if trainer.state.stop is Stop.NONFINITE else 0


def register(sub) -> None:
    p = sub.add_parser("train", help="train SeqSetVAE",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_data_source_flags(p)
    add_config_flags(p)
    flag(p, "--batch_size", type=int, help="patients per micro-batch (overrides the config)")
    flag(p, "--max_epochs", type=int, help="overrides the config")
    flag(p, "--max_steps", type=positive_int, help="stop after this many optimizer steps")
    flag(p, "--out", type=Path, default=Path("runs/latest"), help="run directory")
    flag(p, "--resume", nargs="?", const="auto",
         help="resume from OUT/checkpoints/last.pt (falling back to last.prev.pt, then best.pt, "
              "if it is damaged; none yet: start fresh) or from FILE")
    flag(p, "--overwrite", action="store_true",
         help="if OUT already holds a run, move it aside to OUT.old-<time> (nothing is deleted) "
              "and start afresh; without this or --resume such an OUT is refused")
    flag(p, "--device", help="cpu or cuda (default: cuda when available)")
    flag(p, "--precision", choices=PRECISIONS, help="overrides the config")
    flag(p, "--seed", type=int, default=0)
    flag(p, "--checkpoint_every", type=positive_int, default=50,
         help="optimizer steps between checkpoints")
    flag(p, "--max_sets", type=positive_int, help="keep each patient's latest sets")
    flag(p, "--tensorboard", action="store_true")
    flag(p, "--no_progress", action="store_true")
    flag(p, "--skip_checks", action="store_true", help="do not validate the data first")
    p.set_defaults(func=cmd_train)
