"""Training under ``torchrun`` (WORLD_SIZE > 1): joining the process group, and the collectives
the trainer needs. The trainer calls the collectives only when there is more than one process.

Every rank runs the same loop over the same global batches and takes its share of each step's
micro-batches; summing the gradients (and the logged loss terms) across ranks then gives each rank
the gradient one process would compute, so every rank takes the same optimizer step.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


def init_distributed(device: torch.device) -> tuple[int, int, torch.device]:
    """Join the torchrun process group when WORLD_SIZE > 1 (gloo on CPU, NCCL on CUDA);
    returns (rank, world size, this rank's device)."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        if device.type == "cuda" and device.index is None:
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if not dist.is_initialized():
        return 0, 1, device
    return dist.get_rank(), dist.get_world_size(), device


def broadcast_weights(model: torch.nn.Module) -> None:
    """Give every rank rank 0's weights, so all start identical whatever each one loaded."""
    for t in model.state_dict().values():
        dist.broadcast(t, 0)


def all_reduce_grads(params: list, sums: torch.Tensor) -> torch.Tensor:
    """Sum gradients and loss terms over ranks in one collective (one launch instead of one per
    parameter). A parameter keeps grad None only if it got none on every rank, as in one process,
    where AdamW then skips it. Returns the summed ``sums``."""
    has = torch.tensor([p.grad is not None for p in params], dtype=sums.dtype,
                       device=sums.device)
    grads = [torch.zeros_like(p) if p.grad is None else p.grad for p in params]
    flat = torch.cat([*(g.flatten() for g in grads), has, sums])
    dist.all_reduce(flat)
    offset = 0
    for p, got in zip(params, flat[-len(params) - len(sums):-len(sums)].tolist()):
        size = p.numel()
        p.grad = flat[offset:offset + size].view_as(p).clone() if got else None
        offset += size
    return flat[-len(sums):]


def any_rank(flag: bool, device: torch.device) -> bool:
    """True on every rank if ``flag`` is true on any: lets all ranks stop together when one of
    them (e.g. rank 0, the only writer) cannot go on."""
    t = torch.tensor([float(flag)], device=device)
    dist.all_reduce(t)
    return bool(t.item())
