"""The model-contract checks behind stability property 4, each shown to pass on a correct model
and to fail under the faults of the suite's corpus that it exists to catch (no training needed)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from seqsetvae.data import collate
from seqsetvae.model import build_model
from seqsetvae.stability.checks import (
    Problem,
    batch_problems,
    check_names,
    contract_problems,
    schedule_problems,
    stale_gradient_problems,
)

from .factories import random_packed, small_config

_spec = importlib.util.spec_from_file_location(
    "fault_corpus", Path(__file__).parents[1] / "stability_suite" / "faults.py")
faults = sys.modules[_spec.name] = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(faults)


@pytest.fixture(scope="module")
def data():
    return random_packed(8, max_sets=6, max_events=5, seed=3, min_sets=1)


@pytest.fixture
def model(data):
    torch.manual_seed(0)
    return build_model(len(data.variables), small_config("baseline"))


def test_a_correct_model_meets_the_contract(model, data):
    assert contract_problems(model, collate(data, range(8))) == []


@pytest.mark.parametrize(("fault", "check"), [
    ("kl_weight_always_zero", "loss"), ("free_bits_as_ceiling", "loss"),
    ("kl_sign_flipped", "loss"), ("recon_counts_padding", "loss"),
    ("noise_ignores_sigma", "sampling"), ("variance_used_as_sigma", "sampling"),
    ("sampling_in_eval", "sampling"), ("event_padding_attended", "padding"),
    ("causal_mask_dropped", "causality"), ("dropout_not_rescaled", "dropout"),
    ("classifier_loss_detached", "gradients"),
])
def test_each_contract_check_catches_its_faults(fault, check, model, data):
    with faults.inject(fault):
        problems = contract_problems(model, collate(data, range(8)))
    assert check in check_names(problems), problems


def test_every_problem_names_a_registered_check():
    problems = [Problem("loss", "x"), Problem("outputs", "mu: missing"), Problem("loss", "y")]
    assert check_names(problems) == ["outputs", "loss"]
    assert [str(p) for p in problems] == ["loss: x", "outputs: mu: missing", "loss: y"]
    # the field is read, not the text: a message that looks like another check's changes nothing
    assert check_names([Problem("sampling", "loss: x")]) == ["sampling"]
    with pytest.raises(ValueError, match="grad of w"):
        check_names([Problem("grad of w", "non-finite")])


def test_batch_check_catches_label_and_value_faults_in_the_trainers_collation(data):
    from seqsetvae.train import trainer

    groups = [np.arange(4), np.arange(4, 8)]
    make = lambda idx: trainer.collate(data, idx)  # noqa: E731 - looked up at call time
    assert batch_problems(make, data, groups) == []
    if len(set(data.labels[:4])) < 2 and len(set(data.labels[4:])) < 2:
        pytest.skip("random labels happen to be one class per group")
    with faults.inject("labels_shuffled"):
        assert "labels" in check_names(batch_problems(make, data, groups))
    with faults.inject("values_zeroed"):
        assert "values" in check_names(batch_problems(make, data, groups))


def test_schedule_check_bounds_lr_and_beta():
    good = [{"step": s + 1, "lr": 1e-3 * min(1, (s + 1) / 5), "beta": 0.1 * min(1, s / 5)}
            for s in range(20)]
    assert schedule_problems(good, 1e-3, 0.1, 5) == []
    frozen = [{**r, "lr": 0.0} for r in good]
    first = schedule_problems(frozen, 1e-3, 0.1, 5)[0]
    assert first.check == "schedule" and first.message.startswith("learning rate")
    runaway = [{**r, "beta": 0.1 * r["step"] / 5} for r in good]
    assert any("beta" in p.message for p in schedule_problems(runaway, 1e-3, 0.1, 5))


def test_stale_gradients_are_reported(model, data):
    assert stale_gradient_problems(model) == []
    model(collate(data, range(4))).loss.backward()
    assert check_names(stale_gradient_problems(model)) == ["gradients"]
