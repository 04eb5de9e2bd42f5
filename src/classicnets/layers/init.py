"""Weight initialisation shared by the families.

He et al. (2015, "Delving deep into rectifiers") for convolutions, in its fan-out form (the
backward-pass variant the paper also derives); batch norm as identity; linear layers from
N(0, 0.01) with zero bias, as in the Caffe models these papers released.
"""

from __future__ import annotations

from torch import nn


def init_weights(model: nn.Module, *, zero_init_last: bool = False) -> None:
    """Initialise ``model`` in place.

    With ``zero_init_last`` every module that defines ``zero_init_last()`` (the residual blocks)
    sets the scale of its branch's last batch norm to zero, so each block starts as the identity.
    """
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d | nn.GroupNorm):
            if m.weight is not None:
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.01)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    if zero_init_last:
        for m in model.modules():
            fn = getattr(m, "zero_init_last", None)
            if callable(fn):
                fn()
