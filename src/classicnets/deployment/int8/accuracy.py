"""int8 accuracy: how far int8 logits may be from fp32, and the checked quantization.

:func:`compare_logits` gives the agreement figures (top-1, relative error);
:func:`rounding_sensitivity` predicts, from the fp32 network alone, how far int8 rounding can move
its logits, and :func:`int8_error_bound` turns that into the bound tests and the registry matrix
hold int8 to. :func:`quantize_checked` is what ``classicnets quantize`` runs: quantize, prove the
compiled code is int8, and measure it against the float model.

The top of ``int8/``: this imports :mod:`.quantize` and :mod:`.run`; nothing in ``int8/`` imports
it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from .quantize import quantize_int8
from .run import Int8UnavailableError, QuantizedModel, int8_kernels

__all__ = [
    "INT8_MIN_BOUND",
    "INT8_ROUNDING_FACTOR",
    "QuantizeOutcome",
    "compare_logits",
    "int8_error_bound",
    "quantize_checked",
    "relative_error",
    "rounding_sensitivity",
    "top1_agreement",
]


def top1_agreement(reference: Tensor, other: Tensor) -> float:
    """Fraction of rows whose argmax agrees (1.0: the same top-1 everywhere)."""
    return float((reference.argmax(1) == other.argmax(1)).float().mean())


def relative_error(reference: Tensor, other: Tensor) -> float:
    """||other - reference|| / ||reference|| over the whole batch of logits."""
    return float((other - reference).norm() / reference.norm().clamp_min(math.ulp(1.0)))


def compare_logits(reference: Tensor, other: Tensor) -> dict[str, float]:
    """The agreement figures the tests and the registry matrix report."""
    return {"top1": top1_agreement(reference, other), "relerr": relative_error(reference, other)}


#: On untrained networks, where top-1 means little, int8 logits are held to a relative error
#: of at most ``max(INT8_MIN_BOUND, INT8_ROUNDING_FACTOR * rounding_sensitivity)`` from fp32
#: (tests/test_quantize.py, benchmarks/quantize_matrix.py). Measured int8 errors are 0.7-2.0x
#: the sensitivity (docs/int8.md); 2x leaves room for that and still catches the faults met so
#: far (a mis-folded batch norm: 3.4 against a bound of 0.1; mis-sized int8 pools: 1.1 against
#: 0.8 on torchvision's GoogLeNet).
INT8_MIN_BOUND, INT8_ROUNDING_FACTOR = 0.1, 2.0


def int8_error_bound(sensitivity: float) -> float:
    """The relative error allowed for a network of this :func:`rounding_sensitivity`."""
    return max(INT8_MIN_BOUND, INT8_ROUNDING_FACTOR * sensitivity)


def rounding_sensitivity(model: nn.Module, images: Tensor, *, seed: int = 0) -> float:
    """Relative change of ``model``'s fp32 logits of ``images`` when the input of every
    convolution, linear and batch-norm layer is perturbed by one int8 rounding's worth of noise:
    Gaussian with the standard deviation of uniform rounding, ``(max - min) / 255 / sqrt(12)`` of
    that tensor. This predicts, before quantizing, how far int8 logits can be from fp32 on this
    network and these inputs, because int8 rounds those tensors: every convolution's and linear
    layer's input and, in pre-activation networks (DenseNet), the concatenation a batch norm
    reads before its ReLU's output is rounded again. (After a convolution the batch norm is
    folded, and int8 rounds that output once; there this counts it twice, erring on the loose
    side.)

    Why not noise on the input image alone: the error then enters once, while int8 rounds at
    every layer. On deep untrained DenseNets input noise predicted a fifth of the int8 error
    (densenet121: 0.042 against 0.24); this measure gives 0.24 (docs/int8.md).
    """
    generator = torch.Generator().manual_seed(seed)

    def perturb(_: nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...]:
        x = args[0]
        step = (x.amax() - x.amin()).float() / 255 / math.sqrt(12)
        noise = torch.randn(x.shape, generator=generator).to(x.device, x.dtype)
        return (x + step * noise, *args[1:])

    was_training = model.training
    model.eval()
    handles = []
    try:
        with torch.no_grad():
            reference = model(images)
            for m in model.modules():
                if isinstance(m, (nn.Conv2d, nn.Linear, nn.BatchNorm2d)):
                    handles.append(m.register_forward_pre_hook(perturb))
            perturbed = model(images)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return relative_error(reference, perturbed)


@dataclass(frozen=True)
class QuantizeOutcome:
    """What ``classicnets quantize`` made and how close it stays to the float model."""

    model: QuantizedModel
    convolutions: int  # int8 convolution calls in the compiled code
    top1_agreement: float  # on the calibration images, against the float model
    relative_error: float


def quantize_checked(model: nn.Module, calibration: list[Tensor]) -> QuantizeOutcome:
    """:func:`~.quantize.quantize_int8`, then proof that it is int8 (its compiled code calls
    oneDNN's int8 convolutions) and how far its logits are from the float model's on the
    calibration images.

    Raises :class:`Int8UnavailableError` rather than return a model without int8 kernels.
    """
    quantized = quantize_int8(model, calibration)
    model = model.eval()
    with torch.no_grad():
        reference = torch.cat([model(x) for x in calibration])
        output = torch.cat([quantized(x) for x in calibration])
    kernels = int8_kernels(quantized)  # one extra compilation: inspect its generated code once
    convolutions = sum(n for op, n in kernels.items() if op.startswith("onednn.qconv"))
    if not convolutions:
        raise Int8UnavailableError(
            "the compiled model calls no int8 convolution (this PyTorch build may lack oneDNN's "
            "int8 kernels); nothing was written"
        )
    figures = compare_logits(reference, output)
    return QuantizeOutcome(quantized, convolutions, figures["top1"], figures["relerr"])
