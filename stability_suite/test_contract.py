"""Property 4: valid labels and shapes; no NaN/Inf in outputs, losses or gradients; the loss,
sampling, padding, permutation and causality contract; the trainer's batches carry the labels
file's labels."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from stability_support import MAIN_CONFIGS, run_config

from seqsetvae.data import collate
from seqsetvae.model import build_model
from seqsetvae.stability import contract_problems, label_problems
from seqsetvae.stability.checks import batch_problems


@pytest.mark.parametrize("config", MAIN_CONFIGS)
def test_trained_runs_follow_the_contract(dataset, config, runs):
    problems = {t.seed: t.contract_problems for t in runs(dataset, config)}
    assert not any(problems.values()), problems


def test_untrained_conservative_follows_the_contract(dataset, settings, load_dataset):
    """The third preset is not trained in the suite: its fresh model is checked instead."""
    train, valid = load_dataset(dataset)
    torch.manual_seed(0)
    model = build_model(len(train.variables), run_config("conservative", settings))
    assert contract_problems(model, collate(valid, range(8))) == []


@pytest.fixture
def model_and_batch(load_dataset, settings):
    train, valid = load_dataset("synthetic")
    torch.manual_seed(0)
    return build_model(len(train.variables), run_config("optimized", settings)), \
        collate(valid, range(6))


def test_control_invalid_labels_are_flagged(model_and_batch):
    model, batch = model_and_batch
    bad = dataclasses.replace(batch, labels=torch.tensor([0.0, 1.0, 2.0, 0.0, float("nan"), 1.0]))
    problems = contract_problems(model, bad)
    assert any(p.check == "labels" and "outside {0, 1}" in p.message for p in problems), problems
    short = dataclasses.replace(batch, labels=batch.labels[:4])
    assert any(p.check == "labels" and "one per patient" in p.message
               for p in label_problems(short.labels, 6))


def test_control_batches_with_other_patients_labels_are_flagged(load_dataset):
    train, _ = load_dataset("synthetic")
    idx = [np.arange(8)]
    assert batch_problems(lambda i: collate(train, i), train, idx) == []
    swapped = np.r_[np.flatnonzero(train.labels == 1)[:1], np.flatnonzero(train.labels == 0)[:1]]
    wrong = lambda i: dataclasses.replace(collate(train, i),  # noqa: E731
                                          labels=torch.as_tensor(train.labels[i[::-1]]))
    assert any(p.check == "labels" and "differ from the labels file" in p.message
               for p in batch_problems(wrong, train, [swapped]))


def test_control_wrong_shapes_and_non_finite_outputs_are_flagged(model_and_batch):
    model, batch = model_and_batch
    forward = model.forward

    def broken(b, step=None, z_override=None):
        out = forward(b, step)
        return dataclasses.replace(out, logits=out.logits.unsqueeze(-1),  # [B, 1] instead of [B]
                                   mu=out.mu * float("nan"))

    model.forward = broken
    problems = contract_problems(model, batch)
    outputs = [p.message for p in problems if p.check == "outputs"]
    assert any(m.startswith("logits: shape") for m in outputs), problems
    assert any(m.startswith("mu:") and "non-finite" in m for m in outputs), problems
