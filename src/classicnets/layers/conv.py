"""Convolution -> normalisation -> activation, the unit every family is built from."""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor, nn

from .fused import FusedConv


class ConvNormAct(nn.Module):
    """``conv -> batch norm -> ReLU``; each of the last two can be switched off.

    Without normalisation (GoogLeNet, VGG as published) the convolution gets a bias; with it, the
    bias would be redundant with the norm's shift and is left out, as in every paper here that
    uses batch norm. ``padding`` defaults to "same" for odd kernels at stride 1.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        *,
        stride: int = 1,
        padding: int | tuple[int, int] | None = None,
        groups: int = 1,
        norm: bool = True,
        act: bool = True,
        bias: bool | None = None,
        act_layer: Callable[[], nn.Module] | None = None,
        bn_eps: float = 1e-5,
    ) -> None:
        super().__init__()
        if isinstance(kernel_size, int):
            kernel_size = (kernel_size, kernel_size)
        if padding is None:
            padding = (kernel_size[0] // 2, kernel_size[1] // 2)
        self.conv = nn.Conv2d(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=padding,
            groups=groups,
            bias=(not norm) if bias is None else bias,
        )
        self.bn = nn.BatchNorm2d(out_channels, eps=bn_eps) if norm else nn.Identity()
        if act:
            self.act = act_layer() if act_layer is not None else nn.ReLU(inplace=True)
        else:
            self.act = nn.Identity()

    @property
    def out_channels(self) -> int:
        return self.conv.out_channels

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.bn(self.conv(x)))

    def fused_for_inference(self) -> nn.Module | None:
        """``deploy()``'s replacement, once the batch norm was folded: the convolution and its
        ReLU as one :class:`~classicnets.layers.fused.FusedConv` call; None where the unit
        still normalises or ends in another activation."""
        relu = isinstance(self.act, nn.ReLU)
        if not isinstance(self.bn, nn.Identity) or not (relu or isinstance(self.act, nn.Identity)):
            return None
        if not isinstance(self.conv, nn.Conv2d) or isinstance(self.conv.padding, str):
            return None
        return FusedConv(self.conv, relu=relu)
