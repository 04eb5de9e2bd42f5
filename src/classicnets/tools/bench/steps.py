"""What a benchmark times: its settings, the models on each side, and one step of each.

:class:`BenchConfig` is one model under one setting; :func:`bench_models` gives ours and, with
``compare``, the reference (same architecture, same weights: :mod:`classicnets.tools.reference`);
:func:`make_step` turns a model into the function the harness calls: one inference batch (eager,
compiled, ``deploy``'s fused copy or the int8 program) or one training step.

Within ``tools/bench/`` this imports only :mod:`.by_hand` (when ``--compare torchvision-backend``
asks for it); ``harness`` and ``format`` build on it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from ...deployment.convert import deploy
from ...runtime.device import QUANTIZED_PRECISIONS, autocast, parse_precision

__all__ = [
    "BY_HAND",
    "COMPARE",
    "MODES",
    "BenchConfig",
    "Candidate",
    "bench_models",
    "by_hand_step",
    "make_step",
]

MODES = ("infer", "train")

#: ``--compare`` choice: torchvision's model through ours' backend, converted and quantized by
#: that backend's own tools as a user would by hand (:mod:`.by_hand`).
BY_HAND = "torchvision-backend"
COMPARE = ("torchvision", "timm", BY_HAND)


@dataclass(frozen=True)
class BenchConfig:
    """What to measure: one model under one setting."""

    model: str
    mode: str = "infer"
    batch_size: int = 8
    input_size: int | None = None
    precision: str = "fp32"
    channels_last: bool = False
    compile: bool = False
    deploy: bool = False
    #: with ``deploy``: fuse conv + ReLU (+ residual add); channels_last None = family default
    fuse: bool = True
    deploy_channels_last: bool | None = None
    device: str = "cpu"
    grad_checkpointing: bool = False
    #: process-wide: keep freed memory (allocator.retain_freed_memory), for both sides
    retain_memory: bool = False
    warmup: int = 3
    repeats: int = 10
    compare: str | None = None
    #: the runtime of our side (docs/deploy.md): torch, openvino or onnxruntime
    backend: str = "torch"

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        if self.backend != "torch":
            from ...deployment.backends import check_backend

            check_backend(self.backend)
            if self.mode != "infer" or self.compile or self.device != "cpu":
                raise ValueError(
                    f"--backend {self.backend} is a CPU inference path: --mode infer, --device "
                    "cpu, no --compile"
                )
        if self.compare is not None and self.compare not in COMPARE:
            raise ValueError(f"--compare must be one of {', '.join(COMPARE)}, got {self.compare!r}")
        if self.compare == BY_HAND and self.backend == "torch":
            raise ValueError(
                f"--compare {BY_HAND} runs torchvision's model through our backend: give "
                "--backend openvino or onnxruntime (--compare torchvision: eager torchvision)"
            )
        if self.deploy and self.mode == "train":
            raise ValueError("--deploy is an inference path; use --mode infer")
        if self.grad_checkpointing and self.mode != "train":
            raise ValueError("--grad-checkpointing only matters with --mode train")
        if self.batch_size < 1 or self.warmup < 0 or self.repeats < 1:
            raise ValueError("batch size and repeats must be >= 1, warm-up >= 0")
        if self.precision in QUANTIZED_PRECISIONS:
            if self.mode != "infer":
                raise ValueError(f"--precision {self.precision} is an inference path")
            return
        parse_precision(self.precision)


@dataclass
class Candidate:
    """A labelled step function (one inference batch or one training step)."""

    label: str
    step: Callable[[], Any]
    times_s: list[float] = field(default_factory=list)
    peaks: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# -- the models ----------------------------------------------------------------------------------


def bench_models(cfg: BenchConfig, size: int) -> list[tuple[str, nn.Module]]:
    """(label, model) of ours and, with ``cfg.compare``, of the reference; ours comes first."""
    if cfg.compare == BY_HAND:
        from ..reference import paired_models, reference_name

        ours, reference = paired_models(cfg.model, "torchvision")
        label = f"torchvision {reference_name(cfg.model, 'torchvision')} via {cfg.backend}"
        return [(f"classicnets {cfg.model}", ours), (label, reference)]
    if cfg.compare and cfg.precision in QUANTIZED_PRECISIONS:
        return _int8_pair(cfg, size)
    if cfg.compare:
        from ..reference import paired_models, reference_name

        ours, reference = paired_models(cfg.model, cfg.compare)
        return [
            (f"classicnets {cfg.model}", ours),
            (f"{cfg.compare} {reference_name(cfg.model, cfg.compare)}", reference),
        ]
    from ...factory import create_model

    return [(f"classicnets {cfg.model}", create_model(cfg.model))]


def _int8_pair(cfg: BenchConfig, size: int) -> list[tuple[str, nn.Module]]:
    """Ours and torchvision's quantized model of the same architecture (random weights; its
    calibration on N(0, 1) batches of the benchmark's shape, as ours calibrates on one)."""
    if cfg.compare != "torchvision":
        raise ValueError("--precision int8 compares with torchvision's quantized models only")
    from ...factory import create_model
    from ..reference import quantized_reference

    calibration = [torch.randn(cfg.batch_size, 3, size, size)]
    return [
        (f"classicnets {cfg.model}", create_model(cfg.model)),
        (f"torchvision {cfg.model} int8", quantized_reference(cfg.model, calibration)),
    ]


