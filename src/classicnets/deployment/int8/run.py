"""int8 inference: static post-training quantization lowered to oneDNN's int8 kernels.

The path (why this one: docs/int8.md) is PyTorch 2 export quantization (PT2E) from ``torchao``:

1. the eval-mode model (not ``deploy``'s fused copy: the quantizer must see plain
   conv / batch norm / ReLU / add patterns) is captured with ``torch.export`` with a dynamic
   batch dimension and a fixed image size;
2. ``prepare_pt2e`` with the x86 inductor quantizer inserts observers: per-channel symmetric
   int8 weights, per-tensor affine uint8 activations (histogram observer), batch norm folded
   into the convolutions;
3. the calibration images run through it once; ``convert_pt2e`` turns the observers into
   quantize / dequantize pairs with the measured scales;
4. ``torch.compile`` with weight freezing pattern-matches those pairs into oneDNN's int8
   operators (``onednn.qconv2d_pointwise`` with the ReLU and, in residual blocks, the
   shortcut's addition as post-ops; ``onednn.qlinear_pointwise``; int8 pooling), which run on
   VNNI / AMX where the CPU has them, called from compiled C++ (inductor's C++ wrapper).

A :class:`QuantizedModel` keeps the converted program (what :func:`save_quantized` writes in
``torch.export``'s own format, loaded again without recalibrating and without unpickling) and the
compiled runner. :func:`int8_kernels` inspects the code inductor generated, so that a model that
silently fell back to float kernels is caught (tests, the registry matrix).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.fx import GraphModule, Node

from ...errors import ClassicNetsError, InputShapeError
from .lower import graph_attribute, is_op, rewrite_for_compile

__all__ = [
    "INT8_MIN_BOUND",
    "INT8_OPERATORS",
    "INT8_ROUNDING_FACTOR",
    "CalibrationError",
    "Int8UnavailableError",
    "QuantizedModel",
    "QuantizedModelInfo",
    "annotate_gated_branches",
    "calibrate_and_convert",
    "calibration_batches",
    "capture_for_quantization",
    "compare_logits",
    "export_quantized_onnx",
    "int8_error_bound",
    "int8_kernels",
    "int8_operator_calls",
    "int8_unavailable_reason",
    "load_quantized",
    "quantize_int8",
    "rounding_sensitivity",
    "run_and_count_int8",
    "save_quantized",
    "separate_shared_convolutions",
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


#: The batch dimension of the exported program: any batch size runs the same program.
_MAX_BATCH = 1 << 16
_METADATA_FILE = "classicnets_int8.json"


class Int8UnavailableError(ClassicNetsError, RuntimeError):
    """This PyTorch build or CPU cannot run int8 kernels (or torchao is not installed)."""


class CalibrationError(ClassicNetsError, ValueError):
    """Calibration data that is missing, empty or of the wrong shape for the model."""


@dataclass(frozen=True)
class QuantizedModelInfo:
    """What was quantized and how; saved next to the program and shown in reports."""

    architecture: str
    image_shape: tuple[int, int, int]  # (channels, height, width) the program takes
    calibration_images: int
    scheme: str = "x86-inductor static PTQ: int8 per-channel weights, uint8 per-tensor acts"

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


def _require_int8() -> None:
    reason = int8_unavailable_reason()
    if reason is not None:
        raise Int8UnavailableError(f"int8 quantization is not available: {reason}")


# -- calibration data ----------------------------------------------------------------------------


def calibration_batches(
    source: str | Path | torch.utils.data.Dataset,
    preprocessing: Any,
    *,
    num_images: int = 256,
    batch_size: int = 32,
) -> list[Tensor]:
    """``num_images`` images from ``source`` prepared exactly as for evaluation, in batches.

    ``source`` is an image folder (``root/<class>/<image>``) or a dataset yielding
    ``(PIL image, label)``; ``preprocessing`` the model's :class:`~classicnets.preprocessing.
    Preprocessing` (calibrating on differently prepared images would measure the wrong ranges).
    The images are spread evenly over the dataset (which is sorted by class), so every class is
    seen; unreadable files are skipped.
    """
    from ...data.datasets import BadSample, ImageFolderDataset

    if num_images < 1:
        raise CalibrationError(f"num_images must be at least 1, got {num_images}")
    dataset = (
        ImageFolderDataset(source, in_chans=preprocessing.in_chans)
        if isinstance(source, (str, Path))
        else source
    )
    total = len(dataset)  # type: ignore[arg-type]
    if total == 0:
        raise CalibrationError("the calibration dataset is empty")
    transform = preprocessing.eval_transform()
    step = max(1, total // num_images)
    images = []
    for index in range(0, total, step):
        sample = dataset[index]
        if not isinstance(sample, BadSample):
            images.append(transform(sample[0]))
        if len(images) == num_images:
            break
    if not images:
        raise CalibrationError("no readable calibration image in the dataset")
    stacked = torch.stack(images)
    return list(stacked.split(batch_size))


def _check_calibration(
    model: nn.Module, calibration: Iterable[Tensor] | Tensor
) -> tuple[list[Tensor], tuple[int, int, int]]:
    """The calibration batches as a list, after checking they suit the model and each other."""
    batches = [calibration] if isinstance(calibration, Tensor) else list(calibration)
    if not batches or all(b.numel() == 0 for b in batches):
        raise CalibrationError(
            "no calibration data: static int8 quantization measures activation ranges on "
            "real images; pass batches prepared with the model's preprocessing "
            "(see classicnets.deployment.int8.quantize.calibration_batches)"
        )
    shape = tuple(batches[0].shape[1:])
    in_chans = getattr(model, "in_chans", None)
    min_size = getattr(model, "min_input_size", 1)
    for b in batches:
        if b.dim() != 4:
            raise CalibrationError(
                f"calibration batches must be (N, C, H, W), got {tuple(b.shape)}"
            )
        if tuple(b.shape[1:]) != shape:
            raise CalibrationError(
                f"calibration batches differ in image shape ({tuple(b.shape[1:])} vs {shape}); "
                "the int8 program is built for one image size"
            )
        if not b.is_floating_point():
            raise CalibrationError(f"calibration images must be float tensors, got {b.dtype}")
    c, h, w = shape
    if in_chans is not None and c != in_chans:
        raise CalibrationError(f"calibration images have {c} channels, the model takes {in_chans}")
    if h < min_size or w < min_size:
        raise CalibrationError(
            f"calibration images are {h}x{w}, smaller than the model's minimum "
            f"{min_size}x{min_size}"
        )
    return batches, (c, h, w)


# -- quantization --------------------------------------------------------------------------------


def _x86_config() -> Any:
    """The x86 inductor quantizer's default scheme (what every annotation here uses)."""
    from torchao.quantization.pt2e.quantizer import x86_inductor_quantizer as xiq

    return xiq.get_default_x86_inductor_quantization_config()


def _x86_quantizer() -> Any:
    """The x86 inductor quantizer with its default scheme, which also annotates the
    squeeze-excitation gates (:func:`annotate_gated_branches`) after its own patterns."""
    from torchao.quantization.pt2e.quantizer import x86_inductor_quantizer as xiq

    class Quantizer(xiq.X86InductorQuantizer):
        def annotate(self, model: GraphModule) -> GraphModule:
            model = super().annotate(model)
            annotate_gated_branches(model)
            return model

    quantizer = Quantizer()
    quantizer.set_global(_x86_config())
    return quantizer


def _is_call(node: Any, name: str) -> bool:
    return isinstance(node, Node) and node.op == "call_function" and name in str(node.target)


def annotate_gated_branches(graph_module: GraphModule) -> tuple[int, int]:
    """Quantize what a squeeze-excitation gate reads; returns (convolution outputs, additions)
    annotated. Runs after the x86 quantizer's own annotation, on the same graph.

    In an SE block the branch's last convolution is multiplied by a sigmoid gate before the
    shortcut's addition, a pattern the x86 quantizer does not annotate: that convolution then
    wrote float32, the mean and the gate read it back, and the addition read the shortcut in
    float32 too, so SE-ResNet-50 int8 ran at 2.7x its fp32 while ResNet-50 runs at 9.7x. Here
    the convolution's output gets the activation scheme (a uint8 output, read by the mean and
    the gate), and an addition of the gated branch that no fused pattern claimed reads its
    other input quantized as well (the previous block's output, already quantized for the next
    convolution). inductor then fuses gate, addition, ReLU and quantize into one pass over
    uint8 inputs. The gated branch and the shortcut are then read after int8 rounding, as the
    ResNets' fused additions read theirs.
    """
    from torchao.quantization.pt2e.quantizer import x86_inductor_quantizer as xiq

    key, activation = xiq.QUANT_ANNOTATION_KEY, _x86_config().input_activation
    convolutions = additions = 0
    for mul in [n for n in graph_module.graph.nodes if is_op(n, "mul")]:
        gated = [a for a in mul.args[:2] if not is_op(a, "sigmoid")]
        if len(gated) != 1 or len(mul.args) < 2 or not is_op(gated[0], "conv2d"):
            continue
        annotation = gated[0].meta.get(key)
        if annotation is not None and annotation.output_qspec is None:
            annotation.output_qspec = activation
            convolutions += 1
        for add in mul.users:
            if is_op(add, "add", "add_") and key not in add.meta:
                shortcut = next((a for a in add.args[:2] if a is not mul), None)
                if isinstance(shortcut, Node):
                    add.meta[key] = xiq._X86InductorQuantizationAnnotation(
                        input_qspec_map={shortcut: activation}, _annotated=True
                    )
                    additions += 1
    return convolutions, additions


def _distinct_source(meta: dict[str, Any], suffix: str) -> dict[str, Any]:
    """A copy of a node's metadata naming another source module: the quantizer groups nodes
    into patterns by source, and a copy under the original's name would join its pattern."""
    meta = dict(meta)
    if meta.get("source_fn_stack"):
        *outer, (name, fn) = meta["source_fn_stack"]
        meta["source_fn_stack"] = [*outer, (name + suffix, fn)]
    if meta.get("torch_fn"):
        meta["torch_fn"] = (meta["torch_fn"][0] + suffix, meta["torch_fn"][1])
    if meta.get("nn_module_stack"):
        stack = dict(meta["nn_module_stack"])
        key = next(reversed(stack))
        stack[key] = (stack[key][0] + suffix, stack[key][1])
        meta["nn_module_stack"] = stack
    return meta


def separate_shared_convolutions(graph_module: GraphModule) -> int:
    """Give every batch norm that follows a convolution whose output is also used elsewhere
    its own copy of that convolution (own weights too); returns how many were separated.

    ``prepare_pt2e`` folds a batch norm into the convolution before it by overwriting that
    convolution's weights, without checking who else reads its output. In DenseNet the stem
    convolution feeds the first layer's norm *and* every concatenation of the block, which then
    all saw normalized features: logits off by 300% (torchao 0.18). With a private copy the fold
    is exact and the other readers keep the plain convolution (one extra convolution per case).
    """
    graph = graph_module.graph
    separated = 0
    for norm in list(graph.nodes):
        conv = norm.args[0] if _is_call(norm, "batch_norm") else None
        if not _is_call(conv, "conv") or len(conv.users) == 1:
            continue
        args = list(conv.args)
        with graph.inserting_before(conv):
            for i in (1, 2):  # weight, bias
                if i < len(args) and isinstance(args[i], Node) and args[i].op == "get_attr":
                    source = graph_attribute(graph_module, args[i])
                    name = f"_bn_private_{separated}_{i}"
                    weight = nn.Parameter(source.detach().clone(), requires_grad=False)
                    graph_module.register_parameter(name, weight)  # folding reassigns it
                    args[i] = graph.get_attr(name)
        with graph.inserting_after(conv):
            private = graph.call_function(conv.target, tuple(args), dict(conv.kwargs))
        private.meta = _distinct_source(conv.meta, f"_bn_private_{separated}")
        norm.replace_input_with(conv, private)
        separated += 1
    graph.lint()
    graph_module.recompile()
    return separated


def _export(module: nn.Module, example: Tensor) -> torch.export.ExportedProgram:
    batch = torch.export.Dim("batch", min=1, max=_MAX_BATCH)
    # a batch of 2 as the example: export specialises a size-1 dimension to the constant 1
    return torch.export.export(
        module, (example[:1].expand(2, -1, -1, -1),), dynamic_shapes=({0: batch},)
    )


def capture_for_quantization(model: nn.Module, example: Tensor) -> GraphModule:
    """The graph of ``model`` (in eval mode) that the quantizer annotates: exported with a dynamic
    batch at ``example``'s image size, shared convolutions separated.
    It computes what ``model`` computes (diagnostics compare it with the converted graph)."""
    captured = _export(model, example).module()
    separate_shared_convolutions(captured)
    return captured


def calibrate_and_convert(captured: GraphModule, batches: list[Tensor]) -> GraphModule:
    """Observers inserted into ``captured`` (which this changes: batch norms are folded), the
    ``batches`` run through it, then the quantize / dequantize graph with the measured scales:
    the reference int8 program, float kernels (:func:`quantize_int8` compiles it to int8)."""
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    prepared = prepare_pt2e(captured, _x86_quantizer())
    with torch.no_grad():
        for batch in batches:
            prepared(batch.float())
    return convert_pt2e(prepared)


def quantize_int8(
    model: nn.Module,
    calibration: Iterable[Tensor] | Tensor,
    *,
    compile: bool = True,
) -> QuantizedModel:
    """A static int8 copy of ``model`` calibrated on ``calibration``; the original is untouched.

    ``calibration``: one (N, C, H, W) tensor or an iterable of such batches, prepared with the
    model's own preprocessing; every batch must have the same image size, which becomes the only
    size the int8 model takes. Aux-head models are quantized in their inference (eval) form.
    ``compile=False`` keeps the reference quantize/dequantize program (float kernels, for
    debugging and export only); the default lowers it to int8 kernels, compiled on first call.

    Raises :class:`CalibrationError` for missing or ill-shaped data and
    :class:`Int8UnavailableError` where this PyTorch build cannot run int8.
    """
    _require_int8()
    batches, image_shape = _check_calibration(model, calibration)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            converted = calibrate_and_convert(capture_for_quantization(model, batches[0]), batches)
            program = _export(converted, batches[0])
    finally:
        model.train(was_training)
    info = QuantizedModelInfo(
        architecture=getattr(model, "model_name", type(model).__name__),
        image_shape=image_shape,
        calibration_images=sum(b.shape[0] for b in batches),
    )
    return QuantizedModel(program, info, compile=compile)


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


def save_quantized(model: QuantizedModel, path: str | Path) -> Path:
    """Write the int8 program (``torch.export`` format, ``.pt2``) and its description."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = json.dumps(asdict(model.info))
    torch.export.save(model.program, path, extra_files={_METADATA_FILE: meta})
    return path


def load_quantized(path: str | Path, *, compile: bool = True) -> QuantizedModel:
    """Read a :func:`save_quantized` file back; no calibration data needed.

    ``torch.export.load`` reads its own serialized graph and tensors (no pickled Python objects
    from the file are executed). Needs torchao imported, which registers the int8 operators.
    """
    _require_int8()
    import torchao.quantization.pt2e  # noqa: F401  (registers quantized_decomposed ops)

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no int8 model file at {path}")
    extra = {_METADATA_FILE: ""}
    program = torch.export.load(path, extra_files=extra)
    if not extra[_METADATA_FILE]:
        raise ValueError(f"{path} is a torch.export file but not a classicnets int8 model")
    data = json.loads(extra[_METADATA_FILE])
    data["image_shape"] = tuple(data["image_shape"])
    return QuantizedModel(program, QuantizedModelInfo(**data), compile=compile)


def export_quantized_onnx(model: QuantizedModel, path: str | Path) -> Path:
    """ONNX with QuantizeLinear / DequantizeLinear nodes around float operators (QDQ format),
    which onnxruntime fuses into its int8 kernels; dynamic batch, the calibrated image size."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    batch = torch.export.Dim("batch", min=1, max=_MAX_BATCH)
    example = torch.zeros(2, *model.info.image_shape)
    torch.onnx.export(
        model.program, (example,), str(path), dynamo=True, dynamic_shapes=({0: batch},)
    )
    return path


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
    """:func:`quantize_int8`, then proof that it is int8 (its compiled code calls oneDNN's int8
    convolutions) and how far its logits are from the float model's on the calibration images.

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
