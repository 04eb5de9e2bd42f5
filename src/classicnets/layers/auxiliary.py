"""Auxiliary classifiers (GoogLeNet, Inception v3): side heads that only run in training.

Both papers put a small classifier on an intermediate feature map, behind a 5x5 average pool of
stride 3 (GoogLeNet: 14x14 -> 4x4 on 4a and 4d; Inception v3: 17x17 -> 5x5 on the last 17x17
module). What is shared, and defined here once:

* :class:`AuxPool`, that pool made safe for any input size. The layers behind it need a fixed
  grid (GoogLeNet's FC takes exactly 4x4x128; Inception v3's 5x5 "valid" conv needs at least
  5x5). Where the paper's 5x5/3 window gives that grid (the paper's input size) it is used as
  is; elsewhere the map is average-pooled adaptively to the grid, so training at other sizes
  works instead of failing with a shape error deep inside the head.
* :class:`AuxClassifier`, the base class that marks a module as an auxiliary head: the model's
  ``forward`` never runs it, ``forward_with_aux`` does in training, and ``summary``/``verify``
  count its parameters separately (the papers count the network without them).
* :func:`run_with_aux`, the loop that feeds the taps' outputs to their heads.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch.nn.functional as F
from torch import Tensor, nn

from .head import ClassifierHead


class AuxPool(nn.Module):
    """5x5/3 average pooling onto a ``grid`` x ``grid`` map, adaptive where the window misses.

    ``window=None`` always pools adaptively (torchvision's GoogLeNet). ``larger_ok`` accepts a
    fixed-window output larger than ``grid`` (the layers behind it pool globally).
    """

    def __init__(
        self,
        grid: int,
        *,
        window: tuple[int, int] | None = (5, 3),
        larger_ok: bool = False,
    ) -> None:
        super().__init__()
        self.grid = grid
        self.kernel_size, self.stride = window if window is not None else (0, 0)
        self.larger_ok = larger_ok

    def _window_fits(self, size: int) -> bool:
        if self.kernel_size == 0 or size < self.kernel_size:
            return False
        out = (size - self.kernel_size) // self.stride + 1
        return out == self.grid or (self.larger_ok and out > self.grid)

    def forward(self, x: Tensor) -> Tensor:
        if self._window_fits(x.shape[-2]) and self._window_fits(x.shape[-1]):
            return F.avg_pool2d(x, self.kernel_size, self.stride)
        return F.adaptive_avg_pool2d(x, self.grid)

    def extra_repr(self) -> str:
        if self.kernel_size == 0:
            return f"adaptive to {self.grid}x{self.grid}"
        return f"{self.kernel_size}x{self.kernel_size}/{self.stride}, else adaptive to {self.grid}"


class AuxClassifier(nn.Module):
    """Base class of auxiliary heads: ``pool`` -> family-specific ``body`` -> ``head``.

    ``head`` is a :class:`ClassifierHead` (dropout + linear; it pools globally if the body leaves
    a spatial map), so ``reset(num_classes)`` works as on the main head.
    """

    pool: nn.Module
    body: nn.Module
    head: ClassifierHead

    def reset(self, num_classes: int) -> None:
        self.head.reset(num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.body(self.pool(x)))


def run_with_aux(
    x: Tensor, trunk: Iterable[tuple[str, nn.Module]], heads: Mapping[str, nn.Module]
) -> tuple[Tensor, list[Tensor]]:
    """Run ``trunk`` in order; after each module named in ``heads``, run that head on its output.

    Returns the trunk's output and the heads' outputs in trunk order.
    """
    aux: list[Tensor] = []
    for name, module in trunk:
        x = module(x)
        head = heads.get(name)
        if head is not None:
            aux.append(head(x))
    return x, aux