# -- the steps -----------------------------------------------------------------------------------


def make_step(
    model: nn.Module,
    x: Tensor,
    cfg: BenchConfig,
    device: torch.device,
    *,
    channels_last: bool,
    compile_model: bool,
    deploy_model: bool,
) -> tuple[Callable[[], Any], list[str]]:
    """The step that times ``model`` on ``x`` under ``cfg``, and notes on how it runs."""
    if cfg.backend != "torch" and deploy_model:
        return _backend_step(model, x, cfg)
    if cfg.precision in QUANTIZED_PRECISIONS:
        return _int8_step(model, x, reference=not deploy_model)
    if deploy_model:
        return _deployed_step(
            model, x, cfg, channels_last=channels_last, compile_model=compile_model
        )
    dtype = parse_precision(cfg.precision)
    notes: list[str] = []
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)  # type: ignore[call-overload]
    xin = x.contiguous(memory_format=fmt)
    if dtype != torch.float32:
        notes.append(f"{cfg.precision} autocast")
    if channels_last:
        notes.append("channels_last")
    fn: Callable[[Tensor], Tensor] = model
    if compile_model:
        fn = torch.compile(model)  # type: ignore[assignment]
        notes.append("torch.compile")

    if cfg.mode == "infer":
        model.eval()

        def infer() -> Any:
            with torch.no_grad(), autocast(device, dtype):
                return fn(xin)

        return infer, notes
    return _training_step(model, fn, xin, cfg, notes), notes


def _deployed_step(
    model: nn.Module, x: Tensor, cfg: BenchConfig, *, channels_last: bool, compile_model: bool
) -> tuple[Callable[[], Any], list[str]]:
    cl: bool | None = cfg.deploy_channels_last
    if cl is None:
        cl = True if channels_last else None  # None: the family's measured default
    runner = deploy(
        model, dtype=cfg.precision, channels_last=cl, compile=compile_model, fuse=cfg.fuse
    )
    note = (
        f"deploy: BN folded, {'' if cfg.fuse and not compile_model else 'not '}fused, "
        f"weights {cfg.precision}, "
        f"channels_last={runner.channels_last}"
        + (", torch.compile (freezing)" if compile_model else "")
    )

    def infer_deployed() -> Any:
        return runner(x)

    return infer_deployed, [note]


def _backend_step(
    model: nn.Module, x: Tensor, cfg: BenchConfig
) -> tuple[Callable[[], Any], list[str]]:
    """Ours through ``deploy(backend=...)`` (docs/deploy.md), built for the benchmark's image
    size; int8 calibrated on the benchmark batch and refused unless the runtime runs int8
    convolutions."""
    int8 = cfg.precision in QUANTIZED_PRECISIONS
    runner = deploy(
        model, backend=cfg.backend, dtype=cfg.precision, calibration=[x] if int8 else None,
        input_size=x.shape[-1],
    )  # fmt: skip
    note = f"{cfg.backend} {cfg.precision}" + (_int8_note(runner, cfg) if int8 else "")

    def infer_backend() -> Any:
        return runner(x)

    return infer_backend, [note]


