"""Deploy backends besides PyTorch: OpenVINO and onnxruntime, in fp32 and int8 (docs/deploy.md).

``deploy(model, backend=...)`` (``deployment/convert.py``) hands every backend but ``torch`` to
:func:`deploy_backend`. The modules, each importing only those before it:

* :mod:`.base`: the names, the errors, :class:`~.base.BackendModel` (the contract of the torch
  path: float NCHW tensors in, float32 logits out, any batch, bad input refused);
* :mod:`.onnxruntime`: our ONNX export in onnxruntime; int8 by its static QDQ quantization;
* :mod:`.openvino`: our ONNX export converted by OpenVINO; int8 by NNCF.

A backend's package is imported when the backend is used; missing, it is named with the extra
that installs it (``pip install 'classicnets[openvino]'`` / ``[onnxruntime]``).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from .base import (
    BACKENDS,
    BackendError,
    BackendModel,
    BackendUnavailableError,
    UnknownBackendError,
    check_backend,
)

if TYPE_CHECKING:
    from ...weights.metadata import WeightsMetadata

__all__ = [
    "BACKENDS",
    "BACKEND_FILES",
    "BackendError",
    "BackendModel",
    "BackendUnavailableError",
    "UnknownBackendError",
    "check_backend",
    "deploy_backend",
    "int8_convolutions",
    "load_backend_file",
]

#: The file each backend writes (``classicnets quantize --backend``, ``export --format``).
BACKEND_FILES: dict[str, str] = {"onnxruntime": ".onnx", "openvino": ".xml"}


def deploy_backend(
    model: nn.Module,
    backend: str,
    *,
    precision: str | torch.dtype = "fp32",
    calibration: Iterable[Tensor] | Tensor | None = None,
    input_size: int | None = None,
    threads: int | None = None,
    metadata: WeightsMetadata | None = None,
    bias_correction: str | None = None,
) -> BackendModel:
    """``model`` run by ``backend`` (``openvino`` or ``onnxruntime``) in ``precision``.

    int8 needs ``calibration`` (checked before any work, as on the torch path); the program is
    built for one image size: the calibration images', else ``input_size`` or the registered
    model's default. ``threads``: the runtime's threads (default: ``torch.get_num_threads()``).
    ``metadata``: what the backend's file records (default: the model's name, classes count and
    channels). ``bias_correction``: OpenVINO's int8 only, ``full`` (default) or ``fast``
    (:data:`classicnets.deployment.backends.openvino.BIAS_CORRECTIONS`).
    """
    if check_backend(backend) == "torch":
        raise BackendError("the torch backend is deploy()'s own path (deployment/convert.py)")
    options = {
        "precision": precision,
        "calibration": calibration,
        "input_size": input_size,
        "threads": threads,
        "metadata": metadata,
    }
    if backend == "onnxruntime":
        from .onnxruntime import deploy_onnxruntime

        if bias_correction is not None:
            raise BackendError("bias_correction is an option of OpenVINO's int8 (NNCF)")

        return deploy_onnxruntime(model, **options)  # type: ignore[arg-type]
    from .openvino import deploy_openvino

    if bias_correction is not None:
        options["bias_correction"] = bias_correction
    return deploy_openvino(model, **options)  # type: ignore[arg-type]


def load_backend_file(path: str | Path, *, threads: int | None = None) -> BackendModel:
    """A backend's file (``.onnx``: onnxruntime, ``.xml``: OpenVINO IR), ready to run."""
    path = Path(path)
    if path.suffix == ".onnx":
        from .onnxruntime import load_onnxruntime

        return load_onnxruntime(path, threads=threads)
    if path.suffix == ".xml":
        from .openvino import load_openvino

        return load_openvino(path, threads=threads)
    raise BackendError(f"{path} is not a backend file (.onnx for onnxruntime, .xml for OpenVINO)")


def int8_convolutions(model: BackendModel) -> int:
    """How many convolutions the backend's runtime runs in int8 for ``model`` (OpenVINO: the
    compiled model's runtime precision; onnxruntime: the fused ``QLinearConv`` of its optimized
    graph); 0 means float kernels only, whatever the model's label says."""
    if model.info.backend == "openvino":
        from .openvino import int8_layers

        return int8_layers(model)  # type: ignore[arg-type]
    from .onnxruntime import int8_nodes

    return int8_nodes(model).get("QLinearConv", 0)  # type: ignore[arg-type]
