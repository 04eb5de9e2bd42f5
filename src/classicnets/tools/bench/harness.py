"""Speed and memory of a model, alone or side by side with torchvision / timm.

How it measures (the rules in the design doc): the model is warmed up (compilation, allocator
and oneDNN caches happen there), then timed over repeated rounds; images/s and latency are the
median over rounds with the min-max spread beside them. With ``compare``, ours and the
reference (same architecture, same weights: :mod:`classicnets.tools.reference`) run alternately in
one
process, A B A B ..., and the speed ratio is the median of the per-round ratios, so a change in
machine load hits both sides of each pair alike.

Peak memory is measured in one extra untimed step per side after the timed rounds: on CPU the
peak resident set size of the process during that step (the kernel's high-water mark, reset
through /proc/self/clear_refs after freed heap memory was handed back), above the resident size
before it; on CUDA the allocator's peak above its use before the step. The timed steps run on
the allocator as the previous step left it, as a serving or training loop does (handing freed
memory back before each timed step would add page faults). glibc still maps blocks over
32 MiB afresh on every step; the page faults that costs are the allocator's, the same for
both sides of a comparison (figures: benchmarks/README.md).

``retain_memory`` (``--retain-memory``) switches on
:func:`classicnets.runtime.allocator.retain_freed_memory` for the whole process, so both sides of a
comparison run with it.

Efficiency: achieved mult-adds per second (mult-adds of conv and linear layers as
counted by :mod:`classicnets.tools.summary`, x3 for a training step: forward, and backward for
inputs
and weights) over the machine's matmul peak measured here for the same dtype.
"""

from __future__ import annotations

import contextlib
import copy
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ..deployment.convert import deploy
from ..models.registry import model_info
from ..runtime.allocator import release_freed_memory
from ..runtime.device import QUANTIZED_PRECISIONS, autocast, parse_precision
from .summary import profile_model

__all__ = [
    "BenchConfig",
    "BenchResult",
    "Candidate",
    "format_results",
    "matmul_peak",
    "run_bench",
    "run_variants",
    "saved_activation_bytes",
]

MODES = ("infer", "train")


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

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
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
class BenchResult:
    """One side's measurements."""

    label: str
    times_s: list[float]
    batch_size: int
    macs_per_step: float
    peak_mem_bytes: int
    mem_kind: str
    peak_macs_per_s: float
    ratio: float | None = None  # reference time / our time, median of per-round ratios
    ratio_spread: tuple[float, float] | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def median_s(self) -> float:
        return statistics.median(self.times_s)

    @property
    def images_per_s(self) -> float:
        return self.batch_size / self.median_s

    @property
    def images_per_s_spread(self) -> tuple[float, float]:
        return self.batch_size / max(self.times_s), self.batch_size / min(self.times_s)

    @property
    def latency_ms(self) -> float:
        return 1000 * self.median_s

    @property
    def efficiency(self) -> float:
        return self.macs_per_step / self.median_s / self.peak_macs_per_s


# -- the machine ---------------------------------------------------------------------------------


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


_PEAKS: dict[tuple[str, torch.dtype], float] = {}


def matmul_peak(device: torch.device, dtype: torch.dtype, *, repeats: int = 5) -> float:
    """Mult-adds per second of a large square matmul on this machine (best of ``repeats``)."""
    key = (str(device), dtype)
    if key not in _PEAKS:
        n = 8192 if device.type == "cuda" else 2048
        a = torch.randn(n, n, device=device).to(dtype)
        b = torch.randn(n, n, device=device).to(dtype)
        out = torch.mm(a, b)  # written in place below: no allocation (page faults) timed
        best = float("inf")
        for _ in range(repeats):
            _sync(device)
            start = time.perf_counter()
            torch.mm(a, b, out=out)
            _sync(device)
            best = min(best, time.perf_counter() - start)
        _PEAKS[key] = n**3 / best
    return _PEAKS[key]


def _rss_bytes(field_name: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field_name + ":"):
                return int(line.split()[1]) * 1024
    return 0


