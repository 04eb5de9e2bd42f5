"""What every deploy backend shares: the names, the errors, the model contract, the image shape.

A backend's model (:class:`BackendModel`) keeps the contract of ``deploy``'s torch path: float
NCHW tensors in (any batch size), float32 logits tensor out; a batch of the wrong rank, channel
count or image size raises :class:`~classicnets.errors.InputShapeError` before the runtime sees
it. Unlike the torch path, a backend's program is built for one image size (the calibration
images' for int8, ``input_size`` or the model's default for fp32): another size is refused with
the size to deploy again at, never resized.

Nothing here imports a backend's package: :func:`require` does, at the moment a backend is used,
and turns its absence into :class:`BackendUnavailableError` naming the extra to install.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from ...errors import ClassicNetsError, InputShapeError

if TYPE_CHECKING:
    import numpy as np

    from ...weights.metadata import WeightsMetadata
    from ..export import ExportCheck

__all__ = [
    "BACKENDS",
    "BackendError",
    "BackendInfo",
    "BackendModel",
    "BackendUnavailableError",
    "UnknownBackendError",
    "check_backend",
    "image_shape_for",
    "metadata_for",
    "require",
]

#: The backends ``deploy`` takes; ``torch`` is the default (``deployment/convert.py``).
BACKENDS: tuple[str, ...] = ("torch", "openvino", "onnxruntime")

#: The precisions each backend runs. ``bf16`` on OpenVINO: its CPU plugin's bf16 inference
#: precision (where the CPU has bf16 instructions); onnxruntime's CPU provider has no bf16
#: convolution kernels.
BACKEND_PRECISIONS: dict[str, tuple[str, ...]] = {
    "openvino": ("fp32", "bf16", "int8"),
    "onnxruntime": ("fp32", "int8"),
}


class BackendError(ClassicNetsError):
    """A backend that cannot do what was asked (the message says what it can do)."""


class UnknownBackendError(BackendError, ValueError):
    """A backend name that is not one of :data:`BACKENDS`."""


class BackendUnavailableError(BackendError, ImportError):
    """A backend whose package is not installed (the message names the extra)."""


def check_backend(name: str) -> str:
    """``name`` if it is a backend; else :class:`UnknownBackendError` naming the valid ones."""
    if name in BACKENDS:
        return name
    close = difflib.get_close_matches(str(name), BACKENDS, n=1, cutoff=0.5)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise UnknownBackendError(
        f"unknown backend {name!r}{hint}; the backends are {', '.join(BACKENDS)}"
    )


def require(module: str, backend: str) -> ModuleType:
    """Import ``module`` for ``backend``, or raise :class:`BackendUnavailableError` with the one
    line that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise BackendUnavailableError(
            f"the {backend} backend needs the {module.split('.')[0]} package: "
            f"pip install 'classicnets[{backend}]'"
        ) from None


def check_precision(backend: str, precision: str | torch.dtype) -> str:
    """The precision's name (``fp32``, ``bf16``, ``int8``) if ``backend`` runs it; otherwise a
    :class:`BackendError` naming those it runs."""
    names = {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}
    name = names.get(precision, str(precision)) if isinstance(precision, torch.dtype) else precision
    name = {"float32": "fp32", "bfloat16": "bf16", "float16": "fp16"}.get(name, name)
    supported = BACKEND_PRECISIONS[backend]
    if name not in supported:
        raise BackendError(
            f"the {backend} backend does not run {name}; it runs {', '.join(supported)}"
            + (" (bf16: use backend='openvino' or 'torch')" if name == "bf16" else "")
        )
    return name


def calibration_for(
    model: nn.Module, precision: str, calibration: Iterable[Tensor] | Tensor | None
) -> tuple[list[Tensor], tuple[int, int, int] | None]:
    """int8's calibration batches and their image shape, checked before any work
    (:func:`~..int8.calibrate.check_calibration`: none is a :class:`CalibrationError`); for a
    float precision ``([], None)``, and calibration given anyway is refused."""
    from ..int8.calibrate import check_calibration

    if precision == "int8":
        return check_calibration(model, calibration if calibration is not None else [])
    if calibration is not None:
        raise ValueError("calibration only applies to dtype='int8'")
    return [], None


def metadata_for(model: nn.Module, in_chans: int) -> WeightsMetadata:
    """What a backend file records about ``model`` when the caller gives nothing richer: its
    architecture, classes count and input channels (the CLI passes the weights' classes and
    preprocessing too)."""
    from ...weights.metadata import WeightsMetadata

    return WeightsMetadata(
        architecture=str(getattr(model, "model_name", type(model).__name__)),
        num_classes=getattr(model, "num_classes", None),
        in_chans=in_chans,
    )


