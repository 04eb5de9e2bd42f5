"""Classifier heads: global pooling -> dropout -> linear."""

from __future__ import annotations

from typing import Literal, get_args

import torch
from torch import Tensor, nn

GlobalPool = Literal["avg", "max"]


class ClassifierHead(nn.Module):
    """Global average (or max) pooling over any spatial size, dropout, then a linear layer.

    ``num_classes=0`` removes the linear layer so the head returns pooled features.
    """

    def __init__(
        self,
        in_features: int,
        num_classes: int,
        *,
        drop_rate: float = 0.0,
        pool: GlobalPool = "avg",
    ) -> None:
        super().__init__()
        if pool not in get_args(GlobalPool):
            raise ValueError(f"pool must be 'avg' or 'max', got {pool!r}")
        self.in_features = in_features
        self.pool_type = pool
        self.drop = nn.Dropout(drop_rate)
        self.fc: nn.Module = self._make_fc(num_classes)

    def _make_fc(self, num_classes: int) -> nn.Module:
        if num_classes < 0:
            raise ValueError(f"num_classes must be >= 0, got {num_classes}")
        return nn.Linear(self.in_features, num_classes) if num_classes else nn.Identity()

    def reset(self, num_classes: int) -> None:
        """Replace the linear layer by a freshly initialised one with ``num_classes`` outputs."""
        fc = self._make_fc(num_classes)
        if isinstance(fc, nn.Linear):
            ref = next(self.parameters(), None)
            fc = fc.to(device=ref.device, dtype=ref.dtype) if ref is not None else fc
            nn.init.normal_(fc.weight, std=0.01)
            nn.init.zeros_(fc.bias)
        self.fc = fc

    def forward(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        if x.dim() == 4:  # (N, C, H, W) -> (N, C)
            x = x.mean((2, 3)) if self.pool_type == "avg" else torch.amax(x, dim=(2, 3))
        x = self.drop(x)
        return x if pre_logits else self.fc(x)
