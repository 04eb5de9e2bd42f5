"""The inference path: ``deploy(model, dtype=...)`` returns a faster copy with the same outputs.

What it does, in order, on a deep copy of the model (the original is left untouched):

1. eval mode, no gradients;
2. every batch norm that directly follows a convolution is folded into that convolution's
   weight and bias (``ConvNormAct`` units and ``conv -> BN`` pairs inside ``nn.Sequential``),
   computed in float64 so the fold adds no error of its own. A batch norm that follows a ReLU
   (DenseNet's pre-activation units) cannot be folded and stays;
   then the convolutions are fused with the ReLU that follows them and, in residual blocks,
   with the shortcut's addition (``layers/fused.py``: oneDNN post-ops, one pass over memory
   instead of three). DenseNet folds its bottleneck's second norm here too, applies its
   pre-activation BN-ReLU units in one pass, and writes every layer's maps into one
   preallocated block output that later layers read in place (no per-layer concatenation);
3. weights cast to the target precision (fp32, bf16, fp16: ``runtime.device.PRECISIONS``);
4. channels_last memory format where it helps (``CHANNELS_LAST`` per family, measured: see
   benchmarks/README.md);
5. optionally ``torch.compile`` with inductor's weight freezing (constant folding, prepacked
   oneDNN weights, and fusions of its own);
6. optionally (``retain_memory=True``)
   :func:`classicnets.runtime.allocator.retain_freed_memory`: the process keeps freed memory,
   so a batch reuses the previous batch's pages instead of page-faulting them in again.
   Process-wide, hence never implicit; on the 2-core CPU of benchmarks/ it is worth as much as
   everything above together (benchmarks/results/).

The returned :class:`DeployedModel` takes float32 or any-dtype images, converts them to its dtype
and layout, and returns float32 logits. Its outputs equal the undeployed model's to within the
dtype's precision (tested over the registry: fp32 max relative error 1e-4; bf16 2e-2 and the
same top-1).
"""

from __future__ import annotations

import copy
import itertools
import warnings
from collections.abc import Iterable
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from ..layers import ConvNormAct
from ..layers.fused import fold_batchnorm_into, foldable
from ..runtime.device import QUANTIZED_PRECISIONS, parse_precision

if TYPE_CHECKING:
    from .backends.base import BackendModel
    from .int8.run import QuantizedModel

__all__ = [
    "CHANNELS_LAST",
    "DeployedModel",
    "deploy",
    "fold_batchnorm",
    "fuse_convolutions",
]

#: Families for which ``deploy`` does *not* default to channels_last. Empty: measured faster for
#: every family of the representative set (figures: benchmarks/results/cpu.md, "deploy:
#: channels_last"). An entry records a measurement where it proves slower.
CHANNELS_LAST: dict[str, bool] = {}


# -- batch-norm folding --------------------------------------------------------------------------


def fold_batchnorm(model: nn.Module) -> int:
    """Fold every batch norm that directly follows a conv into it, in place; returns the count.

    Only valid in eval mode (the fold uses the running statistics). Covers ``ConvNormAct`` and
    consecutive ``Conv2d, BatchNorm2d`` children of an ``nn.Sequential``; the folded norm is
    replaced by ``nn.Identity`` so state-dict keys of everything else are unchanged.
    """
    if model.training:
        raise ValueError("fold_batchnorm needs a model in eval mode (call model.eval() first)")
    folded = 0
    for module in list(model.modules()):
        if isinstance(module, ConvNormAct) and foldable(module.bn):
            fold_batchnorm_into(module.conv, module.bn)  # type: ignore[arg-type]
            module.bn = nn.Identity()
            folded += 1
        elif isinstance(module, nn.Sequential):
            names = list(module._modules)
            for first, second in itertools.pairwise(names):
                conv, bn = module._modules[first], module._modules[second]
                if isinstance(conv, nn.Conv2d) and foldable(bn):
                    fold_batchnorm_into(conv, bn)  # type: ignore[arg-type]
                    module._modules[second] = nn.Identity()
                    folded += 1
    return folded


def fuse_convolutions(model: nn.Module) -> int:
    """Swap in the fused inference form of every module that offers one, in place; returns the
    number of swaps.

    A module's ``fused_for_inference()`` returns its replacement, or None where it cannot fuse
    (``ConvNormAct``: conv + ReLU as one ``FusedConv``; residual blocks: + the shortcut's
    addition; DenseNet's layers, transitions and blocks: see ``models/densenet.py``). Children
    are swapped before their parents, so a block builds its fused form from fused units. Eval
    mode only, after :func:`fold_batchnorm`.
    """
    if model.training:
        raise ValueError("fuse_convolutions needs a model in eval mode (call model.eval() first)")
    return _swap_fused(model)


def _swap_fused(module: nn.Module) -> int:
    """Replace ``module``'s children, depth first, by their ``fused_for_inference()``."""
    swapped = 0
    for name, child in list(module.named_children()):
        swapped += _swap_fused(child)
        fuse = getattr(child, "fused_for_inference", None)
        replacement = fuse() if callable(fuse) else None
        if replacement is not None:
            setattr(module, name, replacement.train(child.training))
            swapped += 1
    return swapped


# -- the deployed model --------------------------------------------------------------------------