def by_hand_step(
    model: nn.Module, x: Tensor, cfg: BenchConfig
) -> tuple[Callable[[], Any], list[str]]:
    """The reference of ``--compare torchvision-backend``: torchvision's ``model`` through
    ``cfg.backend``'s own converter (and quantizer, calibrated on the batch as ours is)."""
    from .by_hand import through_backend

    int8 = cfg.precision in QUANTIZED_PRECISIONS
    runner = through_backend(
        model, cfg.backend, precision=cfg.precision, calibration=[x] if int8 else None,
        input_size=x.shape[-1], in_chans=x.shape[1], label=f"torchvision {cfg.model}",
    )  # fmt: skip
    how = "openvino.convert_model" if cfg.backend == "openvino" else "torch.onnx.export"
    note = f"by hand: {how}, {cfg.backend} {cfg.precision}"
    note += _int8_note(runner, cfg) if int8 else ""

    def infer_by_hand() -> Any:
        return runner(x)

    return infer_by_hand, [note]


def _int8_note(runner: nn.Module, cfg: BenchConfig) -> str:
    """How the backend quantized ``runner`` and how many int8 convolutions its runtime graph
    has; a model with none is refused (it would time float kernels under an int8 label)."""
    from ...deployment.backends import int8_convolutions

    convolutions = int8_convolutions(runner)  # type: ignore[arg-type]
    if not convolutions:
        raise RuntimeError(f"{cfg.model}: {cfg.backend} runs no int8 convolution")
    how = "NNCF PTQ" if cfg.backend == "openvino" else "static QDQ PTQ"
    return f": {how}, {convolutions} int8 convolutions, calibrated on the batch"


def _int8_step(
    model: nn.Module, x: Tensor, *, reference: bool
) -> tuple[Callable[[], Any], list[str]]:
    """Ours: ``deploy(dtype="int8")`` calibrated on the benchmark batch (speed does not depend on
    the calibration images), refused unless its compiled code calls int8 kernels. The reference
    side is already torchvision's quantized model (``reference.quantized_reference``)."""
    if reference:

        def infer_reference() -> Any:
            with torch.no_grad():
                return model(x)

        return infer_reference, ["torchvision eager PTQ, x86 engine"]
    from ...deployment.int8.run import uses_int8_kernels

    runner = deploy(model, dtype="int8", calibration=[x])
    runner(x)
    if not uses_int8_kernels(runner):
        raise RuntimeError(f"{model.model_name}: the int8 model calls no int8 kernel")

    def infer_int8() -> Any:
        return runner(x)

    return infer_int8, ["int8: PT2E static PTQ, oneDNN int8 kernels, calibrated on the batch"]


def _training_step(
    model: nn.Module, fn: Callable[[Tensor], Any], xin: Tensor, cfg: BenchConfig, notes: list[str]
) -> Callable[[], Any]:
    """One SGD step of ``model`` (called through ``fn``, maybe compiled) on ``xin``."""
    model.train()
    if cfg.grad_checkpointing:
        setter = getattr(model, "set_grad_checkpointing", None)
        if setter is None:
            notes.append("no set_grad_checkpointing(): run without")
        else:
            setter(True)
            notes.append("grad checkpointing")
    target = torch.randint(0, 10, (xin.shape[0],), device=xin.device)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()

    def outputs(inp: Tensor) -> list[Tensor]:
        # A training step computes the auxiliary heads too, on both sides: ours through the
        # model contract, the reference's as its training-mode tuple (torchvision GoogLeNet,
        # Inception v3).
        with_aux = getattr(model, "forward_with_aux", None)
        if callable(with_aux) and fn is model:
            logits, aux = with_aux(inp)
            return [logits, *aux]
        out = fn(inp)
        return list(out) if isinstance(out, tuple) else [out]

    def train_step() -> Any:
        optimizer.zero_grad(set_to_none=True)
        with autocast(xin.device, cfg.precision):
            loss = sum(loss_fn(o, target) for o in outputs(xin) if o is not None)
        loss.backward()  # type: ignore[union-attr]
        optimizer.step()
        return loss

    return train_step
