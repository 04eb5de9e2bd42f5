"""The OpenVINO backend: our ONNX export converted by ``openvino.convert_model`` and compiled for
OpenVINO's CPU plugin; int8 through NNCF's post-training quantization.

Why the ONNX file and not the torch model: one captured graph serves both backends, the file
:func:`~classicnets.deployment.export.export_model` writes (the torch.export-based exporter,
dynamic batch, our metadata), which the export tests check for the registry's models. OpenVINO's
PyTorch frontend would be a second capture of each model (tracing, or torch.export through its
own decompositions) with coverage of its own to prove. The converted model is checked against the
eager model in OpenVINO itself (:func:`~classicnets.deployment.export.verify_export`: batch 1 and
3, the export check's tolerance and float64 arbiter), so onnxruntime is not needed here; the
exporter needs onnx and onnxscript, which the ``[openvino]`` extra installs with openvino and nncf.

Precision: the CPU plugin's ``INFERENCE_PRECISION_HINT`` is always set, never left to the
plugin's default (bf16 on CPUs with AMX): ``f32`` for fp32 and for int8 (the layers NNCF leaves
in float), ``bf16`` for bf16 (refused where the CPU has no bf16 instructions).

int8: ``nncf.quantize`` on the converted ``ov.Model`` with an ``nncf.Dataset`` of the
calibration images, prepared by the model's ``Preprocessing``
(:func:`~classicnets.deployment.int8.calibrate.calibration_batches`), one image an item and
``subset_size`` the number of images (every image is used); NNCF's default scheme (performance
preset: symmetric int8 weights per output channel, symmetric per-tensor activations) with its
full bias correction (``fast_bias_correction=False``) instead of the default fast one: on the
CIFAR-10 plain-20 of benchmarks/results/cifar10_degradation.md (10,000 test images, 256
calibration images) the fast one lost 0.78 points of top-1 against fp32 and the full one 0.08
(NNCF's mixed preset: 0.86 and 0.20), beyond and within the 0.5 points the backends are held
to; the full one costs time at deploy only (the int8 deploy of a ResNet-50 at 224 px on 32
images took 27 s with it on a 2-core AMD EPYC, export included). Its memory grows with the
network: on DenseNet-BC-190 (k=40) it passed 18.6 GB (32 images of 32 px) where the fast one
peaked at 1.7 GB, so ``bias_correction="fast"`` (:data:`BIAS_CORRECTIONS`) chooses NNCF's fast one
for such networks, recorded in the file. The CPU plugin runs the
quantized convolutions in its int8 kernels (:func:`int8_layers` counts them in the compiled
model).

Files: IR (``.xml`` graph and ``.bin`` weights, written uncompressed: ``ov.save_model`` would
otherwise halve fp32 weights to fp16), our metadata entries in the model's ``rt_info`` under
``classicnets``; :func:`read_ir_entries` reads them from the XML without OpenVINO.

The signal stack: each CPU plugin instance OpenVINO creates (every ``Core`` that compiles,
including the many NNCF creates while it quantizes) installs an alternate signal stack of its own
on the calling thread (``sigaltstack``, remembering the one it replaced) and, when the plugin is
destroyed, puts the remembered one back only if its own is still the current one, then unmaps its
own. Plugins destroyed out of order (an fp32 model freed while the int8 one lives, NNCF's
intermediate models) leave the thread with an alternate stack that was unmapped. Every Python
signal handler runs on that stack (CPython installs them with ``SA_ONSTACK``), so the next
handled signal, e.g. the ``SIGCHLD`` that PyTorch's DataLoader handler receives when a worker or
any child process exits, cannot be delivered: the kernel kills the process with SIGSEGV, with no
Python traceback. :func:`_keep_signal_stack` therefore puts back, after each OpenVINO call that
may create a plugin, the alternate stack the thread had before it (Python's faulthandler's, or
none); the plugins' own destructors then find theirs no longer current and only unmap it.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import json
import sys
import tempfile
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from ..export import export_model, verify_export
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
    "BIAS_CORRECTIONS",
    "RT_INFO_SECTION",
    "OpenVinoModel",
    "deploy_openvino",
    "int8_layers",
    "load_openvino",
    "quantize_ov_model",
    "read_ir_entries",
]

BACKEND = "openvino"

#: The ``rt_info`` section of an IR that holds our entries (the ONNX file's ``metadata_props``).
RT_INFO_SECTION = "classicnets"

#: The entry (JSON) saying which backend, precision and calibration made a file.
DEPLOY_KEY = "classicnets_deploy"

_HINTS = {"fp32": "f32", "int8": "f32", "bf16": "bf16"}


class _StackT(ctypes.Structure):
    """glibc's ``stack_t``."""

    _fields_ = [
        ("ss_sp", ctypes.c_void_p),
        ("ss_flags", ctypes.c_int),
        ("ss_size", ctypes.c_size_t),
    ]