class DeployedModel(nn.Module):
    """An inference-only model: converts inputs to its dtype/layout, returns float32 logits."""

    def __init__(
        self, model: nn.Module, *, dtype: torch.dtype, channels_last: bool, compiled: bool
    ) -> None:
        super().__init__()
        self.model = model
        self.dtype = dtype
        self.channels_last = channels_last
        self.compiled = compiled
        # the compiled function is kept out of the module tree (its parameters are the model's)
        self.__dict__["_runner"] = (
            torch.compile(model, options={"freezing": True}) if compiled else model
        )

    def forward(self, x: Tensor) -> Tensor:
        fmt = (
            torch.channels_last if self.channels_last and x.dim() == 4 else torch.contiguous_format
        )
        x = x.to(dtype=self.dtype, memory_format=fmt)
        with torch.no_grad():
            return self.__dict__["_runner"](x).float()

    def extra_repr(self) -> str:
        return f"dtype={self.dtype}, channels_last={self.channels_last}, compiled={self.compiled}"


def default_channels_last(model: nn.Module) -> bool:
    """The measured per-family default (see ``CHANNELS_LAST``); True when unmeasured."""
    name = getattr(model, "model_name", "")
    try:
        from ..models.registry import model_info

        family = model_info(name).family
    except Exception:
        return True
    return CHANNELS_LAST.get(family, True)  # family -> False where measured slower


def deploy(
    model: nn.Module,
    *,
    dtype: str | torch.dtype = "fp32",
    calibration: Iterable[torch.Tensor] | torch.Tensor | None = None,
    channels_last: bool | None = None,
    compile: bool = False,
    fold_bn: bool = True,
    fuse: bool = True,
    retain_memory: bool = False,
    backend: str = "torch",
    input_size: int | None = None,
    threads: int | None = None,
    bias_correction: str | None = None,
) -> DeployedModel | QuantizedModel | BackendModel:
    """A deployed (inference-only) copy of ``model``; the original is not modified.

    ``channels_last=None`` uses the family's measured default (``CHANNELS_LAST``). ``compile``
    runs ``torch.compile`` with inductor weight freezing (first call compiles; needs a C++
    compiler on CPU). ``fold_bn=False`` keeps batch norms (for measuring what the fold gives);
    ``fuse=False`` keeps convolution, ReLU and residual addition as separate operations (what
    ONNX / TorchScript export needs: the fused oneDNN kernels are not exportable operators);
    with ``compile=True`` they are not fused either: the compiler fuses them itself.
    ``retain_memory=True`` calls :func:`classicnets.runtime.allocator.retain_freed_memory`
    (process-wide).

    ``dtype="int8"``: static post-training quantization
    (:func:`classicnets.deployment.int8.quantize.quantize_int8`:
    batch norm folded, int8 per-channel weights, activations calibrated on ``calibration``,
    float32 images of one shape, compiled to oneDNN's int8 kernels); the layout and fusion
    options do not apply there. No calibration data is an error, never an fp32 model labelled
    int8.

    ``backend="openvino"`` or ``"onnxruntime"`` (docs/deploy.md): the model goes through our
    ONNX export into that runtime (:mod:`classicnets.deployment.backends`), fp32 or int8 (NNCF /
    onnxruntime's static QDQ quantization, on the same ``calibration``), bf16 on OpenVINO only;
    built for one image size (the calibration images', else ``input_size``, else the registered
    model's), run on ``threads`` threads (default: torch's). The layout, fusion and compile
    options are the torch path's and are refused there. ``bias_correction`` (OpenVINO int8):
    NNCF's ``"full"`` (default) or ``"fast"`` one, which needs far less memory on the largest
    DenseNets (docs/deploy.md).
    """
    if backend != "torch":
        from .backends import check_backend, deploy_backend

        check_backend(backend)
        given = {"channels_last": channels_last is not None, "compile": compile,
                 "fold_bn": not fold_bn, "fuse": not fuse}  # fmt: skip
        if any(given.values()):
            options = ", ".join(k for k, v in given.items() if v)
            raise ValueError(f"{options}: options of backend='torch', not of {backend!r}")
        if retain_memory:
            from ..runtime.allocator import retain_freed_memory

            retain_freed_memory()
        return deploy_backend(
            model, backend, precision=dtype, calibration=calibration, input_size=input_size,
            threads=threads, bias_correction=bias_correction,
        )  # fmt: skip
    if bias_correction is not None:
        raise ValueError("bias_correction is an option of backend='openvino' (NNCF's int8)")
    if input_size is not None or threads is not None:
        raise ValueError(
            "input_size and threads are options of the openvino and onnxruntime backends "
            "(the torch path takes any size, and torch.set_num_threads sets its threads)"
        )
    if dtype in QUANTIZED_PRECISIONS:
        from .int8.quantize import quantize_int8

        if retain_memory:
            from ..runtime.allocator import retain_freed_memory

            retain_freed_memory()
        return quantize_int8(model, calibration if calibration is not None else [])
    if calibration is not None:
        raise ValueError("calibration only applies to dtype='int8'")
    torch_dtype = parse_precision(dtype)
    if retain_memory:
        from ..runtime.allocator import retain_freed_memory

        retain_freed_memory()
    deployed = copy.deepcopy(model).eval()
    for p in deployed.parameters():
        p.requires_grad_(False)
    if fold_bn:
        fold_batchnorm(deployed)
        # torch.compile makes its own fusions; the oneDNN calls would only split its graph
        if fuse and not compile:
            fuse_convolutions(deployed)
    device = next(deployed.parameters()).device
    if torch_dtype == torch.float16 and device.type == "cpu":
        warnings.warn(
            "fp16 on CPU runs through slow reference kernels on most CPUs; use bf16",
            stacklevel=2,
        )
    deployed = deployed.to(dtype=torch_dtype)
    use_cl = default_channels_last(model) if channels_last is None else channels_last
    if use_cl:
        deployed = deployed.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    return DeployedModel(deployed, dtype=torch_dtype, channels_last=use_cl, compiled=compile)
