"""A convolution fused with its batch norm, ReLU and residual addition, for inference.

``deploy()`` turns ``conv -> BN -> [ReLU]`` units into :class:`FusedConv`: the batch norm folded
into the convolution's weight and bias (:func:`fold_batchnorm_into`, in float64), and the ReLU,
and in residual blocks the shortcut's addition, applied inside the convolution call by oneDNN as
post-ops (``torch.ops.mkldnn._convolution_pointwise``, the kernels PyTorch's own CPU compiler
emits). One pass over the output instead of three: on the 2-core CPU of benchmarks/ this is
where most of ``deploy``'s speed-up over BN folding alone comes from (benchmarks/results/).

The oneDNN path is taken for float32 and bfloat16 CPU tensors when PyTorch was built with it
(every official build); otherwise (CUDA, fp16, a build without oneDNN) ``FusedConv`` computes
the same function with plain operations, so a deployed model runs everywhere.

The papers' modules never branch on being deployed: a module that has a fused form offers it
through ``fused_for_inference()``, which returns its replacement (or None where it cannot fuse),
and ``deploy`` swaps it in (``deployment.convert.fuse_convolutions``). ``ConvNormAct`` becomes a
:class:`FusedConv`, a residual block a :class:`FusedResidual`; DenseNet's fused layers live
beside the family (``models/densenet.py``).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = [
    "BatchNormReLU",
    "FusedConv",
    "FusedResidual",
    "batchnorm_affine",
    "fold_batchnorm_into",
    "foldable",
    "onednn_fusion_available",
]


def foldable(bn: nn.Module) -> bool:
    """A batch norm with running statistics (so it is an affine map in eval mode)."""
    return (
        isinstance(bn, nn.BatchNorm2d)
        and bn.running_mean is not None
        and bn.running_var is not None
    )


@torch.no_grad()
def batchnorm_affine(bn: nn.BatchNorm2d) -> tuple[Tensor, Tensor]:
    """``(s, t)`` in float64 with ``bn(x) = x * s + t`` in eval mode: ``s = gamma / sqrt(var +
    eps)``, ``t = beta - mean * s``."""
    var = bn.running_var.double()  # type: ignore[union-attr]
    gamma = bn.weight.double() if bn.weight is not None else torch.ones_like(var)
    beta = bn.bias.double() if bn.bias is not None else torch.zeros_like(var)
    scale = gamma / torch.sqrt(var + bn.eps)
    return scale, beta - bn.running_mean.double() * scale  # type: ignore[union-attr]


@torch.no_grad()
def fold_batchnorm_into(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> None:
    """Make ``conv`` compute ``bn(conv(x))`` (eval mode), in place; float64 arithmetic."""
    if conv.out_channels != bn.num_features:
        raise ValueError(
            f"cannot fold a {bn.num_features}-channel batch norm into a conv with "
            f"{conv.out_channels} output channels"
        )
    scale, shift = batchnorm_affine(bn)
    bias = conv.bias.double() if conv.bias is not None else torch.zeros_like(scale)
    conv.weight.copy_((conv.weight.double() * scale.reshape(-1, 1, 1, 1)).to(conv.weight.dtype))
    conv.bias = nn.Parameter(
        (bias * scale + shift).to(device=conv.weight.device, dtype=conv.weight.dtype),
        requires_grad=conv.weight.requires_grad,
    )


def _onednn_ops() -> tuple[object, object] | None:
    if not torch.backends.mkldnn.is_available():
        return None
    try:
        pointwise = torch.ops.mkldnn._convolution_pointwise
        return pointwise.default, pointwise.binary
    except (AttributeError, RuntimeError):  # a build without the fused kernels
        return None


_ONEDNN = _onednn_ops()


def onednn_fusion_available(x: Tensor) -> bool:
    """Whether :class:`FusedConv` runs ``x`` through oneDNN's fused kernels."""
    return (
        _ONEDNN is not None
        and x.device.type == "cpu"
        and x.dtype in (torch.float32, torch.bfloat16)
        and x.dim() == 4
    )


