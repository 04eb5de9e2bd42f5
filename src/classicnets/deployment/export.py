"""Export a model out of Python, and prove the export computes what the model computes.

Formats: ONNX (``torch.onnx.export``, the torch.export-based exporter; checked by running it
with onnxruntime); TorchScript (``torch.jit.trace``: the models' input checks are Python and
are evaluated while tracing; PyTorch deprecates TorchScript in favour of torch.export, it is
kept because deployment stacks still load it); ``torch.export``'s ExportedProgram (.pt2). The
batch dimension is symbolic by default (``dynamic_batch=False`` fixes it at ``batch_size``), and
the file is checked at batch 1 and batch 3, neither the example's batch of 2.

What the file computes for: ``metadata`` (a :class:`~classicnets.weights.WeightsMetadata`: the
architecture, class names, preprocessing) goes into the file as our safetensors header entries
(``classicnets.<field>``, strings, JSON where structured): ONNX ``metadata_props``; TorchScript's
``_extra_files`` and the ExportedProgram's ``extra_files`` under ``classicnets.json`` (those
entries as one JSON object). :func:`read_export_metadata` reads them back from any of the three.

Models with auxiliary heads export their inference form (eval mode returns the logits alone).
Every export is compared with the eager model:
``max|exported - eager| / max|eager|`` must stay below ``tolerance`` (1e-4 in fp32).

Where it does not, the float64 result of the same model on the same batch decides: the export
passes when it is no further from that exact result than ``FP32_SLACK`` times the eager fp32
model's own distance from it (the larger of the contiguous and the channels_last model's: two
orderings of the same float32 arithmetic), or than ``tolerance``. Deep
untrained networks amplify float32 rounding: on SENet-154 with random weights eager fp32 is
9e-4 from float64, switching the eager model to channels_last moves its logits by 1.3e-3, and
scaling the input by 1 + 1e-7 by 1.2e-3, while onnxruntime's output is 1.0e-3 from float64. A
wrong operator or weight is off by orders of magnitude more, so the check still catches it.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from ..errors import ClassicNetsError

if TYPE_CHECKING:
    from ..weights import WeightsMetadata

__all__ = [
    "FORMATS",
    "ExportCheck",
    "ExportError",
    "export_model",
    "load_exported",
    "max_rel_error",
    "read_export_metadata",
    "verify_export",
]

FORMATS: dict[str, str] = {"onnx": ".onnx", "torchscript": ".ts", "exported-program": ".pt2"}

#: The extra file holding the metadata in TorchScript and ExportedProgram archives.
METADATA_FILE = "classicnets.json"

#: The batch sizes a dynamic-batch export is checked at (the example has 2).
CHECK_BATCHES = (1, 3)


class ExportError(ClassicNetsError):
    """An export that failed or does not reproduce the eager output (the message says how)."""


#: How much further from the float64 result than eager fp32 an export may be (see above).
FP32_SLACK = 2.0


@dataclass(frozen=True)
class ExportCheck:
    """The result of one verified export. ``exact_error`` / ``eager_exact_error``: the export's
    and eager fp32's distance from the float64 model, computed only where ``max_rel_error``
    exceeded the tolerance."""

    path: Path
    format: str
    max_rel_error: float
    checked_batch: int
    exact_error: float | None = None
    eager_exact_error: float | None = None
    #: Every batch size the file was run at (``checked_batch`` is the largest).
    checked_batches: tuple[int, ...] = ()

    def describe(self) -> str:
        text = f"max relative error {self.max_rel_error:.1e}"
        if self.exact_error is not None:
            text += (
                f" (within float32 rounding: {self.exact_error:.1e} from the float64 result, "
                f"eager fp32 {self.eager_exact_error:.1e})"
            )
        return text


def max_rel_error(actual: Tensor, expected: Tensor) -> float:
    """``max |actual - expected| / max |expected|``: the error relative to the logits' scale."""
    actual, expected = actual.detach().double(), expected.detach().double()
    return float((actual - expected).abs().max() / expected.abs().max().clamp_min(1e-12))


def _batch_dim() -> torch.export.Dim:
    return torch.export.Dim("batch", min=1, max=4096)


#: Protobuf's 2 GB limit on one file, less room for the graph: weights above it are written to
#: a ``.data`` file beside the ``.onnx``, below it the ``.onnx`` holds everything.
ONNX_ONE_FILE_BYTES = 2**31 - 2**26


def onnx_needs_external_data(tensors: Iterable[Tensor]) -> bool:
    """Whether weights of these sizes must go to a ``.data`` file beside the ``.onnx``."""
    return sum(t.numel() * t.element_size() for t in tensors) >= ONNX_ONE_FILE_BYTES


