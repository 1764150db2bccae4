"""End-of-run validation: whatever limit stops a run (max_steps, max_epochs, early stopping), its
final weights are validated once, so checkpoints/best.pt and summary.json's final_validation
exist; a run stopped on non-finite values is not validated; the extra validation changes neither
the training trajectory nor early stopping."""

from __future__ import annotations

import json

import numpy as np
import torch

from seqsetvae.train.checkpoint import load_checkpoint
from seqsetvae.train.state import Stop
from seqsetvae.train.trainer import RunOptions, Trainer

from .factories import small_config

# 24 training patients in micro-batches of 4, one per step: 6 optimizer steps per epoch
STEPS_PER_EPOCH = 6


def tiny(**overrides):
    base = dict(batch_size=4, gradient_accumulation_steps=1, warmup_steps=0, max_epochs=50,
                beta_warmup_steps=0, early_stopping_patience=8)
    return small_config("optimized", **{**base, **overrides})


def fit(cfg, data, valid, out=None, **options):
    trainer = Trainer(cfg, data, valid, RunOptions(out_dir=out, progress=False, **options))
    return trainer, trainer.fit()


def written(out):
    summary = json.loads((out / "summary.json").read_text())
    last = load_checkpoint(out / "checkpoints" / "last.pt")
    return summary, json.loads(last["history"]), last


def test_max_steps_between_epochs_validates_the_final_weights(data, valid, tmp_path):
    fit(tiny(), data, valid, tmp_path, max_steps=STEPS_PER_EPOCH + 3, checkpoint_every=1)
    summary, history, last = written(tmp_path)
    assert summary["stop_reason"].startswith("max_steps")
    assert [(v["step"], v.get("final", False)) for v in history] == \
        [(STEPS_PER_EPOCH, False), (STEPS_PER_EPOCH + 3, True)]
    assert summary["final_validation"]["step"] == STEPS_PER_EPOCH + 3
    assert (tmp_path / "checkpoints" / "best.pt").is_file()
    assert last["trainer"]["step"] == STEPS_PER_EPOCH + 3  # last.pt holds the validation too
    # written once at the final step: the fallback is still the step before, not a copy
    prev = load_checkpoint(tmp_path / "checkpoints" / "last.prev.pt")
    assert prev["trainer"]["step"] == STEPS_PER_EPOCH + 2


def test_max_steps_before_the_first_epoch_ends_still_writes_best(data, valid, tmp_path):
    fit(tiny(), data, valid, tmp_path, max_steps=2)
    summary, history, _ = written(tmp_path)
    assert [v["step"] for v in history] == [2]
    assert summary["final_validation"]["step"] == 2
    assert summary["best_val_loss"] == summary["final_validation"]["loss"]
    assert load_checkpoint(tmp_path / "checkpoints" / "best.pt")["trainer"]["step"] == 2


def test_max_steps_at_an_epoch_end_validates_once(data, valid, tmp_path):
    fit(tiny(), data, valid, tmp_path, max_steps=STEPS_PER_EPOCH)
    summary, history, _ = written(tmp_path)
    assert [(v["step"], v.get("final", False)) for v in history] == [(STEPS_PER_EPOCH, False)]
    assert summary["final_validation"]["step"] == STEPS_PER_EPOCH


def test_max_epochs_validates_once_per_epoch_and_not_again(data, valid, tmp_path):
    fit(tiny(max_epochs=2), data, valid, tmp_path)
    summary, history, _ = written(tmp_path)
    assert summary["stop_reason"].startswith("max_epochs")
    assert [v["step"] for v in history] == [STEPS_PER_EPOCH, 2 * STEPS_PER_EPOCH]
    assert summary["final_validation"]["step"] == 2 * STEPS_PER_EPOCH
    assert (tmp_path / "checkpoints" / "best.pt").is_file()


def test_early_stopping_validates_once_per_epoch_and_not_again(data, valid, tmp_path):
    # lr 0: the first validation is the best and the next two do not improve
    fit(tiny(lr=0.0, early_stopping_patience=2), data, valid, tmp_path)
    summary, history, _ = written(tmp_path)
    assert summary["stop_reason"].startswith("early stopping")
    assert [v["step"] for v in history] == [STEPS_PER_EPOCH * k for k in (1, 2, 3)]
    assert not any(v.get("final") for v in history)
    assert (tmp_path / "checkpoints" / "best.pt").is_file()


def test_a_non_finite_stop_is_not_validated(data, valid, tmp_path):
    values = np.full_like(data.values, np.nan)
    poisoned = type(data)(**{**vars(data), "values": values})
    trainer, summary = fit(tiny(nonfinite_patience=2), poisoned, valid, tmp_path)
    assert summary["stop_reason"].startswith("non-finite") and trainer.state.stop is Stop.NONFINITE
    assert trainer.state.history == [] and summary["final_validation"] is None
    assert not (tmp_path / "checkpoints" / "best.pt").exists()


def test_a_resume_that_stops_at_once_validates_what_was_not_validated(data, valid, tmp_path):
    """A run whose last checkpoint holds no validation of its final weights (here: trained
    without validation; in life: stopped between the checkpoint and the validation)."""
    fit(tiny(), data, valid, tmp_path, max_steps=3, validate=False)
    assert not (tmp_path / "checkpoints" / "best.pt").exists()
    trainer = Trainer(tiny(), data, valid, RunOptions(out_dir=tmp_path, progress=False,
                                                      max_steps=3))
    summary = trainer.fit(resume_from=tmp_path / "checkpoints" / "last.pt")
    assert summary["steps"] == 3 and summary["final_validation"]["step"] == 3
    assert (tmp_path / "checkpoints" / "best.pt").is_file()


def test_the_final_validation_does_not_count_toward_patience(data, valid):
    # lr 0: the final validation equals the epoch's one, so it is no improvement
    trainer, _ = fit(tiny(lr=0.0, early_stopping_patience=1), data, valid,
                     max_steps=STEPS_PER_EPOCH + 2)
    assert [v.get("final", False) for v in trainer.state.history] == [False, True]
    assert trainer.state.bad_validations == 0
    assert trainer.state.stop is Stop.MAX_STEPS


def test_the_final_validation_leaves_the_trajectory_and_the_rng_alone(data, valid):
    runs = {}
    for validate in (True, False):
        records = []
        trainer = Trainer(tiny(), data, valid, RunOptions(progress=False, max_steps=3,
                                                          validate=validate),
                          on_step=lambda t, r, records=records: records.append(r["loss"]))
        trainer.fit()
        weights = torch.cat([p.detach().flatten() for p in trainer.model.parameters()])
        runs[validate] = (records, weights, torch.get_rng_state(), trainer.state.history)
    assert runs[True][3] and not runs[False][3]  # only the first run validated
    assert runs[True][0] == runs[False][0]
    assert torch.equal(runs[True][1], runs[False][1])
    assert torch.equal(runs[True][2], runs[False][2])
