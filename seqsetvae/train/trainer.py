"""The Trainer: ``fit`` walks epochs and optimizer steps; each part of a step (forward/backward,
update, validation, limits, logging) is one short method, read in the order it runs.

One optimizer step = ``gradient_accumulation_steps`` micro-batches of ``batch_size`` patients.
The order of operations per step is: forward/backward each micro-batch (autocast), unscale (fp16),
measure the pre-clip global norm, clip, skip the update if anything is non-finite, else step the
optimizer, the scaler and the LR schedule. Beta warm-up counts optimizer steps.

Exact resume: a checkpoint holds the model, optimizer, scheduler, scaler, the loop position
(epoch, micro-batch) and counters; the data order is a function of (seed, epoch), and ``fit`` seeds
the sampling/dropout noise of each micro-batch from (seed, epoch, micro-batch index). A run killed
at any point and resumed therefore repeats the uninterrupted run bit for bit (CPU fp32).

Distributed (``torchrun``, WORLD_SIZE > 1): every rank sees the same global step of
``gradient_accumulation_steps`` micro-batches; rank r runs micro-batches r, r + W, ... and the
gradients and loss terms are summed across ranks, so each rank holds exactly the gradient one
process would compute (up to float summation order). Only rank 0 writes files.

Beside the loop, each in its own module: the collectives (``distributed``), the run's files and
the disk check (``outputs``), finding and loading a checkpoint to resume from (``resume``), and the
fixed points where tests reach into a step (``hooks``; no-ops unless a test installs some).
"""

from __future__ import annotations

import contextlib
import math
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..config import Config
from ..data.collate import Batch, collate
from ..data.packed import PackedData
from ..data.sampler import BucketBatchSampler
from ..fileio import write_json
from ..model import LOSS_TERMS, SeqSetVAE, build_model
from . import hooks as step_hooks
from .checkpoint import save_checkpoint
from .contents import TrainingCheckpoint
from .distributed import all_reduce_grads, any_rank, broadcast_weights, init_distributed
from .errors import TrainingError
from .hooks import StepHooks
from .layout import RunLayout
from .metrics import auprc, auroc
from .optim import build_optimizer, build_scheduler
from .outputs import RunFiles, open_run_files
from .resume import resume_run
from .state import Stop, TrainState


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


def seed_noise(seed: int, device: torch.device) -> None:
    """torch.manual_seed for the generators a run on ``device`` draws from: on CPU that skips
    the CUDA seeding, which records a stack trace per call while CUDA is not initialised."""
    torch.default_generator.manual_seed(seed)
    if device.type == "cuda":
        torch.cuda.manual_seed_all(seed)


def noise_seed(seed: int, epoch: int, micro: int) -> int:
    """The torch seed of one micro-batch: a function of its position only, so the noise does not
    depend on how many processes share the step or on where a run was resumed."""
    return int(np.random.SeedSequence([seed, epoch, micro]).generate_state(1)[0])