def _sigaltstack(new: _StackT | None = None) -> _StackT | None:
    """The calling thread's alternate signal stack (after setting ``new`` when given); None where
    there is no ``sigaltstack`` to call or the call fails."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        call = ctypes.CDLL(None, use_errno=True).sigaltstack
    except (OSError, AttributeError):  # pragma: no cover (a libc without it)
        return None
    old = _StackT()
    if call(ctypes.byref(new) if new is not None else None, ctypes.byref(old)) != 0:
        return None
    return old


@contextlib.contextmanager
def _keep_signal_stack() -> Iterator[None]:
    """Run the block, then give the calling thread back the alternate signal stack it had before:
    OpenVINO's CPU plugin may leave an unmapped one in its place (see the module docstring).
    Where the kernel refuses to put it back (it checks the size against the signal frame, which
    may have grown if OpenVINO enabled AMX meanwhile), OpenVINO's is left."""
    before = _sigaltstack()
    try:
        yield
    finally:
        if before is not None:
            now = _sigaltstack()
            if now is not None and (now.ss_sp, now.ss_size) != (before.ss_sp, before.ss_size):
                _sigaltstack(before)


class OpenVinoModel(BackendModel):
    """An ``ov.Model`` compiled for the CPU plugin (see the module docstring)."""

    def __init__(
        self,
        ov_model: Any,
        info: BackendInfo,
        *,
        threads: int | None = None,
        workdir: tempfile.TemporaryDirectory[str] | None = None,
    ) -> None:
        super().__init__(info)
        ov = require("openvino", BACKEND)
        config = {
            "INFERENCE_PRECISION_HINT": _HINTS[info.precision],
            "INFERENCE_NUM_THREADS": threads or torch.get_num_threads(),
            "PERFORMANCE_HINT": "LATENCY",
        }
        self._workdir = workdir  # the converted ONNX file's folder, kept while the model lives
        self.__dict__["_ov_model"] = ov_model
        with _keep_signal_stack():
            self.__dict__["_compiled"] = ov.Core().compile_model(ov_model, "CPU", config)

    @property
    def compiled(self) -> Any:
        """The ``ov.CompiledModel`` (for inspection: :func:`int8_layers`)."""
        return self.__dict__["_compiled"]

    def run_array(self, x: np.ndarray) -> np.ndarray:
        return self.__dict__["_compiled"](x)[0]

    def save(self, path: str | Path) -> Path:
        """The IR: ``path`` (``.xml``) and the ``.bin`` beside it, our metadata in ``rt_info``."""
        ov = require("openvino", BACKEND)
        path = Path(path)
        if path.suffix != ".xml":
            raise BackendError(f"OpenVINO IR files are .xml (+ .bin); name it {path.stem}.xml")
        path.parent.mkdir(parents=True, exist_ok=True)
        ov.save_model(self.__dict__["_ov_model"], str(path), compress_to_fp16=False)
        return path


def int8_layers(model: OpenVinoModel) -> int:
    """How many convolutions the compiled model runs in int8 (its runtime graph's
    ``runtimePrecision``): 0 means the quantization did not reach the CPU plugin's int8 kernels."""
    count = 0
    for op in model.compiled.get_runtime_model().get_ops():
        rt = op.get_rt_info()
        if "layerType" not in rt or "runtimePrecision" not in rt:
            continue
        kind, precision = rt["layerType"].astype(str), rt["runtimePrecision"].astype(str)
        if "Convolution" in kind and precision in ("i8", "u8"):
            count += 1
    return count


