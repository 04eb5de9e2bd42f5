"""The machine a benchmark runs on: its description, its matmul peak, and device sync.

Every figure is saved with :func:`describe_machine` beside it (CPU, instruction sets, cores,
threads, load, versions). :func:`matmul_peak` is the denominator of the efficiency figure.

The bottom of ``tools/bench/``: this imports nothing from it; ``steps``, ``harness`` and
``format`` build on it.
"""

from __future__ import annotations

import time

import torch

__all__ = ["cpu_flags", "cpu_name", "describe_machine", "matmul_peak", "sync"]


def sync(device: torch.device) -> None:
    """Wait for ``device``'s queued work (CUDA), so a clock read after it counts that work."""
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
            sync(device)
            start = time.perf_counter()
            torch.mm(a, b, out=out)
            sync(device)
            best = min(best, time.perf_counter() - start)
        _PEAKS[key] = n**3 / best
    return _PEAKS[key]


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
