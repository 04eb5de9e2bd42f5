"""A reference library's model through a deploy backend, the way a CPU user does it by hand.

``classicnets bench --backend openvino --compare torchvision-backend`` (and
``benchmarks/backend_speed.py``) measure our graph against torchvision's under the *same* runtime
and the *same* quantizer, so that a ratio says what our network's graph costs, not which runtime
ran it. The reference side follows each backend's own documentation, not our export:

* OpenVINO: ``openvino.convert_model(module, example_input=...)`` (OpenVINO's PyTorch frontend),
  the input reshaped to ``[-1, C, H, W]`` (any batch at the benchmark's image size, the shape
  contract of our IR), then ``nncf.quantize`` with the same dataset and defaults that
  :func:`~classicnets.deployment.backends.openvino.deploy_openvino` uses, compiled with the same
  configuration (:class:`~classicnets.deployment.backends.openvino.OpenVinoModel`);
* onnxruntime: ``torch.onnx.export(module, dynamo=True)`` with a dynamic batch, then the same
  ``quant_pre_process`` + ``quantize_static`` settings
  (:func:`~classicnets.deployment.backends.onnxruntime.quantize_onnx`), run by the same session
  options (:class:`~classicnets.deployment.backends.onnxruntime.OnnxRuntimeModel`).

What the two sides share is therefore the runtime, the quantizer and its settings, the
calibration images and the thread count; what differs is the graph each library's model gives.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import torch
from torch import Tensor, nn

from ...deployment.backends.base import BackendInfo, BackendModel, check_precision, require

__all__ = ["through_backend"]


def through_backend(
    module: nn.Module,
    backend: str,
    *,
    precision: str = "fp32",
    calibration: list[Tensor] | None = None,
    input_size: int,
    in_chans: int = 3,
    label: str = "reference",
    threads: int | None = None,
) -> BackendModel:
    """``module`` (any ``nn.Module`` taking NCHW images) converted, and for ``precision="int8"``
    quantized on ``calibration``, by ``backend``'s own tools (see the module docstring)."""
    name = check_precision(backend, precision)
    if name == "int8" and not calibration:
        raise ValueError("int8 needs calibration batches")
    module = module.eval()
    example = torch.randn(1, in_chans, input_size, input_size)
    images = sum(b.shape[0] for b in calibration or [])
    info = BackendInfo(label, backend, name, (in_chans, input_size, input_size), images)
    if backend == "openvino":
        return _openvino(module, example, name, calibration or [], info, threads)
    if backend == "onnxruntime":
        return _onnxruntime(module, example, name, calibration or [], info, threads)
    raise ValueError(f"no by-hand path for backend {backend!r} (openvino, onnxruntime)")


def _openvino(
    module: nn.Module,
    example: Tensor,
    precision: str,
    calibration: list[Tensor],
    info: BackendInfo,
    threads: int | None,
) -> BackendModel:
    from ...deployment.backends.openvino import OpenVinoModel, quantize_ov_model

    ov = require("openvino", "openvino")
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the frontend's tracing notes
        ov_model = ov.convert_model(module, example_input=example)
    ov_model.reshape([-1, *example.shape[1:]])
    if precision == "int8":
        ov_model = quantize_ov_model(ov_model, calibration)
    return OpenVinoModel(ov_model, info, threads=threads)


def _onnxruntime(
    module: nn.Module,
    example: Tensor,
    precision: str,
    calibration: list[Tensor],
    info: BackendInfo,
    threads: int | None,
) -> BackendModel:
    from ...deployment.backends.onnxruntime import OnnxRuntimeModel, quantize_onnx

    require("onnxruntime", "onnxruntime")
    require("onnxscript", "onnxruntime")
    workdir = tempfile.TemporaryDirectory(prefix="classicnets-by-hand-")
    path = Path(workdir.name) / "model.onnx"
    batch = torch.export.Dim("batch", min=1)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            (example,),
            str(path),
            dynamo=True,
            input_names=["images"],
            output_names=["logits"],
            dynamic_shapes=({0: batch},),
            verbose=False,
        )
    if precision == "int8":
        path = quantize_onnx(path, path.with_name("model_int8.onnx"), calibration)
    return OnnxRuntimeModel(path, info, threads=threads, workdir=workdir)
