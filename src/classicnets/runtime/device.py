"""Small runtime helpers shared by train, eval, bench and deploy: precision, seeding, layout.

Precision has one vocabulary everywhere (``--precision``, ``precision=``): :data:`PRECISIONS`.
Two ways to run in a precision below fp32 use it: *autocast* (training, evaluation, bench
without deploy) keeps fp32 weights and runs the matmuls and convolutions in the lower type,
and *conversion* (:func:`classicnets.deployment.convert`) casts the weights themselves.
"""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Iterator
from typing import Literal

import numpy as np
import torch

#: The precisions a model computes in (training and fp inference), by name.
Precision = Literal["fp32", "bf16", "fp16"]

#: The precision names and their torch dtypes: one entry per name of :data:`Precision`.
PRECISIONS: dict[Precision, torch.dtype] = {
    "fp32": torch.float32,
    "bf16": torch.bfloat16,
    "fp16": torch.float16,
}


#: Precisions of the quantized inference path (``deploy``, ``bench --precision int8``,
#: ``classicnets quantize``): not a dtype to compute in, so not in :data:`PRECISIONS`.
QUANTIZED_PRECISIONS: tuple[str, ...] = ("int8",)


def parse_precision(precision: str | torch.dtype) -> torch.dtype:
    """``"fp32" | "bf16" | "fp16"`` (or a torch dtype among those) -> torch dtype."""
    if precision in QUANTIZED_PRECISIONS:
        raise ValueError(
            f"{precision} is a quantized inference precision, not a dtype to train or autocast "
            f"in (those are {', '.join(PRECISIONS)}): use deploy(model, dtype={precision!r}, "
            f"calibration=...), bench --precision {precision} or classicnets quantize"
        )
    if isinstance(precision, torch.dtype):
        if precision not in PRECISIONS.values():
            raise ValueError(
                f"precision {precision} is not supported; use one of {', '.join(PRECISIONS)}"
            )
        return precision
    try:
        return PRECISIONS[precision]
    except KeyError:
        raise ValueError(
            f"unknown precision {precision!r}; use one of {', '.join(PRECISIONS)}"
        ) from None


def autocast(
    device: torch.device, precision: str | torch.dtype
) -> contextlib.AbstractContextManager[None]:
    """bf16 autocast on CPU or CUDA, fp16 on CUDA; fp32 means no autocast."""
    dtype = parse_precision(precision)
    if dtype == torch.float32:
        return contextlib.nullcontext()
    if dtype == torch.float16 and device.type != "cuda":
        raise ValueError("fp16 autocast needs a CUDA device; on CPU use precision=bf16")
    return torch.autocast(device.type, dtype=dtype)


_MIX = 0x9E3779B97F4A7C15


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """A 63-bit seed that differs for every (seed, epoch, index)."""
    h = (seed * 1_000_003 + epoch) & (2**64 - 1)
    h = (h * _MIX + index) & (2**64 - 1)
    h ^= h >> 29
    h = (h * 0xBF58476D1CE4E5B9) & (2**64 - 1)
    return h >> 1


def seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def seed_step(seed: int, step: int, rank: int, device: torch.device) -> None:
    """Model-side randomness (dropout, mixup) of a step depends on (seed, step, rank) only, as
    the data side's does on (seed, epoch, index): resuming at any step draws the same."""
    s = sample_seed(seed, step, -1 - rank)
    torch.default_generator.manual_seed(s)
    if device.type == "cuda":
        torch.cuda.manual_seed(s)


def set_deterministic(enabled: bool, device: torch.device) -> None:
    """Deterministic kernels (bit-exact CPU runs and resumption); CUDA needs cuBLAS settings."""
    if not enabled:
        return
    if device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.benchmark = False
    torch.use_deterministic_algorithms(True, warn_only=True)
    # Deterministic mode also fills every new uninitialised tensor with NaN, a guard against
    # kernels that read memory they never wrote. No kernel the training step uses does (the
    # bit-exact resume tests hold without it), and the extra pass over each buffer cost 3% of
    # a ResNet-20 bf16 step and 10% in fp32 on this project's CPU.
    torch.utils.deterministic.fill_uninitialized_memory = False


def to_device(x: torch.Tensor, device: torch.device, channels_last: bool = False) -> torch.Tensor:
    x = x.to(device, non_blocking=True)
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


@contextlib.contextmanager
def num_threads(n: int | None) -> Iterator[None]:
    if not n:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)
