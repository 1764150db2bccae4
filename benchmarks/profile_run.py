"""Where one quick-profile run's time goes, phase by phase: building the trainer, the micro-batches'
forward and backward, the optimizer updates, the probe evaluation after every step, and the
checks after training. Runs several seeds in one process, so the first run's one-off costs
(lazy imports, first calls) show apart from the steady state.

    python benchmarks/profile_run.py --dataset pbcseq --config baseline --precision bf16

One intra-op thread, as in the suite's workers. For the operators inside a step, see
profile_step.py.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from unittest import mock

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "stability_suite"))  # the suite's named configs and synthetic data

from stability_support import SYNTHETIC, run_config  # noqa: E402

from seqsetvae.config import PRECISIONS  # noqa: E402
from seqsetvae.data import DataSource  # noqa: E402
from seqsetvae.data.builtin import write_pbcseq, write_synthetic  # noqa: E402
from seqsetvae.stability import runs  # noqa: E402
from seqsetvae.train.trainer import Trainer  # noqa: E402

# phase -> (object, attribute) whose calls it times; what is left is the loop's own overhead
PHASES = {
    "build trainer": (Trainer, "__init__"),
    "forward + backward": (Trainer, "_forward_backward"),
    "optimizer update": (Trainer, "_update"),
    "probe evaluations": (runs, "probe_loss"),
    "validation AUROC": (runs, "validation_auroc"),
    "posterior health": (runs, "posterior_health"),
    "contract checks": (runs, "contract_problems"),
}


def timed(spent: Counter, phase: str, fn):
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            spent[phase] += time.perf_counter() - start
    return wrapper


def load(dataset: str, root: Path):
    path = (write_synthetic(root / "synthetic", SYNTHETIC) if dataset == "synthetic"
            else write_pbcseq(root / "pbcseq"))
    src = DataSource.resolve(path)
    stats, labels = src.stats(), src.labels()
    return src.load("train", stats, labels), src.load("valid", stats, labels)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=("synthetic", "pbcseq"), default="synthetic")
    parser.add_argument("--config", default="optimized", help="preset or suite control")
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32")
    parser.add_argument("--profile", choices=sorted(runs.PROFILES), default="quick")
    parser.add_argument("--seeds", type=int, default=3, help="runs in this process")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    profile = runs.PROFILES[args.profile]
    cfg = run_config(args.config, {"profile": profile, "precision": args.precision})
    with tempfile.TemporaryDirectory() as tmp:
        train, valid = load(args.dataset, Path(tmp))
    spent: Counter = Counter()
    with ExitStack() as patches:
        for phase, (owner, name) in PHASES.items():
            patches.enter_context(mock.patch.object(
                owner, name, timed(spent, phase, getattr(owner, name))))
        for seed in range(args.seeds):
            spent.clear()
            start = time.perf_counter()
            runs.traced_run(cfg, args.config, train, valid, profile, seed)
            total = time.perf_counter() - start
            parts = ", ".join(f"{phase} {spent[phase]:.2f} s ({spent[phase] / total:.0%})"
                              for phase in PHASES)
            print(f"{args.dataset} {args.config} {args.precision} seed {seed}: {total:.2f} s; "
                  f"{parts}")


if __name__ == "__main__":
    main()
