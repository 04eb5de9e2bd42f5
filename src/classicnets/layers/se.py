"""Squeeze-and-excitation: the only SE block in the repository (Hu et al., arXiv 1709.01507).

An SE block recalibrates the channels of a feature map ``U`` (C x H x W):

* **squeeze** (Sec. 3.1): global pooling to one value per channel, ``z = avg(U)`` (the paper's
  choice) or ``max(U)`` (the Table 11 ablation);
* **excitation** (Sec. 3.2, Eq. 3): ``s = gate(W2 relu(W1 z))`` with ``W1`` reducing C to C/r and
  ``W2`` restoring C; ``gate`` is a sigmoid (the paper), or ReLU / tanh (the Table 12 ablation);
* **scale** (Eq. 4): ``U * s`` channel-wise.

The two fully-connected layers are 1x1 convolutions on the pooled 1x1 map: the same function and
the same parameters (weights and biases) as linear layers, and the layout of the authors' Caffe
models as timm loads them (``se_module.fc1/fc2``).

**Channel rounding**, pinned: the hidden width is ``max(1, C // r)`` (floor division, at least one
unit), as in the authors' released models. Every SE-ResNet / SE-ResNeXt / SENet-154 width is a
multiple of 16, so the rounding only matters for other families and other ratios; it is written
once here (``se_hidden_channels``) so that every family rounds the same way.

Two options exist only to compute timm's networks (SENet's compatibility variants), never the
paper's: ``divisor=8`` rounds ``C / r`` to the nearest multiple of 8, at least 8 (timm's
``make_divisible`` in its non-legacy SE-ResNets: 64 channels get 8 hidden units, not 4), and
``input_relu=True`` rectifies the block's input first, so that the rectified tensor is both
squeezed and scaled (timm's ``legacy_seresnet18/34`` put a ReLU after the residual's last BN).

Where the block goes is the host's business (the residual block, an Inception module, a VGG
stage...); :class:`SEConfig` carries the block's own options so that any family can take one
``se=SEConfig(...)`` argument and call ``se.build(channels)`` wherever the paper puts SE.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import torch
from torch import Tensor, nn

__all__ = ["SEConfig", "SqueezeExcite", "se_hidden_channels"]

Squeeze = Literal["avg", "max"]
Excitation = Literal["sigmoid", "relu", "tanh"]

_GATES: dict[Excitation, type[nn.Module]] = {
    "sigmoid": nn.Sigmoid,
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
}


def se_hidden_channels(channels: int, reduction: int, divisor: int | None = None) -> int:
    """Width of the excitation's bottleneck: ``max(1, channels // reduction)`` (the paper's), or
    with ``divisor`` d: ``channels / reduction`` rounded to the nearest multiple of d, at least d
    (timm's ``make_divisible``, halves rounded up)."""
    if channels < 1:
        raise ValueError(f"an SE block needs at least one channel, got {channels}")
    if reduction < 1:
        raise ValueError(f"the SE reduction ratio r must be >= 1, got {reduction}")
    if divisor is None:
        return max(1, channels // reduction)
    return max(divisor, int(channels / reduction + divisor / 2) // divisor * divisor)


def _check_options(
    reduction: int, squeeze: str, excitation: str, divisor: int | None = None
) -> None:
    if not isinstance(reduction, int) or reduction < 1:
        raise ValueError(f"the SE reduction ratio r must be an integer >= 1, got {reduction!r}")
    if divisor is not None and (not isinstance(divisor, int) or divisor < 1):
        raise ValueError(f"the SE width divisor must be None or an integer >= 1, got {divisor!r}")
    if squeeze not in get_args(Squeeze):
        raise ValueError(f"SE squeeze must be 'avg' (paper) or 'max', got {squeeze!r}")
    if excitation not in get_args(Excitation):
        raise ValueError(
            f"SE excitation must be 'sigmoid' (paper), 'relu' or 'tanh', got {excitation!r}"
        )


class SqueezeExcite(nn.Module):
    """Squeeze (global pool) -> excitation (FC C/r, ReLU, FC C, gate) -> channel-wise scale."""

    def __init__(
        self,
        channels: int,
        *,
        reduction: int = 16,
        squeeze: Squeeze = "avg",
        excitation: Excitation = "sigmoid",
        divisor: int | None = None,
        input_relu: bool = False,
    ) -> None:
        super().__init__()
        _check_options(reduction, squeeze, excitation, divisor)
        hidden = se_hidden_channels(channels, reduction, divisor)
        self.squeeze = squeeze
        self.input_relu = input_relu
        self.fc1 = nn.Conv2d(channels, hidden, 1)
        self.act = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(hidden, channels, 1)
        self.gate = _GATES[excitation]()

    def forward(self, x: Tensor) -> Tensor:
        if self.input_relu:  # not in place: x may be a block's input, which its shortcut reads
            x = torch.relu(x)
        # (N, C, H, W) -> (N, C, 1, 1)
        z = x.mean((2, 3), keepdim=True) if self.squeeze == "avg" else torch.amax(x, (2, 3), True)
        s = self.gate(self.fc2(self.act(self.fc1(z))))
        return x * s


@dataclass(frozen=True)
class SEConfig:
    """The SE block's own options (the paper's ablations), for a family to build blocks from.

    ``SEConfig()`` is the paper's block: r = 16, average squeeze, sigmoid gate. ``divisor`` and
    ``input_relu`` build timm's variants of it (see the module docstring).
    """

    reduction: int = 16
    squeeze: Squeeze = "avg"
    excitation: Excitation = "sigmoid"
    divisor: int | None = None
    input_relu: bool = False

    def __post_init__(self) -> None:
        _check_options(self.reduction, self.squeeze, self.excitation, self.divisor)

    def build(self, channels: int) -> SqueezeExcite:
        """An SE block recalibrating ``channels`` channels."""
        return SqueezeExcite(
            channels,
            reduction=self.reduction,
            squeeze=self.squeeze,
            excitation=self.excitation,
            divisor=self.divisor,
            input_relu=self.input_relu,
        )

    def extra_params(self, channels: int) -> int:
        """Parameters one block on ``channels`` channels adds (weights and biases)."""
        hidden = se_hidden_channels(channels, self.reduction, self.divisor)
        return 2 * channels * hidden + hidden + channels
