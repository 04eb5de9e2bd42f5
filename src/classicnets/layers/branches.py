"""Parallel branches on one input, concatenated along channels: the Inception module's shape."""

from __future__ import annotations

import torch
from torch import Tensor, nn

#: The entry of a :class:`ConcatBranches` that holds an SE block on the concatenated output.
SE_KEY = "se"


class ConcatBranches(nn.ModuleDict):
    """Named branches applied to the same input; outputs concatenated along channels in order.

    ``ConcatBranches(b1x1=..., b3x3=..., pool_proj=...)``: the names become the state-dict
    prefixes, so a module's branches read like the paper's table columns.

    :meth:`set_se` puts a squeeze-and-excitation block on the concatenated output (SENet Fig. 2,
    the SE-Inception module). It is stored under the reserved name ``"se"``, after the branches,
    so the branches keep their state-dict keys and the SE weights are ``<module>.se.*``.
    """

    def __init__(self, **branches: nn.Module) -> None:
        if SE_KEY in branches:
            raise ValueError(
                f"{SE_KEY!r} is reserved for the SE block on the output (set_se); "
                "give the branch another name"
            )
        super().__init__(branches)

    def set_se(self, se: nn.Module) -> None:
        """Recalibrate the concatenated output with ``se`` (a channel-preserving module)."""
        self[SE_KEY] = se

    def forward(self, x: Tensor) -> Tensor:  # type: ignore[override]
        out = torch.cat([b(x) for name, b in self.items() if name != SE_KEY], dim=1)
        return self[SE_KEY](out) if SE_KEY in self else out