class _MemoryProbe:
    """Peak memory of one step above what was in use before it.

    On CPU, memory freed by the previous step stays resident in the allocator's caches, so the
    freed heap is returned first (allocator.release_freed_memory); the step's peak RSS above
    the RSS before it is then the memory the step itself needs (activations, workspaces, gradients).
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.cpu_ok = Path("/proc/self/clear_refs").exists()
        self.kind = (
            "CUDA allocator peak" if device.type == "cuda" else "peak RSS" if self.cpu_ok else "n/a"
        )

    @contextlib.contextmanager
    def measure(self, sink: list[int]) -> Iterator[None]:
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
            before = torch.cuda.memory_allocated(self.device)
            yield
            sink.append(torch.cuda.max_memory_allocated(self.device) - before)
        elif self.cpu_ok:
            release_freed_memory()
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")  # reset the peak-RSS high-water mark to the current RSS
            before = _rss_bytes("VmRSS")
            yield
            sink.append(max(0, _rss_bytes("VmHWM") - before))
        else:  # pragma: no cover - not Linux
            yield
            sink.append(0)


# -- what gets timed -----------------------------------------------------------------------------


@dataclass
class Candidate:
    """A labelled step function (one inference batch or one training step)."""

    label: str
    step: Callable[[], Any]
    times_s: list[float] = field(default_factory=list)
    peaks: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _make_step(
    model: nn.Module,
    x: Tensor,
    cfg: BenchConfig,
    device: torch.device,
    *,
    channels_last: bool,
    compile_model: bool,
    deploy_model: bool,
) -> tuple[Callable[[], Any], list[str]]:
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


def _int8_pair(cfg: BenchConfig, size: int) -> list[tuple[str, nn.Module]]:
    """Ours and torchvision's quantized model of the same architecture (random weights; its
    calibration on N(0, 1) batches of the benchmark's shape, as ours calibrates on one)."""
    if cfg.compare != "torchvision":
        raise ValueError("--precision int8 compares with torchvision's quantized models only")
    from ..factory import create_model
    from .reference import quantized_reference

    calibration = [torch.randn(cfg.batch_size, 3, size, size)]
    return [
        (f"classicnets {cfg.model}", create_model(cfg.model)),
        (f"torchvision {cfg.model} int8", quantized_reference(cfg.model, calibration)),
    ]


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
    from ..deployment.int8.quantize import uses_int8_kernels

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


def _run_alternating(candidates: list[Candidate], cfg: BenchConfig, device: torch.device) -> None:
    """Warm-up, timed rounds A B A B ..., then one untimed memory step per candidate."""
    for c in candidates:
        for _ in range(cfg.warmup):
            c.step()
        _sync(device)
    for _ in range(cfg.repeats):
        for c in candidates:
            _sync(device)
            start = time.perf_counter()
            c.step()
            _sync(device)
            c.times_s.append(time.perf_counter() - start)
    probe = _MemoryProbe(device)
    for c in candidates:
        with probe.measure(c.peaks):
            c.step()
            _sync(device)


def _apply_process_settings(cfg: BenchConfig) -> list[str]:
    if not cfg.retain_memory:
        return []
    from ..runtime.allocator import retain_freed_memory

    if retain_freed_memory():
        return ["freed memory retained (process-wide, both sides)"]
    return ["--retain-memory had no effect (not glibc)"]


