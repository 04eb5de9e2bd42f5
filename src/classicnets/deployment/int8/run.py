"""int8 execution: the quantized model, the proof that it runs int8 kernels, and its files.

A :class:`QuantizedModel` keeps the converted program (what :func:`save_quantized` writes in
``torch.export``'s own format, loaded again without recalibrating and without unpickling) and the
compiled runner: ``torch.compile`` with weight freezing pattern-matches the program's quantize /
dequantize pairs into oneDNN's int8 operators (``onednn.qconv2d_pointwise`` with the ReLU and, in
residual blocks, the shortcut's addition as post-ops; ``onednn.qlinear_pointwise``; int8
pooling), which run on VNNI / AMX where the CPU has them, called from compiled C++ (inductor's
C++ wrapper), after :mod:`.lower`'s rewrites. :func:`int8_kernels` inspects the code inductor
generated, so that a model that silently fell back to float kernels is caught (tests, the
registry matrix). :func:`int8_unavailable_reason` says where int8 cannot run at all.

Within ``int8/`` this imports :mod:`.lower` and :mod:`.prepare`; ``quantize`` and ``accuracy``
build on it.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ...errors import ClassicNetsError, InputShapeError
from ...preprocessing import Preprocessing
from ..export import onnx_needs_external_data
from .lower import rewrite_for_compile
from .prepare import batch_dim

__all__ = [
    "INT8_OPERATORS",
    "Int8UnavailableError",
    "QuantizedModel",
    "QuantizedModelInfo",
    "export_quantized_onnx",
    "int8_kernels",
    "int8_operator_calls",
    "int8_unavailable_reason",
    "load_quantized",
    "require_int8",
    "run_and_count_int8",
    "save_quantized",
    "uses_int8_kernels",
]

#: Calls in inductor's generated code that prove int8 execution (oneDNN / quantized CPU): in a
#: Python wrapper ``torch.ops.onednn.qconv_pointwise.tensor(``; in the C++ wrapper the C shim
#: ``aoti_torch_cpu__qconv_pointwise_tensor(`` or a dispatcher lookup of ``"quantized::..."``.
INT8_OPERATORS = re.compile(
    r"torch\.ops\.(?P<python>onednn\.q\w+|quantized\.\w+)(?:\.\w+)?\("
    r"|aoti_torch_cpu__(?P<shim>q(?:conv|linear)\w*?)(?:_binary)?(?:_tensor)?\("
    r'|findSchemaOrThrow\("(?P<dispatch>(?:onednn|quantized)::\w+)"'
)


def int8_operator_calls(code: str) -> dict[str, int]:
    """The int8 operators (``namespace.name`` -> call sites) in one piece of generated code."""
    counts: dict[str, int] = {}
    for match in INT8_OPERATORS.finditer(code):
        python, shim, dispatch = match.groups()
        name = python or (f"onednn.{shim}" if shim else dispatch.replace("::", "."))
        counts[name] = counts.get(name, 0) + 1
    return counts


#: The description saved inside a :func:`save_quantized` file.
METADATA_FILE = "classicnets_int8.json"


class Int8UnavailableError(ClassicNetsError, RuntimeError):
    """This PyTorch build or CPU cannot run int8 kernels (or torchao is not installed)."""


@dataclass(frozen=True)
class QuantizedModelInfo:
    """What was quantized and how; saved next to the program and shown in reports."""

    architecture: str
    image_shape: tuple[int, int, int]  # (channels, height, width) the program takes
    calibration_images: int
    scheme: str = "x86-inductor static PTQ: int8 per-channel weights, uint8 per-tensor acts"
    #: What evaluation and prediction need besides the program (recorded by ``quantize`` from
    #: the source weights; None in a file written without them).
    classes: tuple[str, ...] | None = None
    preprocessing: dict[str, Any] | None = None

    def describe(self) -> str:
        c, h, w = self.image_shape
        return (
            f"{self.architecture} int8 ({self.scheme}); input {c}x{h}x{w}, "
            f"calibrated on {self.calibration_images} images"
        )


# -- availability --------------------------------------------------------------------------------


def int8_unavailable_reason() -> str | None:
    """Why int8 cannot run here (None when it can): torchao missing, no x86/oneDNN engine."""
    try:
        import torchao  # noqa: F401
    except ImportError:
        return "torchao is not installed: pip install 'classicnets[int8]'"
    engines = torch.backends.quantized.supported_engines
    if "x86" not in engines and "onednn" not in engines:
        return (
            f"this PyTorch build has no x86/onednn quantized engine "
            f"(supported: {', '.join(engines) or 'none'})"
        )
    if not torch.backends.mkldnn.is_available():
        return "this PyTorch build has no oneDNN (mkldnn), which runs the int8 kernels"
    return None


def require_int8() -> None:
    """Raise :class:`Int8UnavailableError` unless int8 can run here."""
    reason = int8_unavailable_reason()
    if reason is not None:
        raise Int8UnavailableError(f"int8 quantization is not available: {reason}")


# -- the model -----------------------------------------------------------------------------------


class QuantizedModel(nn.Module):
    """An int8 inference model: float32 images of its one image shape in, float32 logits out."""

    def __init__(
        self, program: torch.export.ExportedProgram, info: QuantizedModelInfo, *, compile: bool
    ) -> None:
        super().__init__()
        self.program = program
        self.info = info
        self.compiled = compile
        self.module_ = program.module()
        # the compiled function is kept out of the module tree (its tensors are the program's)
        self.__dict__["_runner"] = self._compile() if compile else self.module_

    def _compile(self) -> Any:
        # a fresh graph over the same weights as module_
        return torch.compile(rewrite_for_compile(self.program.module()), dynamic=False)

    def run(self, runner: Any, x: Tensor) -> Any:
        """Call ``runner`` with inductor's freezing and C++ wrapper on (compilation happens at
        a call).

        Freezing turns weights into constants: what lets inductor prepack them for oneDNN and
        match quantize/dequantize pairs into int8 kernels. The C++ wrapper calls the kernels
        from compiled C++ instead of generated Python: at batch 1, where the kernels are a
        third of the time, 15-23% more images/s (docs/int8.md). Both must be global settings
        while compiling: ``torch.compile(options={"freezing": True})`` fails on the int8
        prepack operators (torch 2.14 / torchao 0.18), so they are set around each call and
        restored after it. They are set as plain attributes: ``inductor_config.patch`` would do
        the same, but it builds a class and a context variable on every call, and at batch 1
        around a compiled resnet18 it cost about 90 us a call against about 25 us (4% of the
        call; docs/int8.md).
        """
        from torch._inductor import config as inductor_config

        settings = {"freezing": True, "cpp_wrapper": True}
        prior = {key: getattr(inductor_config, key) for key in settings}
        try:
            for key, value in settings.items():
                setattr(inductor_config, key, value)
            with torch.no_grad():
                return runner(x)
        finally:
            for key, value in prior.items():
                setattr(inductor_config, key, value)

    def train(self, mode: bool = True) -> QuantizedModel:
        """An int8 program only runs inference: ``eval()`` (what inference code calls) is
        accepted; ``train()`` is refused (the exported program has no training mode)."""
        if mode:
            raise ClassicNetsError("an int8 model only runs inference; train its float model")
        self.training = False
        return self

    def check_input(self, x: Tensor) -> None:
        """Raise :class:`InputShapeError` unless ``x`` is a batch of the calibrated shape."""
        if x.dim() != 4 or tuple(x.shape[1:]) != self.info.image_shape:
            c, h, w = self.info.image_shape
            raise InputShapeError(
                f"this int8 model takes (N, {c}, {h}, {w}) images (its calibrated shape), "
                f"got {tuple(x.shape)}; quantize again at the other size"
            )

    def forward(self, x: Tensor) -> Tensor:
        self.check_input(x)
        return self.run(self.__dict__["_runner"], x.float()).float()

    def extra_repr(self) -> str:
        return self.info.describe()


# -- proof of int8 execution ---------------------------------------------------------------------


def run_and_count_int8(model: QuantizedModel, x: Tensor) -> tuple[Tensor, dict[str, int]]:
    """Logits of ``x`` from a fresh compilation, and the int8 operators (name -> calls) in
    the code inductor generated for it: an empty count means the model would run float kernels.
    """
    from torch._inductor.utils import run_and_get_code

    model.check_input(x)
    runner = model._compile()
    out, codes = model.run(lambda batch: run_and_get_code(runner, batch), x.float())
    counts: dict[str, int] = {}
    for code in codes:
        for name, calls in int8_operator_calls(code).items():
            counts[name] = counts.get(name, 0) + calls
    return out.float(), counts


def int8_kernels(model: QuantizedModel, example: Tensor | None = None) -> dict[str, int]:
    """The int8 operators inductor generates for ``model`` (see :func:`run_and_count_int8`);
    ``example`` defaults to a batch of 2 zero images of the calibrated shape."""
    if example is None:
        example = torch.zeros(2, *model.info.image_shape)
    return run_and_count_int8(model, example)[1]


def uses_int8_kernels(model: nn.Module) -> bool:
    """True if ``model`` is a compiled :class:`QuantizedModel` whose generated code calls int8
    convolutions (the check ``bench``/``deploy`` use before labelling anything int8)."""
    if not isinstance(model, QuantizedModel) or not model.compiled:
        return False
    return any(op.startswith("onednn.qconv") for op in int8_kernels(model))


# -- files ---------------------------------------------------------------------------------------


def save_quantized(
    model: QuantizedModel,
    path: str | Path,
    *,
    classes: Sequence[str] | None = None,
    preprocessing: Preprocessing | None = None,
) -> Path:
    """Write the int8 program (``torch.export`` format, ``.pt2``) and its description.

    The file holds the graph, the int8 weights with their scales and zero points, the
    activation scales calibration measured, and :class:`QuantizedModelInfo` (architecture,
    image shape, how many images calibrated it): no image. (:func:`~.quantize.quantize_int8`
    drops the example input export keeps, which is a calibration batch.)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    info = replace(
        model.info,
        classes=tuple(classes) if classes is not None else model.info.classes,
        preprocessing=preprocessing.as_dict() if preprocessing else model.info.preprocessing,
    )
    torch.export.save(model.program, path, extra_files={METADATA_FILE: json.dumps(asdict(info))})
    return path