def image_shape_for(
    model: nn.Module,
    calibration_shape: tuple[int, int, int] | None,
    input_size: int | None,
    in_chans: int | None = None,
) -> tuple[int, int, int]:
    """The (channels, height, width) a backend's program is built for: the calibration images'
    (int8), else ``input_size`` (or the registered model's default) at ``in_chans`` (default:
    the model's). Checked against the model as the torch path checks its input."""
    in_chans = in_chans or int(getattr(model, "in_chans", 3))
    if calibration_shape is not None:
        c, h, w = calibration_shape
        if input_size is not None and (h, w) != (input_size, input_size):
            raise InputShapeError(
                f"input_size={input_size} but the calibration images are {h}x{w}: the int8 "
                "program takes the calibration images' size"
            )
    else:
        if input_size is None:
            from ...models.registry import model_info

            name = getattr(model, "model_name", None)
            if not name:
                raise BackendError("give input_size: the image size to build the program for")
            input_size = model_info(name).input_size
        c, h, w = in_chans, input_size, input_size
    if h != w:
        raise BackendError(
            f"the backends build programs for square images; got {h}x{w} (calibrate on "
            "square crops, as the models' preprocessing makes them)"
        )
    min_size = int(getattr(model, "min_input_size", 1))
    if h < min_size:
        raise InputShapeError(
            f"input of {h}x{w} pixels is too small for "
            f"{getattr(model, 'model_name', 'this model')}: the minimum is {min_size}x{min_size}"
        )
    return c, h, w


@dataclass(frozen=True)
class BackendInfo:
    """What a backend model runs: which network, where, in what precision, at what size."""

    architecture: str
    backend: str
    precision: str
    #: (channels, height, width) the program takes; None where a loaded file leaves it open.
    image_shape: tuple[int | None, int | None, int | None]
    calibration_images: int = 0
    #: What the file records (classes, preprocessing); None for a file without our metadata.
    metadata: WeightsMetadata | None = None

    def describe(self) -> str:
        size = "x".join("?" if d is None else str(d) for d in self.image_shape)
        text = f"{self.architecture} {self.precision} on {self.backend}; input {size}"
        if self.calibration_images:
            text += f", calibrated on {self.calibration_images} images"
        return text


class BackendModel(nn.Module):
    """A model run by a backend's runtime: float NCHW tensors in, float32 logits out.

    Subclasses implement :meth:`run_array` (a float32 array in, the logits array out) and
    :meth:`save`. An ``nn.Module`` so that inference code written for the torch path
    (``model.eval()``, ``model(x)``) runs it unchanged; it has no parameters of its own.
    """

    def __init__(self, info: BackendInfo) -> None:
        super().__init__()
        self.info = info
        self.training = False
        #: The fp32 program's check against the eager model (batch 1 and 3, the export check's
        #: tolerance); set by ``deploy``, None for a loaded file.
        self.check: ExportCheck | None = None

    def train(self, mode: bool = True) -> BackendModel:
        """Inference only: ``eval()`` is accepted, ``train()`` refused."""
        if mode:
            raise BackendError(
                f"a {self.info.backend} model only runs inference; train its float model"
            )
        self.training = False
        return self

    def check_input(self, x: Tensor) -> None:
        """Raise :class:`InputShapeError` unless ``x`` is a batch the program takes."""
        c, h, w = self.info.image_shape
        name = self.info.architecture
        if x.dim() != 4:
            raise InputShapeError(
                f"{name} expects a batch of images shaped (N, C, H, W); got a tensor of shape "
                f"{tuple(x.shape)} (add a batch dimension with x.unsqueeze(0) for a single image)"
            )
        if c is not None and x.shape[1] != c:
            raise InputShapeError(
                f"{name} was built for {c}-channel input but got {x.shape[1]} channels; "
                "convert the images"
            )
        if (h is not None and x.shape[2] != h) or (w is not None and x.shape[3] != w):
            raise InputShapeError(
                f"this {self.info.backend} model of {name} takes ({'N'}, {c}, {h}, {w}) images "
                f"(the size it was built for), got {tuple(x.shape)}; deploy it again with "
                f"input_size={x.shape[2]} for that size"
            )

    def run_array(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def save(self, path: str | Path) -> Path:
        """Write the backend's file(s) to ``path``; returns the main file's path."""
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        self.check_input(x)
        array = x.detach().to(device="cpu", dtype=torch.float32).contiguous().numpy()
        return torch.from_numpy(self.run_array(array)).float()

    def extra_repr(self) -> str:
        return self.info.describe()


def numpy_batches(batches: list[Tensor]) -> list[Any]:
    """Calibration batches as float32 arrays (what the backends' calibration readers take)."""
    return [b.detach().to(device="cpu", dtype=torch.float32).contiguous().numpy() for b in batches]
