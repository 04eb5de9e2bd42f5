"""Input normalisation that a checkpoint expects, made explicit.

Some released weights were trained on differently normalised images than the usual ImageNet
mean/std: torchvision's GoogLeNet and Inception v3 weights (ported from Google's releases) expect
pixels scaled to [-1, 1], i.e. mean = std = 0.5 per channel. torchvision hides the conversion in
the model's forward (``transform_input``). Here it is data (:class:`Normalization`, for the data
pipeline) and, if wanted, a visible first module (:class:`Renormalize`) that a summary lists.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn


@dataclass(frozen=True)
class Normalization:
    """Per-channel ``(pixel - mean) / std`` for pixels in [0, 1]."""

    mean: tuple[float, ...]
    std: tuple[float, ...]


IMAGENET = Normalization(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
#: pixels scaled to [-1, 1]: what Google's Inception checkpoints were trained on
SYMMETRIC = Normalization(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))


class Renormalize(nn.Module):
    """Convert an image normalised with ``source`` to one normalised with ``target``.

    ``x * source.std / target.std + (source.mean - target.mean) / target.std``, per channel. The
    constants are non-persistent buffers: they follow ``.to(device)`` but are not in the
    state dict, so checkpoints load the same with or without this module.
    """

    def __init__(self, source: Normalization = IMAGENET, target: Normalization = SYMMETRIC) -> None:
        super().__init__()
        if not len(source.mean) == len(source.std) == len(target.mean) == len(target.std):
            raise ValueError("source and target normalisations must have the same channel count")
        self.source = source
        self.target = target
        s_mean, s_std = torch.tensor(source.mean), torch.tensor(source.std)
        t_mean, t_std = torch.tensor(target.mean), torch.tensor(target.std)
        self.register_buffer("scale", (s_std / t_std).view(1, -1, 1, 1), persistent=False)
        self.register_buffer(
            "shift", ((s_mean - t_mean) / t_std).view(1, -1, 1, 1), persistent=False
        )

    def forward(self, x: Tensor) -> Tensor:
        return x * self.scale + self.shift

    def extra_repr(self) -> str:
        return (
            f"mean/std {self.source.mean}/{self.source.std} -> {self.target.mean}/{self.target.std}"
        )
