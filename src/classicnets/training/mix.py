"""MixUp and CutMix (torchvision v2) for a training batch, applied with a probability."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

Mixer = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def build_mixer(
    num_classes: int, *, mixup_alpha: float = 0.0, cutmix_alpha: float = 0.0, prob: float = 1.0
) -> Mixer | None:
    """``(images, labels) -> (images, soft targets)``: MixUp and/or CutMix (one of the two at
    random when both are on) with probability ``prob``, else the one-hot labels so that the
    loss sees one kind of target. None when both alphas are 0."""
    from torchvision.transforms import v2

    choices = []
    if mixup_alpha > 0:
        choices.append(v2.MixUp(alpha=mixup_alpha, num_classes=num_classes))
    if cutmix_alpha > 0:
        choices.append(v2.CutMix(alpha=cutmix_alpha, num_classes=num_classes))
    if not choices:
        return None
    mix = choices[0] if len(choices) == 1 else v2.RandomChoice(choices)

    def apply(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if float(torch.rand(())) >= prob:
            return x, F.one_hot(y, num_classes).float()
        return mix(x, y)

    return apply
