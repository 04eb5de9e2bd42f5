"""Parallel branches on one input, concatenated along channels: the Inception module's shape."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class ConcatBranches(nn.ModuleDict):
    """Named branches applied to the same input; outputs concatenated along channels in order.

    ``ConcatBranches(b1x1=..., b3x3=..., pool_proj=...)``: the names become the state-dict
    prefixes, so a module's branches read like the paper's table columns.
    """

    def __init__(self, **branches: nn.Module) -> None:
        super().__init__(branches)

    def forward(self, x: Tensor) -> Tensor:  # type: ignore[override]
        return torch.cat([branch(x) for branch in self.values()], dim=1)
