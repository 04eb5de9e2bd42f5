"""The plain-text report of a benchmark: settings, one row per side, the ratio, the machine.

The top of ``tools/bench/``: this imports :mod:`.harness`, :mod:`.machine` and :mod:`.steps`;
nothing in ``tools/bench/`` imports it.
"""

from __future__ import annotations

from ...models.registry import model_info
from ...runtime.device import QUANTIZED_PRECISIONS
from ...runtime.table import format_table
from .harness import BenchResult
from .machine import describe_machine
from .steps import BenchConfig

__all__ = ["format_results"]


def format_results(cfg: BenchConfig, results: list[BenchResult]) -> str:
    """A plain-text report: settings, one row per side, the ratio."""
    size = cfg.input_size or model_info(cfg.model).input_size
    flags = [
        f"mode={cfg.mode}",
        f"batch={cfg.batch_size}",
        f"input={size}",
        f"precision={cfg.precision}",
        f"device={cfg.device}",
    ]
    if cfg.backend != "torch":
        flags.append(f"backend={cfg.backend}")
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
