"""The training loop: a flat, readable loop in the spirit of nanoGPT.

One optimizer step = ``gradient_accumulation_steps`` micro-batches of ``batch_size`` patients.
The order of operations per step is: forward/backward each micro-batch (autocast), unscale (fp16),
measure the pre-clip global norm, clip, skip the update if anything is non-finite, else step the
optimizer, the scaler and the LR schedule. Beta warm-up counts optimizer steps.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.distributed as dist
from tqdm.auto import tqdm

from ..config import Config, save_config
from ..data.collate import Batch, collate
from ..data.packed import PackedData
from ..data.sampler import BucketBatchSampler
from ..model import SeqSetVAE, build_model
from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .metrics import JsonlWriter, auprc, auroc
from .optim import build_optimizer, build_scheduler

LOSS_KEYS = ("loss", "recon", "kl", "kl_objective", "cls")


class TrainingError(RuntimeError):
    """A run that cannot start or had to stop; the message says why."""


@dataclass
class RunOptions:
    """Run settings that are not part of the model/loss/optimisation config."""

    out_dir: Path | None = None  # None: train in memory, write nothing
    device: str = "cpu"
    seed: int = 0
    max_steps: int | None = None  # optimizer steps; None = max_epochs
    checkpoint_every: int = 50  # optimizer steps between `last` checkpoints
    validate: bool = True
    progress: bool = True
    tensorboard: bool = False
    max_sets: int | None = None  # keep each patient's latest sets (bounds memory)


@dataclass
class TrainState:
    step: int = 0  # optimizer steps taken
    epoch: int = 0
    micro: int = 0  # micro-batches consumed in the current epoch
    skipped: int = 0  # steps skipped for non-finite loss or gradients
    consecutive_skips: int = 0
    best_val: float = math.inf
    bad_validations: int = 0  # validations since the best one (early stopping)
    stop_reason: str | None = None
    history: list = field(default_factory=list)  # validation records


def precision_context(precision: str, device: torch.device):
    if precision == "fp32":
        return contextlib.nullcontext()
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    if precision == "fp16":
        if device.type != "cuda":
            raise TrainingError("precision fp16 needs CUDA (GradScaler); use bf16 on CPU")
        return torch.autocast("cuda", dtype=torch.float16)
    raise TrainingError(f"unknown precision {precision!r}; choose fp32, bf16 or fp16")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class Trainer:
    def __init__(self, cfg: Config, train: PackedData, valid: PackedData | None = None,
                 options: RunOptions | None = None, embeddings: torch.Tensor | None = None,
                 on_step: Callable[["Trainer", dict], None] | None = None):
        self.cfg, self.train_data, self.valid_data = cfg, train, valid
        self.opt = options or RunOptions()
        self.device = torch.device(self.opt.device)
        self.on_step = on_step
        self.rank, self.world = (dist.get_rank(), dist.get_world_size()) if dist.is_initialized() \
            else (0, 1)
        self.is_main = self.rank == 0
        o = cfg.optim
        precision_context(o.precision, self.device)  # fail early on an unusable precision

        seed_everything(self.opt.seed)
        self.model: SeqSetVAE = build_model(len(train.variables), cfg, embeddings).to(self.device)
        self.ddp_model = self.model
        if self.world > 1:
            self.ddp_model = torch.nn.parallel.DistributedDataParallel(self.model)
        self.optimizer = build_optimizer(self.model, cfg)
        self.sampler = BucketBatchSampler(train.num_sets, o.batch_size, shuffle=True,
                                          seed=self.opt.seed, rank=self.rank,
                                          world_size=self.world)
        steps_per_epoch = math.ceil(len(self.sampler) / o.gradient_accumulation_steps)
        self.total_steps = self.opt.max_steps or steps_per_epoch * o.max_epochs
        self.scheduler = build_scheduler(self.optimizer, cfg, self.total_steps)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=o.precision == "fp16")
        self.state = TrainState()
        self.metrics: JsonlWriter | None = None
        self.timing: JsonlWriter | None = None
        self.tb = None

    # -- files ------------------------------------------------------------------------------
    @property
    def ckpt_dir(self) -> Path:
        return self.opt.out_dir / "checkpoints"

    def _open_outputs(self, resumed: bool) -> None:
        if self.opt.out_dir is None or not self.is_main:
            return
        prepare_out_dir(self.opt.out_dir)
        save_config(self.cfg, self.opt.out_dir / "config.json")
        keep = self.state.step if resumed else 0
        self.metrics = JsonlWriter(self.opt.out_dir / "metrics.jsonl", truncate_after_step=keep)
        self.timing = JsonlWriter(self.opt.out_dir / "timing.jsonl", truncate_after_step=keep)
        if self.opt.tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(self.opt.out_dir / "tensorboard")

    def state_dict(self) -> dict:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "trainer": {k: v for k, v in vars(self.state).items() if k != "history"},
            "history": json.dumps(self.state.history),
            "rng": torch.get_rng_state(),  # dropout and sampling noise; data order is seeded
            "config": json.dumps(self.cfg.to_flat()),
            "variables": json.dumps(list(self.train_data.variables)),
        }

    def save(self, name: str) -> None:
        if self.opt.out_dir is None or not self.is_main:
            return
        path = self.ckpt_dir / f"{name}.pt"
        if name == "last" and path.exists():  # keep one previous good checkpoint to fall back on
            os.replace(path, self.ckpt_dir / "last.prev.pt")
        save_checkpoint(self.state_dict(), path)

    def resume_candidates(self) -> list[Path]:
        return [self.ckpt_dir / "last.pt", self.ckpt_dir / "last.prev.pt"]

    def resume(self, path: str | Path) -> None:
        ckpt = load_checkpoint(path, map_location=self.device)
        if json.loads(ckpt["variables"]) != list(self.train_data.variables):
            raise CheckpointError(f"{path}: checkpoint was trained on other variables")
        self.model.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.scheduler.load_state_dict(ckpt["scheduler"])
        self.scaler.load_state_dict(ckpt["scaler"])
        self.state = TrainState(**ckpt["trainer"], history=json.loads(ckpt["history"]))
        self.state.stop_reason = None  # a resumed run may go further (e.g. a larger max_steps)
        torch.set_rng_state(ckpt["rng"].cpu())

    # -- one optimizer step -------------------------------------------------------------------
    def batch(self, indices) -> Batch:
        return collate(self.train_data, indices, self.opt.max_sets).to(self.device)

    def train_step(self, micro_batches: list[np.ndarray]) -> dict:
        """Forward/backward the micro-batches, clip and (unless non-finite) update."""
        o = self.cfg.optim
        self.ddp_model.train()
        sums = dict.fromkeys(LOSS_KEYS, 0.0)
        events = 0
        for i, idx in enumerate(micro_batches):
            batch = self.batch(idx)
            events += batch.num_events
            sync = i == len(micro_batches) - 1 or self.world == 1
            ctx = contextlib.nullcontext() if sync else self.ddp_model.no_sync()
            with ctx, precision_context(o.precision, self.device):
                out = self.ddp_model(batch, step=self.state.step)
                self.scaler.scale(out.loss / len(micro_batches)).backward()
            for k in LOSS_KEYS:
                sums[k] += getattr(out, k).detach().float() / len(micro_batches)
        self.scaler.unscale_(self.optimizer)
        clip = o.gradient_clip_val if o.gradient_clip_val > 0 else math.inf
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), clip)
        record = {k: float(v) for k, v in sums.items()}  # one host sync per step, not per term
        record.update(grad_norm=float(grad_norm), clipped=bool(grad_norm > clip),
                      lr=self.optimizer.param_groups[0]["lr"], beta=out.beta)
        finite = math.isfinite(record["loss"]) and math.isfinite(record["grad_norm"])
        if finite:
            self.scaler.step(self.optimizer)
            self.scaler.update()
            self.scheduler.step()
            self.state.consecutive_skips = 0
        else:
            if self.scaler.is_enabled():
                self.scaler.update()  # lets fp16 loss scaling back off
            self.state.skipped += 1
            self.state.consecutive_skips += 1
        self.optimizer.zero_grad(set_to_none=True)
        self.state.step += finite  # skipped steps do not advance the schedule or beta warm-up
        record.update(step=self.state.step, epoch=self.state.epoch, skipped=self.state.skipped,
                      finite=finite, events=events)
        return record

    # -- validation ---------------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self, data: PackedData) -> dict:
        self.model.eval()
        sums, n = dict.fromkeys(LOSS_KEYS, 0.0), 0
        logits, labels = [], []
        order = np.argsort(data.num_sets, kind="stable")
        bs = self.cfg.optim.batch_size * 4
        for start in range(0, len(order), bs):
            idx = order[start:start + bs]
            batch = collate(data, idx, self.opt.max_sets).to(self.device)
            with precision_context(self.cfg.optim.precision, self.device):
                out = self.model(batch, step=None)
            for k in LOSS_KEYS:
                sums[k] += float(getattr(out, k)) * len(idx)
            n += len(idx)
            logits.append(out.logits.float().cpu().numpy())
            labels.append(batch.labels.cpu().numpy())
        y, s = np.concatenate(labels), np.concatenate(logits)
        return {**{k: v / max(n, 1) for k, v in sums.items()}, "auroc": auroc(y, s),
                "auprc": auprc(y, s), "patients": n}

    def _validate(self) -> None:
        if not self.opt.validate or self.valid_data is None or len(self.valid_data) == 0:
            return
        val = self.evaluate(self.valid_data)
        val.update(step=self.state.step, epoch=self.state.epoch)
        self.state.history.append(val)
        if val["loss"] < self.state.best_val:
            self.state.best_val, self.state.bad_validations = val["loss"], 0
            self.save("best")
        else:
            self.state.bad_validations += 1
        if self.state.bad_validations >= self.cfg.optim.early_stopping_patience:
            self.state.stop_reason = (f"early stopping: no validation improvement in "
                                      f"{self.state.bad_validations} validations")

    # -- the loop -----------------------------------------------------------------------------
    def fit(self, resume_from: str | Path | None = None) -> dict:
        if resume_from is not None:
            self.resume(resume_from)
        self._open_outputs(resumed=resume_from is not None)
        o, st = self.cfg.optim, self.state
        accum = o.gradient_accumulation_steps
        bar = tqdm(total=self.total_steps, initial=st.step, desc="train", unit="step",
                   disable=not (self.opt.progress and self.is_main), dynamic_ncols=True)
        started = time.perf_counter()
        while st.stop_reason is None and st.epoch < o.max_epochs:
            self.sampler.set_epoch(st.epoch)
            batches = self.sampler.batches()
            while st.micro < len(batches) and st.stop_reason is None:
                group = batches[st.micro:st.micro + accum]
                t0 = time.perf_counter()
                record = self.train_step(group)
                st.micro += len(group)
                self._log(record, time.perf_counter() - t0, sum(len(g) for g in group))
                bar.update(int(record["finite"]))
                bar.set_postfix(loss=f"{record['loss']:.4f}", gnorm=f"{record['grad_norm']:.3g}")
                if st.consecutive_skips >= o.nonfinite_patience:
                    st.stop_reason = (f"non-finite loss or gradients in {st.consecutive_skips} "
                                      f"consecutive steps (last at step {st.step})")
                    self._write_nonfinite_report(record)
                elif self.opt.max_steps and st.step >= self.opt.max_steps:
                    st.stop_reason = f"max_steps={self.opt.max_steps} reached"
                elif record["finite"] and st.step % self.opt.checkpoint_every == 0:
                    self.save("last")
            if st.micro >= len(batches):
                st.epoch, st.micro = st.epoch + 1, 0
                self._validate()
            if st.stop_reason is None or not st.stop_reason.startswith("non-finite"):
                self.save("last")
        bar.close()
        st.stop_reason = st.stop_reason or f"max_epochs={o.max_epochs} reached"
        return self._finish(time.perf_counter() - started)

    def _log(self, record: dict, seconds: float, patients: int) -> None:
        if self.on_step is not None:
            self.on_step(self, record)
        if self.metrics is None:
            return
        # metrics.jsonl is deterministic (same seed -> same file); wall-clock goes to timing.jsonl
        self.metrics.write({k: record[k] for k in ("step", "epoch", *LOSS_KEYS, "grad_norm",
                                                   "clipped", "lr", "beta", "skipped", "finite")})
        self.timing.write({"step": record["step"], "seconds": seconds,
                           "events_per_s": record["events"] / seconds,
                           "patients_per_s": patients / seconds})
        if self.tb is not None:
            for k in (*LOSS_KEYS, "grad_norm", "lr", "beta"):
                self.tb.add_scalar(f"train/{k}", record[k], record["step"])

    def _write_nonfinite_report(self, record: dict) -> None:
        if self.opt.out_dir is None or not self.is_main:
            return
        report = {"reason": self.state.stop_reason, "skipped_total": self.state.skipped,
                  "last_record": record, "last_good_checkpoint": str(self.ckpt_dir / "last.pt"),
                  "advice": "check the input data for NaN/Inf (seqsetvae check-data), lower lr, "
                            "or use precision=fp32"}
        _atomic_write_json(self.opt.out_dir / "nonfinite_report.json", report)

    def _finish(self, seconds: float) -> dict:
        st = self.state
        summary = {"steps": st.step, "epochs_completed": st.epoch, "skipped_steps": st.skipped,
                   "stop_reason": st.stop_reason, "best_val_loss": st.best_val
                   if math.isfinite(st.best_val) else None,
                   "final_validation": st.history[-1] if st.history else None,
                   "seconds": seconds}
        if self.opt.out_dir is not None and self.is_main:
            _atomic_write_json(self.opt.out_dir / "summary.json", summary)
            for sink in (self.metrics, self.timing, self.tb):
                if sink is not None:
                    sink.close()
        return summary


def prepare_out_dir(out_dir: Path) -> None:
    """Create the run directory and prove it is writable before the first step."""
    try:
        (out_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
        probe = out_dir / ".write_test"
        with open(probe, "wb") as fh:
            fh.write(b"\0" * 65536)
            fh.flush()
            os.fsync(fh.fileno())
        probe.unlink()
    except OSError as exc:
        raise TrainingError(f"{out_dir}: output directory is not writable ({exc.strerror})") \
            from None


def _atomic_write_json(path: Path, obj) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, indent=2, default=float) + "\n")
    os.replace(tmp, path)
