"""End-to-end check: the real loader packs a split, collate pads a batch, and a small model built
from the optimized preset runs it within the model's output contract (``model/contract.py``:
shapes, dtypes, finite values).

Layout A loads a sample of patient files (linked into a temporary directory) through the same
DataSource.load: reading every file twice would double the cost of validating 10^4 patients, and
the per-row checks already cover the rest of the split.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np

from .base import Finding, RawData, error, warning
from .events import Bounds

CHECK = "model_batch"
SMALL = dict(model_dim=32, latent_dim=8, ff_dim=32, transformer_heads=4, set_heads=4,
             num_inducing=4)


def check_model_batch(d: RawData, bounds: Bounds, batch_size: int = 8,
                      sample: int = 64) -> list[Finding]:
    import torch

    from ..config import preset
    from ..data.collate import collate
    from ..model import build_model
    from ..model.contract import output_problems

    src = d.source
    if src.params_map_path is None or src.label_path is None or (
            src.data_dir is None and src.events_path is None):
        return []  # files_readable already says what is missing
    split = "train" if "train" in d.splits else d.splits[0]
    out = []
    tmp = tempfile.mkdtemp(prefix="seqsetvae-check-") if d.layout == "A" else None
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")  # the loader's DataWarnings become findings here
            try:
                data = _sampled(d, split, sample, tmp).load(split)
            except Exception as exc:
                return [error(CHECK, f"the loader refused split {split!r}: {exc}",
                              f"split {split}")]
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    out += [warning(CHECK, f"loader warning: {w.message}", f"split {split}") for w in caught]
    idx = np.flatnonzero(data.num_sets > 0)[:batch_size]
    if len(idx) == 0:
        return out + [error(CHECK, f"split {split!r} has no patient with events", f"split {split}")]
    try:
        batch = collate(data, idx)
        emb = _embeddings(src, data.variables)
        cfg = preset("optimized").replace(**SMALL)
        with torch.random.fork_rng(), torch.no_grad():
            torch.manual_seed(0)
            model = build_model(len(data.variables), cfg, emb).eval()
            res = model(batch)
    except Exception as exc:
        return out + [error(CHECK, f"a batch of patients {list(data.patient_ids[idx])} failed in "
                            f"the model ({type(exc).__name__}: {exc})", f"split {split}")]
    patients = list(data.patient_ids[idx])
    out += [error(CHECK, f"output {problem} (patients {patients})", f"split {split}")
            for problem in output_problems(res, batch, cfg.model.latent_dim)]
    if not torch.isfinite(batch.values).all():
        out.append(error(CHECK, "the batch holds non-finite values", f"split {split}"))
    return out


def _sampled(d: RawData, split: str, sample: int, tmp: str | None):
    """Layout A: a DataSource over the first ``sample`` patient files of ``split`` (the whole
    split when it is that small). Layout B is one table; it is loaded whole."""
    if tmp is None:
        return d.source
    files = d.patients.loc[d.patients["split"] == split, "file"].tolist()
    if len(files) <= sample:
        return d.source
    folder = Path(tmp) / split
    folder.mkdir()
    for f in files[:sample]:
        try:
            os.symlink(os.path.abspath(f), folder / Path(f).name)
        except OSError:  # no symlinks here (some filesystems): copy the few files instead
            shutil.copy(f, folder / Path(f).name)
    return dataclasses.replace(d.source, data_dir=Path(tmp))


def _embeddings(src, variables):
    """The cached embeddings in variable order, or None when absent or incomplete (the
    embeddings check reports why)."""
    import torch

    if src.embeddings_path is None:
        return None
    try:
        table = src.embeddings()
    except Exception:
        return None
    if not set(variables) <= set(table.index):
        return None
    return torch.tensor(table.loc[variables].to_numpy(np.float32))
