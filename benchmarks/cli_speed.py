"""How long the command line takes to answer: `--help`, `--version`, `list` (issue 16).

Each command runs in a fresh process ``--repeats`` times (default 5); the median wall time is
reported, with `python -c "import torch"` as the floor that any command loading a model pays.
Targets: `--help` and `--version` under 1 s, `list` under 3 s for the whole registry.

    PYTHONPATH=src python benchmarks/cli_speed.py [--repeats N] [--out results/cli_speed.md]

The machine, its CPU flags and the load average before and after are written beside the
numbers: on a shared machine the load moves every figure.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

COMMANDS: list[tuple[str, list[str]]] = [
    ("classicnets --help", ["-m", "classicnets", "--help"]),
    ("classicnets --version", ["-m", "classicnets", "--version"]),
    ("classicnets list", ["-m", "classicnets", "list"]),
    ("classicnets list 'dense*'", ["-m", "classicnets", "list", "dense*"]),
    ("classicnets info resnet50", ["-m", "classicnets", "info", "resnet50"]),
    ("python -c 'import torch' (floor)", ["-c", "import torch"]),
]

#: What the issue measured before (one run each, same shared 2-core machine).
BEFORE = {
    "classicnets --help": "2.8 s",
    "classicnets list": "32 s",
    "classicnets list 'dense*'": "12 s",
}


def time_command(args: list[str], repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, *args], check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return times


def cpu_flags() -> str:
    """The vector extensions the CPU reports (what torch's kernels can use)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next(line for line in f if line.startswith("flags")).split(":", 1)[1].split()
    except (OSError, StopIteration):
        return "unknown"
    wanted = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")
    return " ".join(f for f in wanted if f in flags)


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next(line for line in f if line.startswith("model name")).split(":", 1)[1]
    except (OSError, StopIteration):
        return "unknown"


def load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "cli_speed.md"))
    args = parser.parse_args()
    before = load()
    rows = []
    for label, argv in COMMANDS:
        times = time_command(argv, args.repeats)
        rows.append((label, statistics.median(times), min(times), max(times)))
        print(f"{label}: median {rows[-1][1]:.2f} s", file=sys.stderr)
    lines = [
        "# Command-line response times",
        "",
        f"Command: `PYTHONPATH=src python benchmarks/cli_speed.py --repeats {args.repeats}`",
        "",
        f"- CPU: {cpu_name().strip()}, {os.cpu_count()} cores; flags: {cpu_flags()}",
        f"- python {sys.version.split()[0]}",
        f"- load average (1/5/15 min) before -> after: {before} -> {load()}",
        "",
        "| command | median (s) | min (s) | max (s) | before (issue 16) |",
        "|---|---:|---:|---:|---:|",
    ]
    lines += [
        f"| `{label}` | {med:.2f} | {lo:.2f} | {hi:.2f} | {BEFORE.get(label, '')} |"
        for label, med, lo, hi in rows
    ]
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
