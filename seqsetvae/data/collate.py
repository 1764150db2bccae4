"""Padded batches: [B, S, N] tensors with event and set masks, built with index arithmetic."""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import torch

from .packed import PackedData


@dataclass
class Batch:
    var_idx: torch.Tensor  # [B, S, N] int64
    values: torch.Tensor  # [B, S, N] float32, z-scored (0 at padding)
    event_mask: torch.Tensor  # [B, S, N] bool, True for real events
    set_mask: torch.Tensor  # [B, S] bool, True for real sets (left-aligned)
    times: torch.Tensor  # [B, S] float32 minutes since the patient's first set
    labels: torch.Tensor  # [B] float32 in {0, 1}

    def to(self, device, non_blocking: bool = False) -> Batch:
        return Batch(**{f.name: getattr(self, f.name).to(device, non_blocking=non_blocking)
                        for f in fields(self)})

    @property
    def num_events(self) -> int:
        return int(self.event_mask.sum())


def _ragged_positions(starts: np.ndarray, lengths: np.ndarray):
    """For ranges [start, start+len): (owner index, position within range, absolute index)."""
    owner = np.repeat(np.arange(len(lengths)), lengths)
    first = np.repeat(np.cumsum(lengths) - lengths, lengths)
    pos = np.arange(int(lengths.sum())) - first
    return owner, pos, np.repeat(starts, lengths) + pos


def collate(data: PackedData, indices, max_sets: int | None = None) -> Batch:
    """Pad patients ``indices`` into one batch; ``max_sets`` keeps each one's latest sets."""
    idx = np.asarray(indices, dtype=np.int64)
    set_start = data.set_offsets[idx]
    n_sets = data.set_offsets[idx + 1] - set_start
    if max_sets is not None:
        cut = np.maximum(n_sets - max_sets, 0)
        set_start, n_sets = set_start + cut, n_sets - cut
    B, S = len(idx), max(int(n_sets.max(initial=0)), 1)
    b_of_set, s_of_set, set_ids = _ragged_positions(set_start, n_sets)

    ev_start = data.event_offsets[set_ids]
    n_ev = data.event_offsets[set_ids + 1] - ev_start
    N = max(int(n_ev.max(initial=0)), 1)
    set_of_ev, n_of_ev, ev_ids = _ragged_positions(ev_start, n_ev)
    b_ev, s_ev = b_of_set[set_of_ev], s_of_set[set_of_ev]

    var_idx = np.zeros((B, S, N), np.int64)
    values = np.zeros((B, S, N), np.float32)
    event_mask = np.zeros((B, S, N), bool)
    var_idx[b_ev, s_ev, n_of_ev] = data.var_idx[ev_ids]
    values[b_ev, s_ev, n_of_ev] = data.values[ev_ids]
    event_mask[b_ev, s_ev, n_of_ev] = True

    set_mask = np.zeros((B, S), bool)
    times = np.zeros((B, S), np.float32)
    set_mask[b_of_set, s_of_set] = True
    t = data.set_times[set_ids]
    first_t = np.repeat(data.set_times[set_start[n_sets > 0]], n_sets[n_sets > 0])
    times[b_of_set, s_of_set] = t - first_t

    return Batch(
        var_idx=torch.from_numpy(var_idx),
        values=torch.from_numpy(values),
        event_mask=torch.from_numpy(event_mask),
        set_mask=torch.from_numpy(set_mask),
        times=torch.from_numpy(times),
        labels=torch.from_numpy(data.labels[idx].copy()),
    )
