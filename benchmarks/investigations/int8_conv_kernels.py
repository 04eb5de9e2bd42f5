"""Where the int8 ratios against torchvision stop: both sides' convolutions, primitive by
primitive, from oneDNN's own log.

    PYTHONPATH=src:benchmarks python benchmarks/investigations/int8_conv_kernels.py [MODEL ...]
        [--batch 32] [--calls 5] [--out FILE.md]

For each model, ours (``quantize_int8``) and torchvision's int8 model (eager, x86 engine, the
same calibration images) run each in a child process with ``ONEDNN_VERBOSE=1``; after warm-up,
``--calls`` forward passes are logged and oneDNN's execution time of every convolution
primitive is summed. Reported per side: convolution ms per batch, the number of convolution
calls, and the implementations; then whether both sides ran the same primitives (implementation
and shape, call for call, as a multiset). The batch times come from the parent process, both
sides timed alternately without logging (``int8_speed.time_alternately``), and give:

* the share of each side's batch spent in its convolutions;
* the ceiling of ours / torchvision if everything but our convolutions took no time at all:
  torchvision's batch time over our convolution time.

When both sides run the same primitives, a ratio target above that ceiling cannot be met with
these kernels. Run on a quiet machine; the log's own cost is in the convolution times of both
sides alike.
"""

from __future__ import annotations

import argparse
import collections
import ctypes
import os
import statistics
import subprocess
import sys
from pathlib import Path

import torch
from int8_speed import time_alternately

import classicnets
from classicnets.deployment.int8.quantize import quantize_int8
from classicnets.models.registry import model_info
from classicnets.tools.bench.machine import describe_machine
from classicnets.tools.reference import TORCHVISION_QUANTIZED, quantized_reference

MARK = "-- logged calls start --"


def build(side: str, name: str, size: int) -> torch.nn.Module:
    torch.manual_seed(0)
    calibration = list(torch.randn(64, 3, size, size).split(32))
    if side == "ours":
        return quantize_int8(classicnets.create_model(name).eval(), calibration)
    return quantized_reference(name, calibration)


def child(side: str, name: str, size: int, batch: int, calls: int) -> None:
    """Run in the logged process: warm up, then mark the log and make ``calls`` passes."""
    model = build(side, name, size)
    x = torch.randn(batch, 3, size, size)
    with torch.no_grad():
        for _ in range(3):
            model(x)
        libc = ctypes.CDLL(None)
        sys.stdout.flush()
        libc.fflush(None)  # oneDNN writes through C stdio: keep the mark in order
        print(MARK, flush=True)
        for _ in range(calls):
            model(x)
        libc.fflush(None)


def convolutions(side: str, name: str, size: int, batch: int, calls: int) -> list[tuple]:
    """(implementation, problem, ms) of every convolution executed in the logged calls."""
    env = {**os.environ, "ONEDNN_VERBOSE": "1"}
    args = [sys.executable, __file__, "--child", side, name, "--batch", str(batch),
            "--calls", str(calls)]  # fmt: skip
    out = subprocess.run(args, env=env, capture_output=True, text=True, check=True).stdout
    logged = out[out.index(MARK) :].splitlines()
    rows = []
    for line in logged:
        f = line.split(",")
        if line.startswith("onednn_verbose") and "exec" in f and "convolution" in f:
            rows.append((f[f.index("convolution") + 1], f[-2], float(f[-1])))
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("models", nargs="*", default=sorted(TORCHVISION_QUANTIZED))
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--calls", type=int, default=5)
    p.add_argument("--rounds", type=int, default=5, help="timing rounds, without the log")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    p.add_argument("--out", default="benchmarks/investigations/results/int8_conv_kernels.md")
    args = p.parse_args(argv)
    if args.child:
        name = args.models[0]
        child(args.child, name, model_info(name).input_size, args.batch, args.calls)
        return 0
    command = "PYTHONPATH=src:benchmarks python " + " ".join([sys.argv[0], *(argv or sys.argv[1:])])
    lines = ["# int8 convolutions, ours against torchvision's, from oneDNN's log", ""]
    lines += [f"`{command}`", ""] + [f"- {k}: {v}" for k, v in describe_machine().items()]
    lines += ["", "| model | side | batch ms | conv ms | conv calls | conv share | "
              "implementations |", "|---|---|---|---|---|---|---|"]  # fmt: skip
    summary = ["", "| model | ours / tv | same primitives | ceiling of ours / tv |",
               "|---|---|---|---|"]  # fmt: skip
    for name in args.models:
        size = model_info(name).input_size
        runs = {side: build(side, name, size) for side in ("ours", "tv")}
        rates = time_alternately(runs, torch.randn(args.batch, 3, size, size), args.rounds)
        batch_ms = {k: 1000 * args.batch / statistics.median(v) for k, v in rates.items()}
        del runs
        convs = {s: convolutions(s, name, size, args.batch, args.calls) for s in ("ours", "tv")}
        conv_ms = {s: sum(r[2] for r in rows) / args.calls for s, rows in convs.items()}
        for side, rows in convs.items():
            impls = collections.Counter(r[0] for r in rows)
            lines.append(
                f"| `{name}` | {side} | {batch_ms[side]:.1f} | {conv_ms[side]:.1f} | "
                f"{len(rows) // args.calls} | {conv_ms[side] / batch_ms[side]:.0%} | "
                + ", ".join(f"{k} ({v // args.calls})" for k, v in impls.most_common())
                + " |"
            )
        same = collections.Counter(r[:2] for r in convs["ours"]) == collections.Counter(
            r[:2] for r in convs["tv"]
        )
        summary.append(
            f"| `{name}` | {batch_ms['tv'] / batch_ms['ours']:.2f}x | {'yes' if same else 'no'} "
            f"| {batch_ms['tv'] / conv_ms['ours']:.2f}x |"
        )
        print("\n".join(lines[-2:] + summary[-1:]), flush=True)
    lines += summary
    lines += ["", f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}"]
    Path(args.out).write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
