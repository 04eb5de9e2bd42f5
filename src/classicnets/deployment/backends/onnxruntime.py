"""The onnxruntime backend: our ONNX export run by onnxruntime's CPU provider; int8 through
onnxruntime's static QDQ quantization.

fp32: :func:`~classicnets.deployment.export.export_model` writes the ONNX file (the
torch.export-based exporter, dynamic batch, our metadata in ``metadata_props``) and checks it
against the eager model in onnxruntime itself, at batch 1 and 3: the check is this backend.

int8: ``quant_pre_process`` (shape inference and graph clean-up, as onnxruntime's quantization
guide asks), then ``quantize_static`` in QDQ format: int8 weights, symmetric, per output channel;
uint8 activations, per tensor, ranges measured (MinMax) on the calibration images, which a
``CalibrationDataReader`` hands over one image at a time (the calibration run keeps every
intermediate tensor of its input alive at once: memory for one image, not one batch), prepared
by the model's ``Preprocessing``
(:func:`~classicnets.deployment.int8.calibrate.calibration_batches`). On loading, the CPU
provider fuses each DequantizeLinear -> Conv -> QuantizeLinear into its int8 convolution. The
quantizer drops ``metadata_props``; they are written back into the int8 file.

Threads: onnxruntime's intra-op pool gets ``threads``, by default ``torch.get_num_threads()``
(the setting the torch path runs under).
"""

from __future__ import annotations

import json
import tempfile
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from ..export import ONNX_ONE_FILE_BYTES, export_model, onnx_data_file, read_export_metadata
from .base import (
    BackendError,
    BackendInfo,
    BackendModel,
    calibration_for,
    check_precision,
    image_shape_for,
    metadata_for,
    numpy_batches,
    require,
)

if TYPE_CHECKING:
    import numpy as np

    from ...weights.metadata import WeightsMetadata

__all__ = [
    "DEPLOY_KEY",
    "OnnxRuntimeModel",
    "deploy_onnxruntime",
    "int8_nodes",
    "load_onnxruntime",
    "quantize_onnx",
]

BACKEND = "onnxruntime"

#: The ONNX metadata entry (JSON) saying which backend, precision and calibration made a file;
#: next to the ``classicnets.<field>`` entries of the weights' metadata.
DEPLOY_KEY = "classicnets_deploy"


class OnnxRuntimeModel(BackendModel):
    """An ONNX file run by an onnxruntime CPU session (see the module docstring)."""

    def __init__(
        self,
        path: Path,
        info: BackendInfo,
        *,
        threads: int | None = None,
        workdir: tempfile.TemporaryDirectory[str] | None = None,
    ) -> None:
        super().__init__(info)
        ort = require("onnxruntime", BACKEND)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.inter_op_num_threads = 1
        self.path = path
        self._workdir = workdir  # the temporary folder the file lives in, kept while it runs
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.__dict__["_session"] = session
        self._input = session.get_inputs()[0].name

    def run_array(self, x: np.ndarray) -> np.ndarray:
        return self.__dict__["_session"].run(None, {self._input: x})[0]

    def save(self, path: str | Path) -> Path:
        """The ONNX file (our metadata in it); weights over 2 GB go to a ``.data`` beside it."""
        import onnx

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        model = onnx.load(str(self.path))
        external = onnx_needs_external_data_proto(model)
        onnx.save_model(
            model, str(path), save_as_external_data=external, location=f"{path.name}.data"
        )
        return path


def int8_nodes(model: OnnxRuntimeModel) -> dict[str, int]:
    """The int8 operators (op type -> count) in the graph onnxruntime runs for ``model``: the
    session's optimized graph at the extended level, where the CPU provider has fused the QDQ
    pairs into ``QLinearConv``, ``QLinearAdd``, ``QGemm``...; empty means float kernels only."""
    import onnx

    ort = require("onnxruntime", BACKEND)
    with tempfile.TemporaryDirectory(prefix="classicnets-onnxruntime-") as folder:
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        options.optimized_model_filepath = str(Path(folder) / "optimized.onnx")
        ort.InferenceSession(str(model.path), options, providers=["CPUExecutionProvider"])
        graph = onnx.load(options.optimized_model_filepath, load_external_data=False).graph
    counts: dict[str, int] = {}
    for node in graph.node:
        if node.op_type.startswith(("QLinear", "QGemm", "ConvInteger", "MatMulInteger")):
            counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return counts


def onnx_needs_external_data_proto(model: Any) -> bool:
    """Whether an ONNX model's initializers need a ``.data`` file (protobuf's 2 GB limit)."""
    return model.ByteSize() >= ONNX_ONE_FILE_BYTES


def _deploy_entries(precision: str, calibration_images: int) -> dict[str, str]:
    return {
        DEPLOY_KEY: json.dumps(
            {"backend": BACKEND, "precision": precision, "calibration_images": calibration_images}
        )
    }


