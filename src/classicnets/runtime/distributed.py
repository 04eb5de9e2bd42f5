"""Process-group setup for torchrun, and the few collective helpers the loop needs.

``torchrun --nproc_per_node N -m classicnets train ...`` sets RANK, WORLD_SIZE and LOCAL_RANK;
without them everything runs as a single process. gloo on CPU, NCCL on CUDA. Only rank 0
writes files and prints progress.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import torch
import torch.distributed as dist

from ..errors import ClassicNetsError


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ClassicNetsError(f"device {name!r}: use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ClassicNetsError(
            f"device {name!r}: no CUDA GPU is available to PyTorch here; use --device cpu (or auto)"
        )
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", local_rank)
    return device


def setup(device_name: str = "auto") -> DistInfo:
    """Join the process group when launched by torchrun; a single process otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(device_name, local_rank)
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend=backend)
    return DistInfo(rank=rank, world_size=world, local_rank=local_rank, device=device)


def teardown(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_sum(t: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Sum a tensor over all processes (a no-op for one process)."""
    if info.enabled:
        # gloo reduces CPU tensors; NCCL needs them on the GPU
        work = t.to(info.device) if info.device.type == "cuda" else t
        dist.all_reduce(work, op=dist.ReduceOp.SUM)
        return work.to(t.device)
    return t


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()
