import pytest
import torch

from .factories import random_packed

# One intra-op thread: tiny test models run faster without OpenMP hand-offs, results do not depend
# on the machine's core count, and parallel test processes do not oversubscribe the CPU.
torch.set_num_threads(1)


# The small trainer datasets shared by the trainer, end-of-run and reliability tests. Module
# scope: each test module builds its own copy, so one module cannot leak edits into another.
@pytest.fixture(scope="module")
def data():
    """24 training patients (up to 5 sets of up to 4 events): 6 micro-batches of 4."""
    return random_packed(24, max_sets=5, max_events=4, seed=11)


@pytest.fixture(scope="module")
def valid():
    """8 validation patients."""
    return random_packed(8, max_sets=5, max_events=4, seed=12)