def deploy_onnxruntime(
    model: nn.Module,
    *,
    precision: str | torch.dtype = "fp32",
    calibration: Iterable[Tensor] | Tensor | None = None,
    input_size: int | None = None,
    threads: int | None = None,
    metadata: WeightsMetadata | None = None,
) -> OnnxRuntimeModel:
    """``model`` exported to ONNX and run by onnxruntime, in fp32 or (with ``calibration``)
    int8; the model is left as it was (its train/eval mode restored)."""
    name = check_precision(BACKEND, precision)
    batches, calibration_shape = calibration_for(model, name, calibration)
    require("onnxruntime", BACKEND)
    require("onnxscript", BACKEND)  # torch.onnx's exporter
    chans = metadata.in_chans if metadata is not None else None
    c, h, _ = image_shape_for(model, calibration_shape, input_size, chans)
    meta = metadata or metadata_for(model, c)
    workdir = tempfile.TemporaryDirectory(prefix="classicnets-onnxruntime-")
    fp32 = Path(workdir.name) / "model.onnx"
    was_training = model.training
    try:
        check = export_model(model, fp32, fmt="onnx", input_size=h, in_chans=c, metadata=meta)
    finally:
        model.train(was_training)
    path = fp32
    images = sum(b.shape[0] for b in batches)
    if name == "int8":
        path = quantize_onnx(fp32, Path(workdir.name) / "model_int8.onnx", batches)
    _write_entries(path, {**meta.header(), **_deploy_entries(name, images)})
    info = BackendInfo(meta.architecture, BACKEND, name, (c, h, h), images, meta)
    result = OnnxRuntimeModel(path, info, threads=threads, workdir=workdir)
    result.check = check
    return result


def quantize_onnx(source: Path, target: Path, batches: list[Tensor]) -> Path:
    """The fp32 ONNX file ``source`` quantized to QDQ int8 at ``target`` by onnxruntime's
    ``quantize_static`` (see the module docstring), calibrated on ``batches``."""
    require("onnxruntime.quantization", BACKEND)
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    graph_input = onnx.load(str(source), load_external_data=False).graph.input[0].name

    class Reader(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            # one image at a time: the calibration run keeps every intermediate tensor of what
            # it is given alive at once (a batch of 8 DenseNet-100 (k=24) images at 64 px took
            # over 20 GB); ranges merged image by image are the same
            self.items = (image[None] for batch in numpy_batches(batches) for image in batch)

        def get_next(self) -> dict[str, Any] | None:
            item = next(self.items, None)
            return None if item is None else {graph_input: item}

    external = onnx_data_file(source) is not None  # weights over 2 GB stay beside the file
    prepared = target.with_name(f"{target.stem}_prepared.onnx")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the quantizer's notes on its own pre-processing
            quant_pre_process(str(source), str(prepared), save_as_external_data=external)
            quantize_static(
                str(prepared),
                str(target),
                Reader(),
                quant_format=QuantFormat.QDQ,
                per_channel=True,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                use_external_data_format=external,
            )
    except Exception as e:  # the quantizer raises many kinds; its message names the node
        raise BackendError(f"onnxruntime's int8 quantization failed: {e}") from e
    finally:
        prepared.unlink(missing_ok=True)
    return target


def _write_entries(path: Path, entries: dict[str, str]) -> None:
    """Replace the file's ``metadata_props`` by ``entries``."""
    import onnx

    model = onnx.load(str(path))
    del model.metadata_props[:]
    for key, value in entries.items():
        model.metadata_props.add(key=key, value=value)
    external = onnx_needs_external_data_proto(model)
    onnx.save_model(model, str(path), save_as_external_data=external, location=f"{path.name}.data")


def load_onnxruntime(path: str | Path, *, threads: int | None = None) -> OnnxRuntimeModel:
    """An ONNX file (``deploy`` / ``classicnets quantize --backend onnxruntime`` /
    ``export --format onnx``) run by onnxruntime; a file without our metadata loads with a
    warning saying so (its outputs are then unnamed, its preprocessing unknown)."""
    import onnx

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no ONNX file at {path}")
    proto = onnx.load(str(path), load_external_data=False)
    entries = {p.key: p.value for p in proto.metadata_props}
    meta = read_export_metadata(path)
    deployed = json.loads(entries.get(DEPLOY_KEY, "{}"))
    if not meta.architecture:
        warnings.warn(
            f"{path} records no classicnets metadata (architecture, classes, preprocessing): "
            "it runs, but its outputs are unnamed and the images must be prepared as its "
            "maker prepared them",
            stacklevel=2,
        )
        meta = None
    quantized = any(n.op_type == "QuantizeLinear" for n in proto.graph.node)
    dims = [d.dim_value or None for d in proto.graph.input[0].type.tensor_type.shape.dim][1:]
    shape = [*dims, None, None, None][:3]
    info = BackendInfo(
        architecture=meta.architecture if meta else path.stem,
        backend=BACKEND,
        precision=deployed.get("precision", "int8" if quantized else "fp32"),
        image_shape=(shape[0], shape[1], shape[2]),
        calibration_images=int(deployed.get("calibration_images", 0)),
        metadata=meta,
    )
    return OnnxRuntimeModel(path, info, threads=threads)