def _check_bf16(ov: Any) -> None:
    with _keep_signal_stack():
        capabilities = ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    if "BF16" not in capabilities:
        raise BackendError(
            "this CPU has no bf16 instructions OpenVINO can use "
            f"(capabilities: {', '.join(capabilities)}); use fp32 or int8"
        )


def _set_entries(ov_model: Any, entries: dict[str, str]) -> None:
    for key, value in entries.items():
        ov_model.set_rt_info(value, [RT_INFO_SECTION, key])


def deploy_openvino(
    model: nn.Module,
    *,
    precision: str | torch.dtype = "fp32",
    calibration: Iterable[Tensor] | Tensor | None = None,
    input_size: int | None = None,
    threads: int | None = None,
    metadata: WeightsMetadata | None = None,
    bias_correction: str = "full",
) -> OpenVinoModel:
    """``model`` exported to ONNX, converted and compiled by OpenVINO, in fp32, bf16 or (with
    ``calibration``) int8 by NNCF with its ``bias_correction`` (``BIAS_CORRECTIONS``); the model
    is left as it was (its train/eval mode restored)."""
    name = check_precision(BACKEND, precision)
    check_bias_correction(bias_correction, name)
    batches, calibration_shape = calibration_for(model, name, calibration)
    ov = require("openvino", BACKEND)
    require("onnxscript", BACKEND)  # torch.onnx's exporter
    if name == "int8":
        require("nncf", BACKEND)
    if name == "bf16":
        _check_bf16(ov)
    chans = metadata.in_chans if metadata is not None else None
    c, h, _ = image_shape_for(model, calibration_shape, input_size, chans)
    meta = metadata or metadata_for(model, c)
    workdir = tempfile.TemporaryDirectory(prefix="classicnets-openvino-")
    onnx_path = Path(workdir.name) / "model.onnx"
    was_training = model.training
    try:
        export_model(model, onnx_path, fmt="onnx", input_size=h, in_chans=c, metadata=meta,
                     check=False)  # fmt: skip
        try:
            ov_model = ov.convert_model(str(onnx_path))
        except Exception as e:  # OpenVINO's conversion errors name the node it stopped at
            raise BackendError(f"OpenVINO could not convert {meta.architecture}: {e}") from e
        images = sum(b.shape[0] for b in batches)
        info = BackendInfo(meta.architecture, BACKEND, "fp32", (c, h, h), 0, meta)
        fp32 = OpenVinoModel(ov_model, info, threads=threads, workdir=workdir)
        check = verify_export(model.eval(), fp32, onnx_path, BACKEND, in_chans=c, input_size=h)
    finally:
        model.train(was_training)
    if name == "int8":
        ov_model = quantize_ov_model(ov_model, batches, bias_correction=bias_correction)
    record = {"backend": BACKEND, "precision": name, "calibration_images": images}
    if name == "int8":
        record["bias_correction"] = bias_correction
    deployed = json.dumps(record)
    _set_entries(ov_model, {**meta.header(), DEPLOY_KEY: deployed})
    if name == "fp32":
        result = fp32
    else:
        info = BackendInfo(meta.architecture, BACKEND, name, (c, h, h), images, meta)
        result = OpenVinoModel(ov_model, info, threads=threads, workdir=workdir)
    result.check = check
    return result


#: NNCF's bias corrections: ``full`` (the default here, see the module docstring) or ``fast``
#: (NNCF's own default: far less memory, less accurate).
BIAS_CORRECTIONS = ("full", "fast")


def check_bias_correction(bias_correction: str, precision: str) -> None:
    """Refuse an unknown bias correction, or a non-default one where nothing is quantized."""
    if bias_correction not in BIAS_CORRECTIONS:
        raise BackendError(
            f"bias_correction={bias_correction!r}: choose one of {', '.join(BIAS_CORRECTIONS)}"
        )
    if bias_correction != "full" and precision != "int8":
        raise BackendError(f"bias_correction applies to int8, not to {precision}")