def run_bench(cfg: BenchConfig) -> list[BenchResult]:
    """Measure ``cfg.model`` (and its reference with ``cfg.compare``); ours comes first."""
    info = model_info(cfg.model)
    device = torch.device(cfg.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA device is available here; use --device cpu")
    size = cfg.input_size or info.input_size
    int8 = cfg.precision in QUANTIZED_PRECISIONS
    # int8 has no matmul peak of its own here: its efficiency is against the fp32 peak
    dtype = torch.float32 if int8 else parse_precision(cfg.precision)
    if cfg.compare and int8:
        models = _int8_pair(cfg, size)
    elif cfg.compare:
        from .reference import paired_models

        ours, reference = paired_models(cfg.model, cfg.compare)
        models: list[tuple[str, nn.Module]] = [
            (f"classicnets {cfg.model}", ours),
            (f"{cfg.compare} {_ref_label(cfg)}", reference),
        ]
    else:
        from ..factory import create_model

        models = [(f"classicnets {cfg.model}", create_model(cfg.model))]
    with torch.device("meta"):
        from ..factory import create_model as _create

        meta_model = _create(cfg.model)
    in_chans = getattr(models[0][1], "in_chans", 3)
    macs = profile_model(meta_model, (size, size), in_chans).macs
    macs_per_step = macs * cfg.batch_size * (3 if cfg.mode == "train" else 1)
    x = torch.randn(cfg.batch_size, in_chans, size, size, device=device)

    process_notes = _apply_process_settings(cfg)
    candidates = []
    for i, (label, model) in enumerate(models):
        model = model.to(device)
        ours_side = i == 0
        # The reference runs the same precision and layout; with --deploy it gets its best eager
        # configuration (channels_last), which is what the inference path is measured against.
        cl = cfg.channels_last or (cfg.deploy and not ours_side)
        step, notes = _make_step(
            model,
            x,
            cfg,
            device,
            channels_last=cl,
            compile_model=cfg.compile and ours_side,
            deploy_model=(cfg.deploy or cfg.precision in QUANTIZED_PRECISIONS) and ours_side,
        )
        candidates.append(Candidate(label, step, notes=notes + process_notes))
    _run_alternating(candidates, cfg, device)

    peak = matmul_peak(device, dtype)
    mem_kind = _MemoryProbe(device).kind
    results = [
        BenchResult(
            label=c.label,
            times_s=c.times_s,
            batch_size=cfg.batch_size,
            macs_per_step=macs_per_step,
            peak_mem_bytes=max(c.peaks, default=0),
            mem_kind=mem_kind,
            peak_macs_per_s=peak,
            notes=c.notes,
        )
        for c in candidates
    ]
    if len(results) == 2:
        ratios = [r / o for o, r in zip(candidates[0].times_s, candidates[1].times_s, strict=True)]
        results[0].ratio = statistics.median(ratios)
        results[0].ratio_spread = (min(ratios), max(ratios))
    return results


def run_variants(configs: list[BenchConfig]) -> list[BenchResult]:
    """Several settings of one of our models (same weights), run alternately in one process.

    For comparisons within classicnets: bf16 against fp32 training, or the memory that gradient
    checkpointing saves. Every config must name the same model, device and batch size.
    """
    first = configs[0]
    if any(
        (c.model, c.device, c.batch_size) != (first.model, first.device, first.batch_size)
        for c in configs
    ):
        raise ValueError("run_variants compares settings of one model, device and batch size")
    from ..factory import create_model

    device = torch.device(first.device)
    base = create_model(first.model)
    size = first.input_size or model_info(first.model).input_size
    with torch.device("meta"):
        macs = profile_model(create_model(first.model), (size, size), base.in_chans).macs
    x = torch.randn(first.batch_size, base.in_chans, size, size, device=device)
    process_notes = _apply_process_settings(first)
    candidates = []
    for cfg in configs:
        model = copy.deepcopy(base).to(device)
        step, notes = _make_step(
            model,
            x,
            cfg,
            device,
            channels_last=cfg.channels_last,
            compile_model=cfg.compile,
            deploy_model=cfg.deploy,
        )
        label = " ".join([cfg.mode, cfg.precision, *(n for n in notes if "autocast" not in n)])
        candidates.append(Candidate(label, step, notes=notes + process_notes))
    _run_alternating(candidates, first, device)
    mem_kind = _MemoryProbe(device).kind
    return [
        BenchResult(
            label=c.label,
            times_s=c.times_s,
            batch_size=cfg.batch_size,
            macs_per_step=macs * cfg.batch_size * (3 if cfg.mode == "train" else 1),
            peak_mem_bytes=max(c.peaks, default=0),
            mem_kind=mem_kind,
            peak_macs_per_s=matmul_peak(device, parse_precision(cfg.precision)),
            notes=c.notes,
        )
        for c, cfg in zip(candidates, configs, strict=True)
    ]


def saved_activation_bytes(model: nn.Module, x: Tensor) -> int:
    """Bytes of the tensors autograd keeps for the backward pass of ``model(x)`` (train mode).

    Exact and independent of the allocator: what gradient checkpointing reduces.
    """
    seen: dict[int, int] = {}

    def pack(t: Tensor) -> Tensor:
        seen.setdefault(t.untyped_storage().data_ptr(), t.untyped_storage().nbytes())
        return t

    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    model.train()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(x)
    return sum(n for ptr, n in seen.items() if ptr not in params)


def _ref_label(cfg: BenchConfig) -> str:
    from .reference import reference_name

    return reference_name(cfg.model, cfg.compare or "torchvision")


# -- report --------------------------------------------------------------------------------------


def describe_machine(device: str = "cpu") -> dict[str, str]:
    """Machine, load and versions, to be saved next to every number."""
    import os
    import platform

    import torchvision

    out = {
        "cpu": cpu_name(),
        "cpu flags": cpu_flags(),
        "cores": str(os.cpu_count()),
        "torch threads": str(torch.get_num_threads()),
        "load average (1/5/15 min)": " ".join(f"{v:.2f}" for v in os.getloadavg()),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
    }
    try:
        import timm

        out["timm"] = timm.__version__
    except ImportError:
        pass
    if device == "cuda" and torch.cuda.is_available():
        out["gpu"] = torch.cuda.get_device_name()
    return out


def cpu_flags() -> str:
    """The instruction sets the int8 and bf16 figures depend on (/proc/cpuinfo)."""
    wanted = ("amx_int8", "amx_bf16", "avx512_vnni", "avx_vnni", "avx512_bf16")
    try:
        with open("/proc/cpuinfo") as f:
            flags = next(
                (line.split(":", 1)[1].split() for line in f if line.startswith("flags")), []
            )
    except OSError:
        flags = []
    return ", ".join(f"{w}: {'yes' if w in flags else 'no'}" for w in wanted)


def cpu_name() -> str:
    """The CPU model name (/proc/cpuinfo), else what platform knows."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine() or "unknown"


def format_results(cfg: BenchConfig, results: list[BenchResult]) -> str:
    """A plain-text report: settings, one row per side, the ratio."""
    from ..runtime.table import format_table

    size = cfg.input_size or model_info(cfg.model).input_size
    flags = [
        f"mode={cfg.mode}",
        f"batch={cfg.batch_size}",
        f"input={size}",
        f"precision={cfg.precision}",
        f"device={cfg.device}",
    ]
    flags += [
        f
        for f, on in (
            ("channels_last", cfg.channels_last),
            ("compile", cfg.compile),
            ("deploy", cfg.deploy),
        )
        if on
    ]
    header = ["", "images/s", "(min-max)", "latency ms", "peak mem MiB", "eff. vs matmul peak"]
    rows = []
    for r in results:
        lo, hi = r.images_per_s_spread
        rows.append(
            [
                r.label,
                f"{r.images_per_s:.2f}",
                f"{lo:.2f}-{hi:.2f}",
                f"{r.latency_ms:.1f}",
                f"{r.peak_mem_bytes / 2**20:.0f}",
                f"{100 * r.efficiency:.0f}%",
            ]
        )
    lines = [
        f"{cfg.model}: "
        + " ".join(flags)
        + f"; warm-up {cfg.warmup}, {cfg.repeats} timed rounds"
        + (" (alternating A B A B)" if len(results) > 1 else ""),
        format_table(header, rows, right={1, 2, 3, 4, 5}),
    ]
    for r in results:
        if r.notes:
            lines.append(f"{r.label}: {', '.join(r.notes)}")
    r0 = results[0]
    lines.append(
        f"mult-adds per step: {r0.macs_per_step / 1e9:.2f} G; matmul peak "
        f"{'fp32' if cfg.precision in QUANTIZED_PRECISIONS else cfg.precision}: "
        f"{r0.peak_macs_per_s / 1e9:.1f} G mult-adds/s; memory: {r0.mem_kind} above the "
        "resident size before the step"
    )
    if r0.ratio is not None:
        lo, hi = r0.ratio_spread or (r0.ratio, r0.ratio)
        lines.append(
            f"speed ratio ours / {cfg.compare}: {r0.ratio:.3f}x "
            f"(median of per-round ratios; range {lo:.2f}-{hi:.2f})"
        )
    m = describe_machine(cfg.device)
    lines.append("machine: " + "; ".join(f"{k} {v}" for k, v in m.items()))
    return "\n".join(lines)
