"""Local response normalisation (AlexNet's, used by GoogLeNet and VGG's A-LRN)."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class LocalResponseNorm(nn.LocalResponseNorm):
    """``nn.LocalResponseNorm`` that computes in float32 for bfloat16/float16 input.

    PyTorch's CPU kernel (an average pool over channels) has no bfloat16 implementation, and the
    sum of squares it takes benefits from float32's range anyway; the result is cast back.
    """

    def forward(self, x: Tensor) -> Tensor:
        if x.dtype in (torch.bfloat16, torch.float16):
            return super().forward(x.float()).to(x.dtype)
        return super().forward(x)
