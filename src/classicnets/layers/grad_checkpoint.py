"""Gradient checkpointing for any model described by ``set_stages``.

``ClassicNet.set_grad_checkpointing()`` makes the stages run through :func:`run_checkpointed`:
an ``nn.Sequential`` stage module of blocks is checkpointed block by block, one of single
convolution units (VGG) and any other stage module as a whole. Activations inside a
checkpointed segment are not kept for the backward pass but recomputed there, which trades
one extra forward of the stages for their activation memory.

Batch norm in training mode would update its running statistics a second time during the
recomputation (PyTorch's checkpoint replays the forward as is); the recomputation here runs with
those updates switched off, so running statistics are identical with and without checkpointing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

__all__ = ["run_checkpointed"]


@contextmanager
def _no_running_stat_updates(module: nn.Module) -> Iterator[None]:
    norms = [
        m
        for m in module.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training and m.track_running_stats
    ]
    saved = [(m.momentum, m.num_batches_tracked.clone()) for m in norms]  # type: ignore[union-attr]
    for m in norms:
        m.momentum = 0.0  # running = (1 - 0) * running + 0 * batch: unchanged
    try:
        yield
    finally:
        for m, (momentum, count) in zip(norms, saved, strict=True):
            m.momentum = momentum
            m.num_batches_tracked.copy_(count)  # type: ignore[union-attr]


def _checkpoint(module: nn.Module, x: Tensor) -> Tensor:
    if next(module.parameters(), None) is None:
        # A lone activation or pool: nothing to save by recomputing it, and an in-place one
        # (DenseNet's final ReLU) would modify the checkpointed output its neighbour replays.
        return module(x)
    return checkpoint(  # type: ignore[no-any-return]
        module,
        x,
        use_reentrant=False,
        context_fn=lambda: (nullcontext(), _no_running_stat_updates(module)),
    )


def _is_unit(module: nn.Module) -> bool:
    """A single conv [-> BN] [-> ReLU] or a parameter-free layer: it keeps nothing for backward
    beyond its input and output, so checkpointing it alone saves nothing."""
    from . import ConvNormAct

    return isinstance(module, (ConvNormAct, nn.Conv2d)) or next(module.parameters(), None) is None


def run_checkpointed(module: nn.Module, x: Tensor) -> Tensor:
    """``module(x)`` with activations recomputed in backward.

    An ``nn.Sequential`` of blocks (residual, dense, Inception modules) is checkpointed block by
    block: each keeps only its input. One made of single convolution units (VGG's stages, the
    Inception stems) is checkpointed as a whole: per unit, the unit's input would be kept, and
    that is every activation there is (VGG-16 saved as much as without checkpointing).
    """
    if not torch.is_grad_enabled():
        return module(x)
    if isinstance(module, nn.Sequential) and not all(_is_unit(m) for m in module):
        for block in module:
            x = _checkpoint(block, x)
        return x
    return _checkpoint(module, x)
