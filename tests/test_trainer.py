"""Trainer contract: overfitting, accumulation, clipping, determinism, early stop, NaN guards."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from seqsetvae.config import ConfigError
from seqsetvae.train.checkpoint import CheckpointError, load_checkpoint
from seqsetvae.train.metrics import auprc, auroc, read_jsonl
from seqsetvae.train.optim import lr_factor, param_groups
from seqsetvae.train.trainer import RunOptions, Trainer, TrainingError

from .factories import random_packed, small_config


def tiny(name="optimized", **overrides):
    base = dict(batch_size=4, gradient_accumulation_steps=1, warmup_steps=0, max_epochs=50,
                beta_warmup_steps=0)
    return small_config(name, **{**base, **overrides})


def test_overfitting_one_fixed_batch_cuts_the_loss_by_90_percent():
    one = random_packed(4, max_sets=4, max_events=4, seed=3)
    cfg = tiny(lr=3e-3, dropout=0.0, free_bits=0.0, beta=1e-4, gradient_clip_val=5.0,
               max_epochs=1000)
    trainer = Trainer(cfg, one, options=RunOptions(max_steps=300, progress=False, validate=False))
    losses = []
    trainer.on_step = lambda t, r: losses.append(r["loss"])
    trainer.fit()
    assert losses[-1] < 0.1 * losses[0], (losses[0], losses[-1])


@pytest.mark.filterwarnings("ignore:Seems like `optimizer.step\\(\\)` has been overridden")
def test_accumulating_k_micro_batches_equals_one_big_batch():
    """Exact only when each micro-batch has the same number of sets and events (recon is a mean
    per event, free bits hinge on the batch mean): that is the case built here. Tolerance 1e-5."""
    data = random_packed(8, max_sets=3, max_events=3, seed=5, min_sets=3, min_events=3)
    cfg = tiny(dropout=0.0, free_bits=0.0, gradient_clip_val=0.0)
    grads = []
    for groups in ([np.arange(8)], [np.arange(0, 4), np.arange(4, 8)],
                   [np.arange(i, i + 2) for i in range(0, 8, 2)]):
        t = Trainer(cfg, data, options=RunOptions(progress=False))
        t.optimizer.step = lambda: None  # keep the gradients to compare them
        t.optimizer.zero_grad = lambda set_to_none=True: None
        record = t.train_step(groups)
        grads.append((record["loss"], torch.cat([p.grad.flatten() for p in t.model.parameters()
                                                 if p.grad is not None])))
    for loss, grad in grads[1:]:
        assert loss == pytest.approx(grads[0][0], abs=1e-5)
        torch.testing.assert_close(grad, grads[0][1], atol=1e-5, rtol=1e-4)


def test_clipping_brings_the_global_norm_to_the_clip_value(data):
    cfg = tiny(lr=1e-2, gradient_clip_val=0.05)
    t = Trainer(cfg, data, options=RunOptions(progress=False))
    t.optimizer.zero_grad = lambda set_to_none=True: None
    record = t.train_step([np.arange(8)])
    assert record["grad_norm"] > 0.05 and record["clipped"]
    norm = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in t.model.parameters()
                                                 if p.grad is not None]))
    assert norm.item() == pytest.approx(0.05, rel=1e-4)


def run(cfg, data, valid=None, tmp_path=None, **options):
    opts = RunOptions(out_dir=tmp_path, progress=False, **{"max_steps": 6, **options})
    t = Trainer(cfg, data, valid, opts)
    records = []
    t.on_step = lambda tr, r: records.append(r)
    summary = t.fit()
    return t, records, summary


OPTIM_CHANGES = {
    "lr": 1e-3, "weight_decay": 0.5, "gradient_clip_val": 0.01, "gradient_accumulation_steps": 2,
    "warmup_steps": 3, "min_lr_ratio": 0.5, "batch_size": 3, "precision": "bf16",
    "early_stopping_patience": 1, "max_epochs": 1, "nonfinite_patience": 1,
}


def test_every_optimisation_field_is_covered():
    from dataclasses import fields

    from seqsetvae.config import OptimConfig

    assert {f.name for f in fields(OptimConfig)} == set(OPTIM_CHANGES)


@pytest.mark.parametrize("field", sorted(OPTIM_CHANGES))
def test_optimisation_field_changes_the_run(field, data, valid):
    cfg = tiny(lr=1e-4, weight_decay=0.0 if field != "weight_decay" else 0.01, max_epochs=3,
               gradient_clip_val=1.0, min_lr_ratio=0.1, early_stopping_patience=5)
    if field == "early_stopping_patience":  # lr 0: validation never improves after the first
        cfg = cfg.replace(lr=0.0)
    changed = cfg.replace(**{field: OPTIM_CHANGES[field]})
    opts = dict(max_steps=None if field in ("early_stopping_patience", "max_epochs") else 6)
    if field == "nonfinite_patience":  # needs non-finite input to matter
        data = poisoned(data, every_patient=True)
    if field == "min_lr_ratio":
        opts["max_steps"] = 6  # cosine reaches its floor within the run
    a = run(cfg, data, valid, **opts)
    b = run(changed, data, valid, **opts)

    def fingerprint(r):
        return ([round(x["loss"], 7) for x in r[1]], [x["lr"] for x in r[1]], r[2]["steps"],
                r[2]["stop_reason"])
    assert fingerprint(a) != fingerprint(b), f"{field} did not change the run"


def test_same_seed_gives_identical_metrics_files(data, valid, tmp_path):
    for name in ("a", "b"):
        run(tiny(gradient_accumulation_steps=2), data, valid, tmp_path / name, max_steps=5)
    a, b = ((tmp_path / n / "metrics.jsonl").read_bytes() for n in ("a", "b"))
    assert a == b and len(a.splitlines()) == 5
    run(tiny(gradient_accumulation_steps=2), data, valid, tmp_path / "c", max_steps=5, seed=1)
    assert (tmp_path / "c" / "metrics.jsonl").read_bytes() != a


def test_run_directory_contract(data, valid, tmp_path):
    run(tiny(), data, valid, tmp_path, max_steps=None, checkpoint_every=2)
    for name in ("config.json", "metrics.jsonl", "summary.json", "checkpoints/last.pt",
                 "checkpoints/best.pt"):
        assert (tmp_path / name).is_file(), name
    line = read_jsonl(tmp_path / "metrics.jsonl")[0]
    assert {"step", "loss", "recon", "kl", "cls", "grad_norm", "lr", "beta"} <= set(line)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["final_validation"]["auroc"] == summary["final_validation"]["auroc"]
    ckpt = load_checkpoint(tmp_path / "checkpoints" / "last.pt")
    assert ckpt["trainer"]["step"] == summary["steps"]


def test_early_stopping_fires_after_patience_validations_without_improvement(data, valid):
    cfg = tiny(lr=0.0, early_stopping_patience=3, max_epochs=50, warmup_steps=0)
    t, _, summary = run(cfg, data, valid, max_steps=None)
    # lr = 0: the first validation is the best, the next 3 do not improve
    assert len(t.state.history) == 4
    assert summary["stop_reason"].startswith("early stopping")


def poisoned(data, every_patient=False):
    values = data.values.copy()
    if every_patient:
        values[:] = np.nan
    else:
        values[data.event_offsets[data.set_offsets[2]]] = np.nan  # one event of patient 2
    return type(data)(**{**vars(data), "values": values})


def test_a_planted_nan_is_skipped_and_counted(data):
    t, records, summary = run(tiny(batch_size=24), poisoned(data), max_steps=None, seed=0)
    # every step sees patient 2 (batch = whole dataset): all steps skip, the run stops
    assert summary["skipped_steps"] == 5 and summary["stop_reason"].startswith("non-finite")
    t, records, summary = run(tiny(batch_size=4), poisoned(data), max_steps=12)
    skipped = [r for r in records if not r["finite"]]
    assert 1 <= len(skipped) <= 3 and summary["steps"] == 12
    assert all(math.isfinite(p.detach().sum()) for p in t.model.parameters())


def test_k_non_finite_steps_in_a_row_stop_with_a_report_and_no_bad_checkpoint(data, tmp_path):
    cfg = tiny(nonfinite_patience=3)
    clean, _, _ = run(cfg, data, tmp_path=tmp_path, max_steps=2)
    good = load_checkpoint(tmp_path / "checkpoints" / "last.pt")
    t, records, summary = run(cfg, poisoned(data, every_patient=True), tmp_path=tmp_path / "bad")
    assert summary["skipped_steps"] == 3 and summary["steps"] == 0
    report = json.loads((tmp_path / "bad" / "nonfinite_report.json").read_text())
    assert "3 consecutive" in report["reason"]
    assert not (tmp_path / "bad" / "checkpoints" / "last.pt").exists()
    assert all(torch.isfinite(v).all() for v in good["model"].values() if v.is_floating_point())


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_checkpoint_with_a_pickle_payload_is_refused(tmp_path):
    import pickle

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "evil.pt"
    torch.save({"x": Evil()}, path, pickle_protocol=pickle.DEFAULT_PROTOCOL)
    with pytest.raises(CheckpointError, match="evil.pt"):
        load_checkpoint(path)


def test_fp16_on_cpu_and_unknown_precision_are_refused(data):
    with pytest.raises(TrainingError, match="fp16 needs CUDA"):
        Trainer(tiny(precision="fp16"), data, options=RunOptions(progress=False))
    with pytest.raises(ConfigError, match="precision: must be one of fp32, bf16, fp16"):
        tiny(precision="fp8")  # refused where it is set, before any trainer is built


def test_unwritable_output_directory_fails_before_the_first_step(data, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(TrainingError, match="not writable"):
        run(tiny(), data, tmp_path=blocker / "run")


def test_param_groups_do_not_decay_norms_biases_or_embeddings():
    from seqsetvae.model import build_model

    model = build_model(10, small_config())
    decay, no_decay = param_groups(model, 0.1)
    decayed = {id(p) for p in decay["params"]}
    assert id(model.var_emb.weight) not in decayed
    assert id(model.final_norm.weight) not in decayed and id(model.head[0].bias) not in decayed
    assert id(model.head[0].weight) in decayed


def test_lr_schedule_warms_up_then_decays_to_the_floor():
    assert lr_factor(0, 10, 100, 0.1) == pytest.approx(0.1)
    assert lr_factor(9, 10, 100, 0.1) == pytest.approx(1.0)
    assert lr_factor(100, 10, 100, 0.1) == pytest.approx(0.1)
    assert lr_factor(55, 10, 100, 0.1) == pytest.approx(0.55)


def test_ranking_metrics():
    y = np.array([0, 0, 1, 1])
    assert auroc(y, np.array([0.1, 0.2, 0.3, 0.4])) == 1.0
    assert auroc(y, np.array([0.4, 0.3, 0.2, 0.1])) == 0.0
    assert auprc(y, np.array([0.1, 0.2, 0.3, 0.4])) == 1.0
    assert auprc(y, np.array([0.4, 0.3, 0.2, 0.1])) == pytest.approx((1 / 3 + 2 / 4) / 2)
