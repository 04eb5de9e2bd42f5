"""The cost of one int8 convolution call, outside its kernel: PyTorch's two int8 convolution
operators on the same tensors.

    PYTHONPATH=src:benchmarks python benchmarks/investigations/int8_op_overhead.py [--calls 3000]
        [--out FILE.md]

* ``eager``: ``quantized::conv2d_relu``, and for a residual step ``quantized::conv2d`` then
  ``quantized::add_relu``, with weights packed by ``quantized::conv2d_prepack`` (x86 engine):
  what torchvision's int8 models call;
* ``PT2E``: ``onednn::qconv_pointwise`` / ``onednn::qconv2d_pointwise.binary`` with weights
  packed by ``onednn::qconv_prepack``: what inductor calls for a PT2E-quantized model (ours).

Each is called alone in a loop on small channels-last uint8 inputs, batch 1, where the kernel
is a few microseconds and the rest is the operator's own work around it. The two convolution +
ReLU calls produce the same uint8 values (checked first). torch 2.14's ``qconv.cpp`` shows
where the difference is: the PT2E operator builds a oneDNN primitive descriptor on every call,
while the packed weights of the eager operator keep theirs (and its primitive) between calls
with the same input shape and scales; the PT2E ``sum`` variant also returns a copy of the
output it wrote in place. Neither is code of this project.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

from classicnets.tools.bench.machine import describe_machine

SHAPES = [(64, 7), (64, 56), (256, 14), (512, 7)]  # (channels, side) of a 1x1 convolution


def per_call_us(call: Callable[[], object], calls: int) -> float:
    for _ in range(50):
        call()
    start = time.perf_counter()
    for _ in range(calls):
        call()
    return (time.perf_counter() - start) / calls * 1e6


def operators(channels: int, side: int) -> dict[str, Callable[[], torch.Tensor]]:
    """The calls on one shape. A residual step is two eager operators (what torchvision runs:
    the convolution, then ``quantized::add_relu``) against one PT2E call with a ``sum`` post-op;
    a plain convolution + ReLU is one call on each side, with the same uint8 result."""
    torch.manual_seed(0)
    weight, bias = torch.randn(channels, channels, 1, 1), torch.randn(channels)
    x = torch.rand(1, channels, side, side).contiguous(memory_format=torch.channels_last)
    x_scale, w_scale = 1 / 255, weight.abs().amax((1, 2, 3)) / 127
    w_zero = torch.zeros(channels, dtype=torch.long)
    qx = torch.quantize_per_tensor(x, x_scale, 0, torch.quint8)
    qw = torch.quantize_per_channel(weight, w_scale.double(), w_zero, 0, torch.qint8)
    packed = torch.ops.quantized.conv2d_prepack(qw, bias, [1, 1], [0, 0], [1, 1], 1)
    geometry = ([1, 1], [0, 0], [1, 1], 1)
    onednn_weight = torch.ops.onednn.qconv_prepack(
        qw.int_repr(), w_scale.float(), x_scale, 0, *geometry, list(x.shape)
    )
    u8 = qx.int_repr().contiguous(memory_format=torch.channels_last)
    accum = u8.clone(memory_format=torch.channels_last)
    scales, out = (w_scale.float(), w_zero), (0.05, 0, torch.uint8)
    unary = ("relu", [None], "")
    pointwise = (u8, x_scale, 0, onednn_weight, *scales, bias, *geometry, *out, *unary)
    binary = (u8, x_scale, 0, onednn_weight, *scales, accum, bias, *geometry, *out)
    binary += (x_scale, 0, "sum", 1.0, *unary)
    return {
        "eager conv+relu": lambda: torch.ops.quantized.conv2d_relu(qx, packed, 0.05, 0),
        "PT2E conv+relu": lambda: torch.ops.onednn.qconv_pointwise(*pointwise),
        "eager conv+add+relu": lambda: torch.ops.quantized.add_relu(
            torch.ops.quantized.conv2d(qx, packed, 0.05, 0), qx, 0.05, 0
        ),
        "PT2E conv+add+relu": lambda: torch.ops.onednn.qconv2d_pointwise.binary(*binary),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--calls", type=int, default=3000)
    p.add_argument("--out", default="benchmarks/investigations/results/int8_op_overhead.md")
    args = p.parse_args(argv)
    torch.backends.quantized.engine = "x86"
    command = "PYTHONPATH=src:benchmarks python " + " ".join([sys.argv[0], *(argv or sys.argv[1:])])
    lines = ["# One int8 convolution call: eager (torchvision's) against PT2E (ours)", ""]
    lines += [f"`{command}`", ""]
    lines += [f"- {k}: {v}" for k, v in describe_machine().items()]
    lines += ["", "| 1x1 convolution, batch 1 | operator | us per call | PT2E / eager |"]
    lines += ["|---|---|---|---|"]
    with torch.no_grad():
        for channels, side in SHAPES:
            ops = operators(channels, side)
            for kind in ("conv+relu", "conv+add+relu"):
                eager, pt2e = ops[f"eager {kind}"], ops[f"PT2E {kind}"]
                if kind == "conv+relu" and not torch.equal(eager().int_repr(), pt2e()):
                    raise SystemExit(f"{kind} at {channels}x{side}: the two operators disagree")
                times = {}
                for _ in range(3):  # alternate, keep each side's best
                    for name, call in (("eager", eager), ("PT2E", pt2e)):
                        us = per_call_us(call, args.calls)
                        times[name] = min(times.get(name, us), us)
                shape = f"{channels} ch, {side}x{side}"
                lines.append(f"| {shape} | eager {kind} | {times['eager']:.1f} | |")
                ratio = times["PT2E"] / times["eager"]
                lines.append(f"| {shape} | PT2E {kind} | {times['PT2E']:.1f} | {ratio:.2f} |")
                print("\n".join(lines[-2:]), flush=True)
    lines += ["", f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}"]
    Path(args.out).write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
