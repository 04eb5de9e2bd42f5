"""How fast oneDNN's int8 kernels run a grouped convolution as its groups are merged: the 3x3
grouped convolutions of the ResNeXt stages, each run as ``groups / k`` groups with block-diagonal
weights (:func:`classicnets.deployment.int8.lower.block_diagonal`), for k = 1 (as built) and wider.

    PYTHONPATH=src:benchmarks python benchmarks/investigations/int8_group_width.py [--batches 1 32]
        [--out FILE.md]

Every width computes the same uint8 output (checked); a merge by k multiplies the
multiplications by k. **Bold** marks the width that
:func:`classicnets.deployment.int8.lower.widen_narrow_groups` picks for the compiled int8 program
(:func:`classicnets.deployment.int8.lower.group_merge`). Each time is the best of three loops of the
PT2E operator (``onednn::qconv_pointwise``, ReLU fused), what inductor calls.
The figures depend on the CPU's int8 instructions (recorded below): on a CPU without
AMX-INT8 the extra multiplications may cost more than the narrow groups.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

from classicnets.deployment.int8.lower import block_diagonal, group_merge
from classicnets.tools.bench.machine import describe_machine

#: (model, stage, width, side, groups) of the ResNeXt 3x3 grouped convolutions
LAYERS = [
    ("resnext50_32x4d", 1, 128, 56, 32),
    ("resnext50_32x4d", 2, 256, 28, 32),
    ("resnext50_32x4d", 3, 512, 14, 32),
    ("resnext50_32x4d", 4, 1024, 7, 32),
    ("resnext101_32x8d", 1, 256, 56, 32),
    ("resnext101_32x8d", 2, 512, 28, 32),
    ("resnext101_32x8d", 3, 1024, 14, 32),
    ("resnext101_32x8d", 4, 2048, 7, 32),
]
MAX_GROUP_CHANNELS = 128  # wider merges are not timed


def best_ms(call: Callable[[], object], batch: int) -> float:
    loops = 100 if batch == 1 else max(3, 96 // batch)
    call()
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(loops):
            call()
        best = min(best, (time.perf_counter() - start) / loops * 1e3)
    return best


def layer_times(width: int, side: int, groups: int, batch: int) -> dict[int, float]:
    """Milliseconds per call for each merge factor k (the output checked equal to k = 1's)."""
    torch.manual_seed(0)
    per_group = width // groups
    x = torch.rand(batch, width, side, side).contiguous(memory_format=torch.channels_last)
    x_scale = 1 / 255
    u8 = torch.round(x / x_scale).to(torch.uint8).contiguous(memory_format=torch.channels_last)
    weight = torch.randn(width, per_group, 3, 3)
    w_scale = (weight.abs().amax((1, 2, 3)) / 127).float()
    w_int8 = torch.round(weight / w_scale[:, None, None, None]).to(torch.int8)
    w_zero, bias = torch.zeros(width, dtype=torch.long), torch.randn(width)
    times, reference = {}, None
    merges = [k for k in range(1, groups + 1) if groups % k == 0]
    for k in [k for k in merges if per_group * k <= MAX_GROUP_CHANNELS]:
        geometry = ([1, 1], [1, 1], [1, 1], groups // k)
        packed = torch.ops.onednn.qconv_prepack(
            block_diagonal(w_int8, groups, k).contiguous(),
            w_scale,
            x_scale,
            0,
            *geometry,
            list(u8.shape),
        )
        args = (u8, x_scale, 0, packed, w_scale, w_zero, bias, *geometry)
        args += (0.05, 0, torch.uint8, "relu", [None], "")

        def call(args: tuple = args) -> torch.Tensor:
            return torch.ops.onednn.qconv_pointwise(*args)

        out = call()
        reference = out if reference is None else reference
        if not torch.equal(out, reference):
            raise SystemExit(f"{width} channels, k={k}: the merged groups compute otherwise")
        times[k] = best_ms(call, batch)
    return times


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--batches", type=int, nargs="+", default=[1, 32])
    p.add_argument("--out", default="benchmarks/investigations/results/int8_group_width.md")
    args = p.parse_args(argv)
    command = "PYTHONPATH=src:benchmarks python " + " ".join([sys.argv[0], *(argv or sys.argv[1:])])
    lines = ["# int8 grouped convolutions as their groups are merged", ""]
    lines += [f"`{command}`", ""]
    lines += [f"- {k}: {v}" for k, v in describe_machine().items()]
    lines += ["", "ms per call (best of three loops); k: groups merged into one; (x): the time"]
    lines += ["relative to k = 1; **bold**: the width `widen_narrow_groups` picks.", ""]
    lines += ["| layer | batch | channels per group | k = 1 | merged |", "|---|---|---|---|---|"]
    with torch.no_grad():
        for batch in args.batches:
            for model, stage, width, side, groups in LAYERS:
                times = layer_times(width, side, groups, batch)
                per_group, pick = width // groups, group_merge(width // groups, groups)
                cells = []
                for k, ms in times.items():
                    if k == 1:
                        continue
                    cell = f"k={k} ({per_group * k} ch): {ms:.3f} ({ms / times[1]:.2f})"
                    cells.append(f"**{cell}**" if k == pick else cell)
                first = f"{times[1]:.3f}" + (" **(kept)**" if pick == 1 else "")
                layer = f"`{model}` stage {stage}, {width} ch {side}x{side}"
                lines.append(f"| {layer} | {batch} | {per_group} | {first} | {'; '.join(cells)} |")
                print(lines[-1], flush=True)
    lines += ["", f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}"]
    Path(args.out).write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
