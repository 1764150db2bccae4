"""Finished runs kept on disk, so an interrupted profile resumes where it stopped.

One JSON file per run, written atomically once the run has finished, named by a hash of
everything that determines its numbers: the data, the resolved config, the profile, the seed,
the device, a fault planted around it (with its module's source) and the code that trains it
(the package's source, torch and numpy; for a run of another checkout, that checkout's source
and the config as its code reads it). A change to any of them makes a new key, so a stale
run is never read back; a file is JSON, never unpickled.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import json
import re
import sys
from pathlib import Path

import numpy as np

from ..data.packed import PackedData
from ..errors import InputError
from ..fileio import write_json
from .identity import code_identity, digest
from .runjob import RunJob

STORE_FORMAT = 1  # bump when a stored file changes meaning


class StoreError(InputError):
    """A results file that is not a finished run; the message names it."""


def data_identity(data: PackedData) -> str:
    """A hash of the data's content (object arrays, such as patient ids, by their values)."""
    parts = [json.dumps(data.variables).encode()]
    for f in dataclasses.fields(data):
        a = getattr(data, f.name)
        if f.name != "variables":
            content = (json.dumps(a.tolist()).encode() if a.dtype == object
                       else np.ascontiguousarray(a).tobytes())
            parts += [f"{f.name}:{a.dtype}{a.shape}".encode(), content]
    return digest(*parts)


def setup_identity(setup) -> dict | None:
    """A planted fault by its callable, arguments and the source of the module defining it."""
    if setup is None:
        return None
    func, args, kwargs = ((setup.func, setup.args, setup.keywords)
                          if isinstance(setup, functools.partial) else (setup, (), {}))
    module = sys.modules[func.__module__]
    return {"callable": f"{func.__module__}.{func.__qualname__}", "args": repr(args),
            "kwargs": repr(sorted(kwargs.items())),
            "source": digest(inspect.getsource(module).encode())}


def run_key(job: RunJob) -> dict:
    # the profile's seed list is left out: a run reads only its own seed, so a profile extended
    # from N seeds to more (--seeds N, then the full list) reads back the N runs it has
    profile = {k: v for k, v in dataclasses.asdict(job.profile).items() if k != "seeds"}
    config, code = job.cfg.to_flat(), code_identity()
    if job.code is not None:  # another checkout's code reads the config and the profile's name
        profile = {"name": job.profile.name, "steps": job.profile.steps}
        config, code = job.code.config_identity(), job.code.identity()
    return {"format": STORE_FORMAT, "config_name": job.config_name, "config": config,
            "profile": profile, "seed": job.seed, "device": job.device,
            "train": data_identity(job.train), "valid": data_identity(job.valid),
            "setup": setup_identity(job.setup), "code": code}


class RunStore:
    """A results folder: ``read`` a finished run's record by its key, ``write`` one."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"results folder {self.folder}: {exc.strerror or exc}") from None

    def path(self, key: dict) -> Path:
        hashed = digest(json.dumps(key, sort_keys=True).encode())
        name = re.sub(r"[^A-Za-z0-9_.=@-]+", "_", key["config_name"])
        return self.folder / f"{name}-seed{key['seed']}-{hashed[:24]}.json"

    def read(self, key: dict) -> dict | None:
        """The record stored under ``key``; None if this run has not finished here before."""
        path = self.path(key)
        try:
            stored = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise StoreError(f"{path} is not a finished run ({exc}); delete it to train the run "
                             "again") from None
        if not isinstance(stored, dict) or stored.get("key") != json.loads(json.dumps(key)):
            raise StoreError(f"{path} holds another run than its name says; delete it to train "
                             "the run again")
        return stored["record"]

    def write(self, key: dict, record: dict) -> Path:
        return write_json(self.path(key), {"key": key, "record": record}, indent=None)