def onnx_data_file(path: str | Path) -> Path | None:
    """The external-data file an ``.onnx`` file's weights live in, or None when it holds them."""
    import onnx
    from onnx.external_data_helper import uses_external_data

    model = onnx.load(str(path), load_external_data=False)
    for tensor in model.graph.initializer:
        if uses_external_data(tensor):
            location = {e.key: e.value for e in tensor.external_data}["location"]
            return Path(path).parent / location
    return None


def describe_onnx_files(path: str | Path) -> str:
    """``path``, and the ``.data`` file that belongs to it where the weights did not fit in one."""
    data = onnx_data_file(path)
    if data is None:
        return str(path)
    return f"{path} and {data.name} (its weights, over 2 GB: keep the two files together)"


def _export_onnx(
    model: nn.Module, x: Tensor, path: Path, dynamic_batch: bool, entries: dict[str, str]
) -> None:
    try:
        import onnxscript  # noqa: F401  (needed by torch.onnx's exporter)
    except ImportError:
        raise ExportError(
            "ONNX export needs onnx and onnxscript: pip install 'classicnets[export]'"
        ) from None
    dynamic = {"x": {0: _batch_dim()}} if dynamic_batch else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            model,
            (x,),
            dynamo=True,
            dynamic_shapes=dynamic,
            input_names=["x"],
            output_names=["logits"],
            verbose=False,
        )
    program.model.metadata_props.update(entries)
    program.save(str(path), external_data=onnx_needs_external_data(model.state_dict().values()))


def _export_torchscript(model: nn.Module, x: Tensor, path: Path, entries: dict[str, str]) -> None:
    with warnings.catch_warnings():
        # tracer warnings about the Python input checks, and TorchScript's deprecation notice
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(model, (x,), check_trace=False)
        torch.jit.save(traced, str(path), _extra_files={METADATA_FILE: json.dumps(entries)})


def _export_program(
    model: nn.Module, x: Tensor, path: Path, dynamic_batch: bool, entries: dict[str, str]
) -> None:
    dynamic = {"x": {0: _batch_dim()}} if dynamic_batch else None
    program = torch.export.export(model, (x,), dynamic_shapes=dynamic)
    torch.export.save(program, str(path), extra_files={METADATA_FILE: json.dumps(entries)})


def read_export_metadata(path: str | Path) -> WeightsMetadata:
    """What an exported file records about its network (written by :func:`export_model`):
    the architecture, classes, input channels and preprocessing; empty when it records none.

    Without classicnets: ONNX ``{p.key: p.value for p in onnx.load(f).metadata_props}``;
    TorchScript ``files = {"classicnets.json": ""}; torch.jit.load(f, _extra_files=files)``;
    ExportedProgram ``torch.export.load(f, extra_files=files)``; then ``json.loads`` the entry.
    OpenVINO IR (``.xml``): the same entries as ONNX, in the model's ``rt_info`` under
    ``classicnets`` (``ov.Core().read_model(f).get_rt_info(["classicnets", key])``); read here
    from the XML itself, so no OpenVINO is needed.
    """
    from ..weights import WeightsMetadata

    path = Path(path)
    if path.suffix == ".xml":
        from .backends.openvino import read_ir_entries

        return WeightsMetadata.from_header(read_ir_entries(path))
    if path.suffix == ".onnx":
        import onnx

        entries = {p.key: p.value for p in onnx.load(str(path), load_external_data=False)
                   .metadata_props}  # fmt: skip
    else:
        files = {METADATA_FILE: ""}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # TorchScript is deprecated in torch
            if path.suffix == ".pt2":
                torch.export.load(str(path), extra_files=files)
            else:
                torch.jit.load(str(path), _extra_files=files)
        entries = json.loads(files[METADATA_FILE] or "{}")
    return WeightsMetadata.from_header(entries)


def load_exported(path: str | Path, fmt: str) -> Callable[[Tensor], Tensor]:
    """A callable that runs the exported file on a float32 tensor and returns a tensor."""
    path = Path(path)
    if fmt == "onnx":
        try:
            import onnxruntime as ort
        except ImportError:
            raise ExportError(
                "checking ONNX needs onnxruntime: pip install 'classicnets[export]'"
            ) from None
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name

        def run_onnx(x: Tensor) -> Tensor:
            return torch.from_numpy(session.run(None, {name: x.numpy()})[0])

        return run_onnx
    if fmt == "torchscript":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # TorchScript is deprecated in torch
            return torch.jit.load(str(path))
    if fmt == "exported-program":
        return torch.export.load(str(path)).module()
    raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")