def quantize_ov_model(
    ov_model: Any, batches: list[Tensor], *, bias_correction: str = "full"
) -> Any:
    """``ov_model`` quantized by ``nncf.quantize`` on the images of ``batches`` (one image an
    item, every image used; NNCF's defaults but ``bias_correction``, see the module docstring)."""
    check_bias_correction(bias_correction, "int8")
    nncf = require("nncf", BACKEND)
    items = [image[None] for batch in numpy_batches(batches) for image in batch]
    # NNCF draws its progress bars on standard output: shown on a terminal only, as ours
    quiet = contextlib.nullcontext() if sys.stderr.isatty() else _swallow_stdout()
    with warnings.catch_warnings(), quiet, _keep_signal_stack():
        warnings.simplefilter("ignore")  # nncf's notes on the torch it finds installed
        with _recursion_for(ov_model):
            return nncf.quantize(
                ov_model,
                nncf.Dataset(items),
                subset_size=len(items),
                fast_bias_correction=bias_correction == "fast",
            )


@contextlib.contextmanager
def _recursion_for(ov_model: Any) -> Iterator[None]:
    """Run the block with Python's recursion limit raised to what the graph of ``ov_model`` may
    need, then put the limit back. NNCF's bias correction walks the graph back from each layer by
    recursion, one Python frame per operation at least: ResNet-1202's graph (about 4,900
    operations) stopped at the default limit of 1,000 with ``RecursionError``. Checked on Python
    3.11, whose calls between Python functions do not grow the C stack; the walk is one frame
    per operation of the longest chain, a few thousand at most in the registry."""
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 1000 + 4 * len(ov_model.get_ops())))
    try:
        yield
    finally:
        sys.setrecursionlimit(limit)


def _swallow_stdout() -> contextlib.AbstractContextManager[Any]:
    return contextlib.redirect_stdout(io.StringIO())


def read_ir_entries(path: str | Path) -> dict[str, str]:
    """Our entries in an IR's ``.xml`` (``rt_info`` / ``classicnets``); empty when it has none.
    Parsed as XML: OpenVINO itself is not needed to read what a file is."""
    root = ET.parse(str(path)).getroot()
    section = root.find(f"rt_info/{RT_INFO_SECTION}")
    if section is None:
        return {}
    return {child.tag: child.get("value", "") for child in section}


def load_openvino(path: str | Path, *, threads: int | None = None) -> OpenVinoModel:
    """An IR (``deploy(..., backend="openvino").save``, ``classicnets export --format openvino``
    / ``quantize --backend openvino``) compiled for the CPU; a file without our metadata loads
    with a warning saying so (its outputs are then unnamed, its preprocessing unknown)."""
    from ...weights.metadata import WeightsMetadata

    ov = require("openvino", BACKEND)
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no OpenVINO IR at {path}")
    entries = read_ir_entries(path)
    meta: WeightsMetadata | None = WeightsMetadata.from_header(entries)
    if meta is None or not meta.architecture:
        warnings.warn(
            f"{path} records no classicnets metadata (architecture, classes, preprocessing): "
            "it runs, but its outputs are unnamed and the images must be prepared as its "
            "maker prepared them",
            stacklevel=2,
        )
        meta = None
    deployed = json.loads(entries.get(DEPLOY_KEY, "{}"))
    ov_model = ov.Core().read_model(str(path))
    dims = [d.get_length() if d.is_static else None for d in ov_model.input(0).get_partial_shape()]
    shape = [*dims[1:], None, None, None][:3]
    info = BackendInfo(
        architecture=meta.architecture if meta else path.stem,
        backend=BACKEND,
        precision=deployed.get("precision", "fp32"),
        image_shape=(shape[0], shape[1], shape[2]),
        calibration_images=int(deployed.get("calibration_images", 0)),
        metadata=meta,
    )
    return OpenVinoModel(ov_model, info, threads=threads)
