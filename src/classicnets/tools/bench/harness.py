"""Speed and memory of a model, alone or side by side with torchvision / timm.

How it measures (the rules in the design doc): the model is warmed up (compilation, allocator
and oneDNN caches happen there), then timed over repeated rounds; images/s and latency are the
median over rounds with the min-max spread beside them. With ``compare``, ours and the
reference (same architecture, same weights: :mod:`classicnets.tools.reference`) run
alternately in one process, A B A B ..., and the speed ratio is the median of the per-round
ratios, so a change in machine load hits both sides of each pair alike.

Peak memory is measured in one extra untimed step per side after the timed rounds: on CPU the
peak resident set size of the process during that step (the kernel's high-water mark, reset
through /proc/self/clear_refs after freed heap memory was handed back), above the resident size
before it; on CUDA the allocator's peak above its use before the step. The timed steps run on
the allocator as the previous step left it, as a serving or training loop does (handing freed
memory back before each timed step would add page faults). glibc still maps blocks over
32 MiB afresh on every step; the page faults that costs are the allocator's, the same for
both sides of a comparison (figures: benchmarks/README.md).

``retain_memory`` (``--retain-memory``) switches on
:func:`classicnets.runtime.allocator.retain_freed_memory` for the whole process, so both sides
of a comparison run with it.

Efficiency: achieved mult-adds per second (mult-adds of conv and linear layers as
counted by :mod:`classicnets.tools.summary`, x3 for a training step: forward, and backward for
inputs and weights) over the machine's matmul peak measured here for the same dtype
(:func:`~.machine.matmul_peak`).

Within ``tools/bench/`` this imports :mod:`.machine` and :mod:`.steps`; ``format`` builds on it.
"""

from __future__ import annotations

import contextlib
import copy
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from ...models.registry import model_info
from ...runtime.allocator import release_freed_memory
from ...runtime.device import QUANTIZED_PRECISIONS, parse_precision
from ..summary import profile_model
from .machine import matmul_peak, sync
from .steps import BY_HAND, BenchConfig, Candidate, bench_models, by_hand_step, make_step

__all__ = ["BenchResult", "run_bench", "run_variants", "saved_activation_bytes"]


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


# -- memory --------------------------------------------------------------------------------------


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


# -- the rounds ----------------------------------------------------------------------------------


def _run_alternating(candidates: list[Candidate], cfg: BenchConfig, device: torch.device) -> None:
    """Warm-up, timed rounds A B A B ..., then one untimed memory step per candidate."""
    for c in candidates:
        for _ in range(cfg.warmup):
            c.step()
        sync(device)
    for _ in range(cfg.repeats):
        for c in candidates:
            sync(device)
            start = time.perf_counter()
            c.step()
            sync(device)
            c.times_s.append(time.perf_counter() - start)
    probe = _MemoryProbe(device)
    for c in candidates:
        with probe.measure(c.peaks):
            c.step()
            sync(device)


def _apply_process_settings(cfg: BenchConfig) -> list[str]:
    if not cfg.retain_memory:
        return []
    from ...runtime.allocator import retain_freed_memory

    if retain_freed_memory():
        return ["freed memory retained (process-wide, both sides)"]
    return ["--retain-memory had no effect (not glibc)"]


def _macs_per_image(name: str, size: int, in_chans: int) -> int:
    """Mult-adds of one image through model ``name`` (built on the meta device: no memory)."""
    from ...factory import create_model

    with torch.device("meta"):
        model = create_model(name)
    return profile_model(model, (size, size), in_chans).macs


def _result(
    c: Candidate, cfg: BenchConfig, macs: int, mem_kind: str, peak_macs_per_s: float
) -> BenchResult:
    """The measurements of candidate ``c``, run under ``cfg``, as one side of the report."""
    return BenchResult(
        label=c.label,
        times_s=c.times_s,
        batch_size=cfg.batch_size,
        macs_per_step=macs * cfg.batch_size * (3 if cfg.mode == "train" else 1),
        peak_mem_bytes=max(c.peaks, default=0),
        mem_kind=mem_kind,
        peak_macs_per_s=peak_macs_per_s,
        notes=c.notes,
    )


# -- the entry points ----------------------------------------------------------------------------


def run_bench(cfg: BenchConfig) -> list[BenchResult]:
    """Measure ``cfg.model`` (and its reference with ``cfg.compare``); ours comes first."""
    info = model_info(cfg.model)
    device = torch.device(cfg.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA device is available here; use --device cpu")
    size = cfg.input_size or info.input_size
    int8 = cfg.precision in QUANTIZED_PRECISIONS
    models = bench_models(cfg, size)
    in_chans = getattr(models[0][1], "in_chans", 3)
    macs = _macs_per_image(cfg.model, size, in_chans)
    x = torch.randn(cfg.batch_size, in_chans, size, size, device=device)

    process_notes = _apply_process_settings(cfg)
    candidates = []
    for i, (label, model) in enumerate(models):
        model = model.to(device)
        ours_side = i == 0
        if cfg.compare == BY_HAND and not ours_side:
            step, notes = by_hand_step(model, x, cfg)
            candidates.append(Candidate(label, step, notes=notes + process_notes))
            continue
        # The reference runs the same precision and layout; against an inference path (--deploy,
        # a backend) it gets its best eager configuration, channels_last.
        inference_path = cfg.deploy or cfg.backend != "torch"
        step, notes = make_step(
            model,
            x,
            cfg,
            device,
            channels_last=cfg.channels_last or (inference_path and not ours_side),
            compile_model=cfg.compile and ours_side,
            deploy_model=(inference_path or int8) and ours_side,
        )
        candidates.append(Candidate(label, step, notes=notes + process_notes))
    _run_alternating(candidates, cfg, device)

    # int8 has no matmul peak of its own here: its efficiency is against the fp32 peak
    peak = matmul_peak(device, torch.float32 if int8 else parse_precision(cfg.precision))
    mem_kind = _MemoryProbe(device).kind
    results = [_result(c, cfg, macs, mem_kind, peak) for c in candidates]
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
    from ...factory import create_model

    device = torch.device(first.device)
    base = create_model(first.model)
    size = first.input_size or model_info(first.model).input_size
    macs = _macs_per_image(first.model, size, base.in_chans)
    x = torch.randn(first.batch_size, base.in_chans, size, size, device=device)
    process_notes = _apply_process_settings(first)
    candidates = []
    for cfg in configs:
        model = copy.deepcopy(base).to(device)
        step, notes = make_step(
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
        _result(c, cfg, macs, mem_kind, matmul_peak(device, parse_precision(cfg.precision)))
        for c, cfg in zip(candidates, configs, strict=True)
    ]