def export_model(
    model: nn.Module,
    path: str | Path,
    *,
    fmt: str,
    input_size: int,
    in_chans: int = 3,
    dynamic_batch: bool = True,
    batch_size: int = 2,
    tolerance: float = 1e-4,
    metadata: WeightsMetadata | None = None,
    check: bool = True,
) -> ExportCheck:
    """Export ``model`` (eval mode, fp32, CPU) to ``path`` and check it against eager.

    ``dynamic_batch``: any batch size (checked at 1 and 3); else fixed at ``batch_size``.
    ``metadata``: what to record in the file (see the module docstring). Raises
    :class:`ExportError` if the export fails or its output differs by more than ``tolerance``
    (relative to the largest logit). ``check=False`` only writes the file (the returned check
    has no error figure, ``checked_batches`` is empty): for a caller that checks what it builds
    from the file in its own runtime (:func:`verify_export`; the OpenVINO backend).
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    path = Path(path)
    if fmt == "exported-program" and path.suffix != ".pt2":
        raise ValueError(f"torch.export saves .pt2 files; name the output {path.stem}.pt2")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    path.parent.mkdir(parents=True, exist_ok=True)
    model = model.eval().float().cpu()
    example = torch.randn(2 if dynamic_batch else batch_size, in_chans, input_size, input_size)
    entries = metadata.header() if metadata is not None else {}
    try:
        with torch.no_grad():
            if fmt == "onnx":
                _export_onnx(model, example, path, dynamic_batch, entries)
            elif fmt == "torchscript":
                _export_torchscript(model, example, path, entries)
            else:
                _export_program(model, example, path, dynamic_batch, entries)
    except ExportError:
        raise
    except Exception as e:  # the exporters raise many kinds; the reason is what matters
        reason = f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"
        raise ExportError(f"{fmt} export failed: {reason}") from e
    if not check:
        return ExportCheck(path=path, format=fmt, max_rel_error=float("nan"), checked_batch=0)
    exported = load_exported(path, fmt)
    # a traced TorchScript graph records no batch size: it takes any, and is checked so
    batches = CHECK_BATCHES if dynamic_batch or fmt == "torchscript" else (batch_size,)
    return verify_export(
        model, exported, path, fmt, batches=batches, in_chans=in_chans, input_size=input_size,
        tolerance=tolerance,
    )  # fmt: skip


def verify_export(
    model: nn.Module,
    exported: Callable[[Tensor], Tensor],
    path: Path,
    fmt: str,
    *,
    batches: tuple[int, ...] = CHECK_BATCHES,
    in_chans: int = 3,
    input_size: int,
    tolerance: float = 1e-4,
) -> ExportCheck:
    """``exported`` (any callable running ``path`` in some runtime) against the eager ``model``
    on a random batch of each size in ``batches``, as :func:`export_model` checks its files (the
    float64 arbiter of the module docstring included); the worst batch's figures."""
    checks = [_check_batch(model, exported, path, fmt, b, in_chans, input_size, tolerance)
              for b in batches]  # fmt: skip
    worst = max(checks, key=lambda c: c.max_rel_error)
    return replace(worst, checked_batch=max(batches), checked_batches=batches)


def _check_batch(
    model: nn.Module,
    exported: Callable[[Tensor], Tensor],
    path: Path,
    fmt: str,
    batch: int,
    in_chans: int,
    input_size: int,
    tolerance: float,
) -> ExportCheck:
    """The exported file against eager on one random batch (see the module docstring)."""
    x = torch.randn(batch, in_chans, input_size, input_size)
    with torch.no_grad():
        expected = model(x)
        try:
            actual = exported(x)
        except Exception as e:  # onnxruntime and the loaders raise their own kinds
            raise ExportError(
                f"the {fmt} file {path.name} does not run at batch {batch}: "
                f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"
            ) from e
    err = max_rel_error(actual, expected)
    if err <= tolerance:
        return ExportCheck(path=path, format=fmt, max_rel_error=err, checked_batch=batch)
    exact_err, eager_err = _distances_from_float64(model, x, actual, expected)
    if exact_err <= max(tolerance, FP32_SLACK * eager_err):
        return ExportCheck(
            path, fmt, err, batch, exact_error=exact_err, eager_exact_error=eager_err
        )
    raise ExportError(
        f"{fmt} export of {path.name} differs from eager: max relative error {err:.2e} "
        f"> {tolerance:.0e} (batch {batch}); it is {exact_err:.1e} from the float64 result, "
        f"eager fp32 {eager_err:.1e}"
    )


@torch.no_grad()
def _distances_from_float64(
    model: nn.Module, x: Tensor, actual: Tensor, expected: Tensor
) -> tuple[float, float]:
    """The export's max relative error against the float64 model, and eager fp32's: the larger
    of the contiguous model's (``expected``) and the channels_last model's, two orderings of the
    same float32 arithmetic that show how far rounding alone moves this network's output."""
    import copy

    exact = copy.deepcopy(model).double()(x.double())
    cl = copy.deepcopy(model).to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    other = cl(x.contiguous(memory_format=torch.channels_last))
    eager = max(max_rel_error(expected, exact), max_rel_error(other, exact))
    return max_rel_error(actual, exact), eager