class Trainer:
    def __init__(self, cfg: Config, train: PackedData, valid: PackedData | None = None,
                 options: RunOptions | None = None, embeddings: torch.Tensor | None = None,
                 on_step: Callable[[Trainer, dict], None] | None = None,
                 hooks: StepHooks | None = None):
        """``on_step(trainer, record)``: called after each step attempt with its record.
        ``hooks``: reach into each step (tests); default: those installed process-wide
        (``hooks.install``), no-ops unless a test installed some."""
        self.cfg, self.train_data, self.valid_data = cfg, train, valid
        self.opt = options or RunOptions()
        self.on_step = on_step
        self.hooks = hooks if hooks is not None else step_hooks.current()
        self.rank, self.world, self.device = init_distributed(torch.device(self.opt.device))
        self.is_main = self.rank == 0
        o = cfg.optim
        precision_context(o.precision, self.device)  # fail early on an unusable precision
        if self.world > 1 and o.gradient_accumulation_steps % self.world:
            self.warn(f"gradient_accumulation_steps={o.gradient_accumulation_steps} is not a "
                      f"multiple of the {self.world} processes: some ranks idle in each step")

        seed_everything(self.opt.seed)
        self.model: SeqSetVAE = build_model(len(train.variables), cfg, embeddings).to(self.device)
        self.optimizer = build_optimizer(self.model, cfg)
        # every rank draws the same global batches and takes its share of each step (train_step)
        self.sampler = BucketBatchSampler(train.num_sets, o.batch_size, shuffle=True,
                                          seed=self.opt.seed)
        steps_per_epoch = math.ceil(len(self.sampler) / o.gradient_accumulation_steps)
        self.total_steps = self.opt.max_steps or steps_per_epoch * o.max_epochs
        self.scheduler = build_scheduler(self.optimizer, cfg, self.total_steps)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=o.precision == "fp16")
        self.state = TrainState()
        self.files = RunFiles()  # opened by fit; stays empty in memory and on ranks other than 0
        self._saved_at: tuple | None = None  # (attempts, epoch) of the last `last` checkpoint

    def warn(self, message: str) -> None:
        """A warning on stderr, once per run (rank 0) rather than once per process."""
        if self.is_main:
            print(f"warning: {message}", file=sys.stderr)

    # -- files ------------------------------------------------------------------------------
    @property
    def layout(self) -> RunLayout:
        return RunLayout(self.opt.out_dir)

    def _open_outputs(self, resumed: bool) -> None:
        """Rank 0 opens the run's files; if it cannot, every rank stops (none waits forever for
        a rank that has left)."""
        error = None
        if self.opt.out_dir is not None and self.is_main:
            keep = self.state.attempts if resumed else 0  # drop lines after the checkpoint
            try:
                self.files = open_run_files(self.layout, self.cfg, self.model, keep,
                                            self.opt.tensorboard)
            except TrainingError as exc:
                error = exc
        if self.world > 1 and any_rank(error is not None, self.device) and error is None:
            error = TrainingError("rank 0 could not open the output directory")  # stop together
        if error is not None:
            raise error

    def checkpoint(self) -> TrainingCheckpoint:
        return TrainingCheckpoint(
            self.model.state_dict(), self.optimizer.state_dict(), self.scheduler.state_dict(),
            self.scaler.state_dict(), self.state.counters(),
            self.state.history, torch.get_rng_state(), self.cfg.to_flat(),
            list(self.train_data.variables))

    def save(self, name: str) -> None:
        if self.opt.out_dir is None or not self.is_main:
            return
        self.files.sync()  # the checkpoint counts the logged lines; `best` is a resume point too
        if name == "last":
            self._saved_at = (self.state.attempts, self.state.epoch)
        # keep one previous good `last` to fall back on if this one is damaged later
        previous = self.layout.last_prev if name == "last" else None
        path = self.layout.checkpoint(name)
        discarded = save_checkpoint(self.checkpoint().to_state(), path, previous,
                                    before_rename=lambda: self.hooks.on_checkpoint(path))
        if discarded is not None:
            self.warn(f"{discarded}; replaced without becoming the fallback {previous.name}")

    # -- one optimizer step -------------------------------------------------------------------
    def batch(self, indices) -> Batch:
        return collate(self.train_data, indices, self.opt.max_sets).to(self.device)

    def train_step(self, micro_batches: list[np.ndarray], noise_seeds: list[int] | None = None
                   ) -> dict:
        """Forward/backward the micro-batches, clip and (unless non-finite) update.

        ``noise_seeds``: reseed torch before each micro-batch (``fit`` does); None draws from the
        current RNG stream. Under torchrun this rank runs micro-batches rank, rank + W, ...;
        each loss is divided by the global count and the sums are all-reduced. ``self.hooks``
        see each micro-batch, its loss and then the gradients (no-ops unless a test set some)."""
        o = self.cfg.optim
        self.model.train()
        sums = self._forward_backward(micro_batches, noise_seeds)
        params = [p for p in self.model.parameters() if p.requires_grad]
        self.hooks.on_grads(self.state.attempts + 1, params)
        if self.world > 1:
            sums = all_reduce_grads(params, sums)
        self.scaler.unscale_(self.optimizer)
        clip = o.gradient_clip_val if o.gradient_clip_val > 0 else math.inf
        grad_norm = torch.nn.utils.clip_grad_norm_(params, clip)
        # measured on the gradients the optimizer will read, so a clip that silently stopped
        # working shows up as an applied norm above the clip value
        applied = torch.nn.utils.get_total_norm([p.grad for p in params if p.grad is not None])
        # the step's one host sync: loss terms, events and both norms in one transfer
        norms = torch.stack([grad_norm.detach(), applied.detach()]).to(sums.dtype)
        values = torch.cat([sums, norms]).tolist()
        applied_norm, norm = values.pop(), values.pop()
        record = dict(zip(LOSS_TERMS, values))
        record.update(grad_norm=norm, applied_norm=applied_norm,
                      clipped=applied_norm < norm * (1 - 1e-4),
                      lr=self.optimizer.param_groups[0]["lr"],
                      beta=self.model.beta_at(self.state.step))
        finite = math.isfinite(record["loss"]) and math.isfinite(record["grad_norm"])
        self._update(finite)
        record.update(step=self.state.step, epoch=self.state.epoch, skipped=self.state.skipped,
                      finite=finite, events=int(values[-1]))
        return record

    def _forward_backward(self, micro_batches: list[np.ndarray], noise_seeds: list[int] | None
                          ) -> torch.Tensor:
        """Forward/backward this rank's share of the micro-batches, accumulating ``p.grad``;
        returns its part of the step's mean loss terms, then its event count, on the device."""
        o, n = self.cfg.optim, len(micro_batches)
        sums = torch.zeros(len(LOSS_TERMS) + 1, device=self.device)  # loss terms, then events
        for i in range(self.rank, n, self.world):
            if noise_seeds is not None:
                seed_noise(noise_seeds[i], self.device)
            batch = self.batch(micro_batches[i])
            self.hooks.on_batch(self.state.attempts + 1, batch)
            with precision_context(o.precision, self.device):
                out = self.model(batch, step=self.state.step)
                loss = self.hooks.on_loss(self.state.attempts + 1, out.loss)
                self.scaler.scale(loss / n).backward()
            terms = [loss, *(getattr(out, k) for k in LOSS_TERMS[1:])]
            sums[:-1] += torch.stack([t.detach().float() for t in terms]) / n
            sums[-1] += batch.event_mask.sum()  # a device add: no host sync per micro-batch
        return sums

    def _update(self, finite: bool) -> None:
        """Step the optimizer, scaler and schedule, or skip a non-finite step and count it."""
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
        self.state.attempts += 1

    # -- validation ---------------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self, data: PackedData) -> dict:
        self.model.eval()
        sums, n = dict.fromkeys(LOSS_TERMS, 0.0), 0
        logits, labels = [], []
        order = np.argsort(data.num_sets, kind="stable")
        bs = self.cfg.optim.batch_size * 4
        for start in range(0, len(order), bs):
            idx = order[start:start + bs]
            batch = collate(data, idx, self.opt.max_sets).to(self.device)
            with precision_context(self.cfg.optim.precision, self.device):
                out = self.model(batch, step=None)
            for k in LOSS_TERMS:
                sums[k] += float(getattr(out, k)) * len(idx)
            n += len(idx)
            logits.append(out.logits.float().cpu().numpy())
            labels.append(batch.labels.cpu().numpy())
        y, s = np.concatenate(labels), np.concatenate(logits)
        return {**{k: v / max(n, 1) for k, v in sums.items()}, "auroc": auroc(y, s),
                "auprc": auprc(y, s), "patients": n}

    def _can_validate(self) -> bool:
        return self.opt.validate and self.valid_data is not None and len(self.valid_data) > 0

    def _validate(self, final: bool = False) -> None:
        """Evaluate the validation split and keep the best weights in best.pt.

        ``final``: the closing validation of a run stopped between epochs. It may write best.pt
        but does not count toward early-stopping patience: it is off the per-epoch schedule, and
        a run extended later with ``--resume`` must not stop early because of it."""
        if not self._can_validate():
            return
        val = self.evaluate(self.valid_data)
        val.update(step=self.state.step, epoch=self.state.epoch)
        if final:
            val["final"] = True
        self.state.history.append(val)
        if val["loss"] < self.state.best_val:
            self.state.best_val = val["loss"]
            if not final:
                self.state.bad_validations = 0
            self.save("best")
        elif not final:
            self.state.bad_validations += 1  # early stopping: see _check_limits

    def _final_validation_pending(self) -> bool:
        """The run has reached its limit and will save `last` after its final validation: saving
        it now too would push the previous `last` out of last.prev.pt for a copy of this step."""
        return self._check_limits() is not None and self._final_validation_due()

    def _final_validation_due(self) -> bool:
        """A run stopped by a limit (not by non-finite values) whose current weights have not
        been validated yet. Skipped steps leave the weights alone, so the step count tells."""
        st = self.state
        if st.stop in (None, Stop.NONFINITE):
            return False
        return self._can_validate() and not (st.history and st.history[-1]["step"] == st.step)

    # -- the loop -----------------------------------------------------------------------------
    def fit(self, resume_from: str | Path | None = None) -> dict:
        """Train until a limit; ``resume_from``: a checkpoint file, or "auto" for this run's
        newest readable one (none yet: start fresh)."""
        resumed = resume_run(self, resume_from)
        if self.world > 1:
            broadcast_weights(self.model)  # identical start on every rank, whatever each loaded
        self._open_outputs(resumed)
        st, accum = self.state, self.cfg.optim.gradient_accumulation_steps
        bar = tqdm(total=self.total_steps, initial=st.step, desc="train", unit="step",
                   disable=not (self.opt.progress and self.is_main), dynamic_ncols=True)
        started = time.perf_counter()
        while self._check_limits() is None:
            self.sampler.set_epoch(st.epoch)
            batches = self.sampler.batches()
            while st.micro < len(batches) and self._check_limits() is None:
                group = batches[st.micro:st.micro + accum]
                seeds = [noise_seed(self.opt.seed, st.epoch, m)
                         for m in range(st.micro, st.micro + len(group))]
                t0 = time.perf_counter()
                record = self.train_step(group, seeds)
                st.micro += len(group)
                self._log(record, time.perf_counter() - t0, sum(len(g) for g in group))
                bar.update(int(record["finite"]))
                bar.set_postfix(loss=f"{record['loss']:.4f}", gnorm=f"{record['grad_norm']:.3g}")
                self._after_step(record)
            if st.micro >= len(batches):
                st.epoch, st.micro = st.epoch + 1, 0
                self._validate()
            if st.stop is not Stop.NONFINITE and self._saved_at != (st.attempts, st.epoch) \
                    and not self._final_validation_pending():
                self.save("last")  # never after non-finite steps: the last good one stays
        bar.close()
        # whatever limit stopped the run, its final weights are validated once (best.pt and
        # summary.json's final_validation exist); also after a resume that stops at once
        if self._final_validation_due():
            self._validate(final=True)
            self.save("last")  # the validation is part of the state a later --resume starts from
        return self._finish(time.perf_counter() - started)

    def _after_step(self, record: dict) -> None:
        """Stop after ``nonfinite_patience`` non-finite steps in a row (with a report), else
        save `last` every ``checkpoint_every`` steps."""
        st = self.state
        if st.consecutive_skips >= self.cfg.optim.nonfinite_patience:
            st.stopped(Stop.NONFINITE, f"non-finite loss or gradients in {st.consecutive_skips} "
                                       f"consecutive steps (last at step {st.step})")
            self._write_nonfinite_report(record)
        elif record["finite"] and st.step % self.opt.checkpoint_every == 0 \
                and not self._final_validation_pending():
            self.save("last")

    def _check_limits(self) -> Stop | None:
        """Set and return the stop reason once a limit is reached. Checked before each step, so
        a run resumed from its final checkpoint stops at once instead of taking an extra step."""
        st, o = self.state, self.cfg.optim
        if st.stop is None:
            if self.opt.max_steps and st.step >= self.opt.max_steps:
                st.stopped(Stop.MAX_STEPS, f"max_steps={self.opt.max_steps} reached")
            elif st.bad_validations >= o.early_stopping_patience:
                st.stopped(Stop.EARLY_STOPPING, f"early stopping: no validation improvement in "
                                                f"{st.bad_validations} validations")
            elif st.epoch >= o.max_epochs:
                st.stopped(Stop.MAX_EPOCHS, f"max_epochs={o.max_epochs} reached")
        return st.stop

    def _log(self, record: dict, seconds: float, patients: int) -> None:
        if self.on_step is not None:
            self.on_step(self, record)
        files = self.files
        if files.metrics is None:
            return
        # metrics.jsonl is deterministic (same seed -> same file); wall-clock goes to timing.jsonl
        files.metrics.write({k: record[k] for k in ("step", "epoch", *LOSS_TERMS, "grad_norm",
                                                    "applied_norm", "clipped", "lr", "beta",
                                                    "skipped", "finite")})
        files.timing.write({"step": record["step"], "seconds": seconds,
                            "events_per_s": record["events"] / seconds,
                            "patients_per_s": patients / seconds})
        if files.tb is not None:
            for k in (*LOSS_TERMS, "grad_norm", "lr", "beta"):
                files.tb.add_scalar(f"train/{k}", record[k], record["step"])

    def _write_nonfinite_report(self, record: dict) -> None:
        if self.opt.out_dir is None or not self.is_main:
            return
        last = self.layout.last
        report = {"reason": self.state.stop_reason, "step": self.state.step,
                  "attempt": self.state.attempts, "skipped_total": self.state.skipped,
                  "consecutive_skips": self.state.consecutive_skips, "last_record": record,
                  "last_good_checkpoint": str(last) if last.exists() else None,
                  "advice": "check the input data for NaN/Inf (seqsetvae check-data), lower lr, "
                            "or use precision=fp32"}
        write_json(self.layout.nonfinite_report, report)

    def _finish(self, seconds: float) -> dict:
        st = self.state
        summary = {"steps": st.step, "epochs_completed": st.epoch, "skipped_steps": st.skipped,
                   "stop_reason": st.stop_reason, "best_val_loss": st.best_val
                   if math.isfinite(st.best_val) else None,
                   "final_validation": st.history[-1] if st.history else None,
                   "seconds": seconds}
        if self.opt.out_dir is not None and self.is_main:
            write_json(self.layout.summary, summary)
            self.files.close()
        return summary