class FusedConv(nn.Module):
    """``relu?(conv(x) [+ residual])`` in one oneDNN call (plain operations where unavailable).

    ``conv`` keeps its parameters (and state-dict keys ``conv.weight`` / ``conv.bias``); a batch
    norm must already be folded into it. Inference only: the fused kernels have no backward.
    """

    def __init__(self, conv: nn.Conv2d, *, relu: bool) -> None:
        super().__init__()
        if conv.padding_mode != "zeros" or isinstance(conv.padding, str):
            raise ValueError(
                f"FusedConv needs explicit zero padding, got padding={conv.padding!r}, "
                f"padding_mode={conv.padding_mode!r}"
            )
        self.conv = conv
        self.relu = relu
        self._geometry = (
            list(conv.padding),
            list(conv.stride),
            list(conv.dilation),
            conv.groups,
        )

    @property
    def out_channels(self) -> int:
        return self.conv.out_channels

    def forward(self, x: Tensor, residual: Tensor | None = None) -> Tensor:
        w, b = self.conv.weight, self.conv.bias
        if onednn_fusion_available(x) and not torch.is_grad_enabled() and _ONEDNN is not None:
            unary, binary = _ONEDNN
            attr = "relu" if self.relu else None
            if residual is None:
                return unary(x, w, b, *self._geometry, attr or "none", [], "")  # type: ignore[operator]
            if residual.dtype == x.dtype and residual.shape[1] == self.conv.out_channels:
                # out-of-place: the shortcut tensor is read, never overwritten
                return binary(x, residual, w, b, *self._geometry, "add", 1.0, attr, [], "")  # type: ignore[operator]
        out = self.conv(x)
        if residual is not None:
            out += residual
        return out.relu_() if self.relu else out

    def extra_repr(self) -> str:
        return f"relu={self.relu}"


class BatchNormReLU(nn.Module):
    """Inference: ``relu(bn(x))`` of an eval-mode batch norm, as one multiply-add pass and an
    in-place ReLU on its output.

    For the batch norms that follow a ReLU or an addition (DenseNet's pre-activation units) and
    so cannot be folded into a convolution. ``x`` is read where it lies: a channel slice of a
    larger buffer costs no copy (DenseNet's concatenation, see ``densenet.PreallocatedDenseBlock``).
    """

    def __init__(self, bn: nn.BatchNorm2d) -> None:
        super().__init__()
        if not foldable(bn):
            raise ValueError("BatchNormReLU needs a batch norm with running statistics")
        scale, shift = batchnorm_affine(bn)
        dtype = bn.running_var.dtype  # type: ignore[union-attr]
        self.register_buffer("scale", scale.to(dtype).reshape(1, -1, 1, 1))
        self.register_buffer("shift", shift.to(dtype).reshape(1, -1, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        return torch.addcmul(self.shift, x, self.scale).relu_()


class FusedResidual(nn.Module):
    """Inference: a residual block whose last convolution (``tail``, a :class:`FusedConv` with
    ReLU) also adds the shortcut and applies the block's ReLU, in one oneDNN call.

    Computes ``post(tail(head(pre(x)), identity(shortcut(x))))``: ``head`` is the residual
    branch up to its last convolution; ``pre``, ``identity`` and ``post`` are the block's
    channel-preserving modules before the branch, on the shortcut and after the ReLU (SENet's
    SE-PRE, SE-Identity and SE-POST blocks), ``nn.Identity`` where the block has none.
    """

    def __init__(
        self,
        head: nn.Module,
        tail: FusedConv,
        shortcut: nn.Module,
        *,
        pre: nn.Module | None = None,
        identity: nn.Module | None = None,
        post: nn.Module | None = None,
    ) -> None:
        super().__init__()
        if not tail.relu:
            raise ValueError("FusedResidual needs a tail that applies the block's ReLU")
        self.pre = pre if pre is not None else nn.Identity()
        self.head = head
        self.tail = tail
        self.shortcut = shortcut
        self.identity = identity if identity is not None else nn.Identity()
        self.post = post if post is not None else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        shortcut = self.identity(self.shortcut(x))
        return self.post(self.tail(self.head(self.pre(x)), shortcut))