def load_quantized(path: str | Path, *, compile: bool = True) -> QuantizedModel:
    """Read a :func:`save_quantized` file back; no calibration data needed.

    ``torch.export.load`` reads its own serialized graph and tensors (no pickled Python objects
    from the file are executed). Needs torchao imported, which registers the int8 operators.
    """
    require_int8()
    import torchao.quantization.pt2e  # noqa: F401  (registers quantized_decomposed ops)

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no int8 model file at {path}")
    extra = {METADATA_FILE: ""}
    program = torch.export.load(path, extra_files=extra)
    if not extra[METADATA_FILE]:
        raise ValueError(f"{path} is a torch.export file but not a classicnets int8 model")
    data = json.loads(extra[METADATA_FILE])
    data["image_shape"] = tuple(data["image_shape"])
    if data.get("classes") is not None:
        data["classes"] = tuple(data["classes"])
    known = {f.name for f in fields(QuantizedModelInfo)}
    info = QuantizedModelInfo(**{k: v for k, v in data.items() if k in known})
    return QuantizedModel(program, info, compile=compile)


def export_quantized_onnx(model: QuantizedModel, path: str | Path) -> Path:
    """ONNX with QuantizeLinear / DequantizeLinear nodes around float operators (QDQ format),
    which onnxruntime fuses into its int8 kernels; dynamic batch, the calibrated image size."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    example = torch.zeros(2, *model.info.image_shape)
    external = onnx_needs_external_data(model.program.state_dict.values())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's notes on operators it decomposes
        torch.onnx.export(
            model.program,
            (example,),
            str(path),
            dynamo=True,
            dynamic_shapes=({0: batch_dim()},),
            external_data=external,  # one self-contained file below 2 GB
            verbose=False,
        )
    return path
