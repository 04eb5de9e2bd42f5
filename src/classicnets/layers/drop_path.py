"""Stochastic depth (Huang et al., 2016, "Deep Networks with Stochastic Depth"): in training,
each sample's residual branch is dropped with probability ``rate`` and the kept ones scaled by
``1 / (1 - rate)``; in evaluation the branch always runs. Not in the ResNet, ResNeXt or SENet
papers: an option (``drop_path_rate``, default 0) for training them with a modern recipe."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class DropPath(nn.Module):
    """Drops a residual branch per sample (see the module docstring); no parameters."""

    def __init__(self, rate: float) -> None:
        super().__init__()
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"drop path rate must be in [0, 1), got {rate}")
        self.rate = rate

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.rate == 0.0:
            return x
        keep = 1.0 - self.rate
        mask = torch.empty((x.shape[0],) + (1,) * (x.dim() - 1), device=x.device, dtype=x.dtype)
        return x * mask.bernoulli_(keep).div_(keep)

    def extra_repr(self) -> str:
        return f"rate={self.rate:g}"


def set_drop_path(blocks: list[nn.Module], rate: float) -> None:
    """Give each block a :class:`DropPath` whose rate grows linearly with depth, from 0 at the
    first block to ``rate`` at the last (the paper's linear decay rule); ``rate=0`` sets none."""
    if rate == 0.0:
        return
    last = max(len(blocks) - 1, 1)
    for i, block in enumerate(blocks):
        block.drop_path = DropPath(rate * i / last)
