"""Batch-norm statistics for untrained networks, so that checks on them mean something.

A freshly built network's batch norms are the identity (mean 0, variance 1, scale 1, shift 0).
Checked as they are, a wrong batch-norm mapping goes unnoticed (oracle tests against torchvision
/ timm), folding a batch norm is the identity (``deploy``), and a very deep network overflows in
eval mode (ResNet-1202: 600 residual branches add up past float32), leaving nothing to compare an
export or an int8 program against. :func:`stand_in_batchnorm` gives them statistics that stand
in for trained ones. Used by the tests and the export / int8 matrices in ``benchmarks/``.
"""

from __future__ import annotations

from typing import TypeVar

import torch
from torch import Tensor, nn

__all__ = ["stand_in_batchnorm"]

M = TypeVar("M", bound=nn.Module)


@torch.no_grad()
def stand_in_batchnorm(
    model: M, images: Tensor | None = None, *, seed: int | None = None, conv_bias: bool = False
) -> M:
    """Give every batch norm of ``model`` statistics that are not the identity; returns
    ``model``, in eval mode.

    With ``images``: every batch norm's running statistics become those of ``images`` (one
    train-mode forward, averaged cumulatively: exactly that batch's statistics), as a trained
    network's are those of its data; what keeps the deepest networks finite in eval mode.

    Without: random running statistics and affine parameters near the identity (mean and shift
    uniform in +/-0.1, variance in [0.5, 1.5], scale in [0.5, 1]) for every ``BatchNorm2d``:
    near it because an untrained deep network is only well conditioned there (statistics of a
    handful of random images would divide by their small variances and amplify any rounding),
    far enough from it that a wrong mapping shows and folding is a real transform. ``seed``
    draws from a private generator instead of the global one; ``conv_bias`` also randomizes the
    convolution biases (the SE blocks' FCs).
    """
    if images is not None:
        if seed is not None or conv_bias:
            raise ValueError("seed and conv_bias apply to random statistics (no images)")
        _measure(model, images)
    else:
        _randomize(model, seed, conv_bias)
    return model.eval()


def _measure(model: nn.Module, images: Tensor) -> None:
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average: one batch gives exactly its statistics
    model.train()
    model(images)
    for m, momentum in zip(norms, saved, strict=True):
        m.momentum = momentum


def _randomize(model: nn.Module, seed: int | None, conv_bias: bool) -> None:
    gen = None if seed is None else torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1, generator=gen)
            m.running_var.uniform_(0.5, 1.5, generator=gen)
            if m.affine:
                m.weight.uniform_(0.5, 1.0, generator=gen)
                m.bias.uniform_(-0.1, 0.1, generator=gen)
        elif conv_bias and isinstance(m, nn.Conv2d) and m.bias is not None:
            m.bias.uniform_(-0.5, 0.5, generator=gen)
