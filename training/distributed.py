"""Multi-process training through ``torchrun``: one process per GPU (NCCL) or per CPU worker (gloo).

Without torchrun's environment variables everything runs in one process and these helpers are no-ops.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Context:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def init_from_environment() -> Context:
    """Join the process group torchrun set up (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return Context()
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend=backend)
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
    return Context(dist.get_rank(), dist.get_world_size(), local_rank)


def barrier(context: Context) -> None:
    if context.distributed:
        dist.barrier()


def mean_across_ranks(value: float, context: Context) -> float:
    if not context.distributed:
        return value
    tensor = torch.tensor([value], dtype=torch.float64)
    dist.all_reduce(tensor)
    return float(tensor.item()) / context.world_size


def shutdown(context: Context) -> None:
    if context.distributed and dist.is_initialized():
        dist.destroy_process_group()
