"""Where int8 time goes: ours against torchvision's quantized model, per operator, side by side.

    PYTHONPATH=src:benchmarks python benchmarks/investigations/int8_profile.py [MODEL ...]
        [--batch 32] [--rounds 4] [--out benchmarks/investigations/results/int8_profile.md]

Builds the same two int8 sides as ``int8_speed.py`` (ours: PT2E + inductor, oneDNN int8 kernels;
torchvision: eager post-training quantization, ``x86`` engine, calibrated on the same images),
then runs ``torch.profiler`` over one batch of each, alternately, ``--rounds`` times, and sums the
self CPU time of every operator (inductor's generated kernels are named, through
``torch._inductor.config.cpp.enable_kernel_profile``). The profiler adds its own overhead, so
totals here are not speeds (``int8_speed.py`` measures those); the point is the split between
convolutions, concatenations, pooling and the rest, side by side. Only models torchvision
quantizes. Machine and CPU flags head the file.
"""

from __future__ import annotations

import argparse
import collections
import re
import sys
from pathlib import Path

import torch
import torch._inductor.config as inductor_config
from int8_speed import calibration_images, sides

from classicnets.models.registry import model_info
from classicnets.tools.bench.machine import describe_machine
from classicnets.tools.reference import TORCHVISION_QUANTIZED

CATEGORIES = (  # (label, pattern on the operator or kernel name); the first match wins
    ("convolution", r"qconv|conv2d"),
    ("concatenation", r"\bcat\b|::cat"),
    ("pooling", r"pool"),
    ("linear", r"linear"),
    ("(de)quantize", r"quantize"),
)


def category(op: str) -> str:
    return next((label for label, pat in CATEGORIES if re.search(pat, op)), "other")


def profile(run, x: torch.Tensor) -> collections.Counter:
    with torch.no_grad(), torch.profiler.profile() as prof:
        run(x)
    return collections.Counter({e.key: e.self_cpu_time_total / 1e3 for e in prof.key_averages()})


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("models", nargs="*", default=["googlenet_torchvision"])
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--calibrate", default=None, help="image folder for calibration")
    p.add_argument("--calibration-images", type=int, default=64)
    p.add_argument("--out", default="benchmarks/investigations/results/int8_profile.md")
    args = p.parse_args(argv)
    inductor_config.cpp.enable_kernel_profile = True
    command = "PYTHONPATH=src:benchmarks python " + " ".join([sys.argv[0], *(argv or sys.argv[1:])])
    lines = ["# int8: where the time goes, per operator, side by side", "", f"`{command}`", ""]
    lines += [f"- {k}: {v}" for k, v in describe_machine().items()]
    for name in args.models:
        if name not in TORCHVISION_QUANTIZED:
            raise SystemExit(f"{name}: torchvision has no quantized model of it")
        size = model_info(name).input_size
        runs = {k: v for k, v in sides(name, size, calibration_images(name, args, size)).items()
                if k in ("ours int8", "tv int8")}  # fmt: skip
        x = torch.randn(args.batch, 3, size, size)
        with torch.no_grad():
            for run in runs.values():  # compile, prepack, allocator
                run(x), run(x)
        totals = {k: collections.Counter() for k in runs}
        for _ in range(args.rounds):
            for key, run in runs.items():
                totals[key].update(profile(run, x))
        per_run = {k: {op: t / args.rounds for op, t in c.items()} for k, c in totals.items()}
        lines += ["", f"## `{name}`, batch {args.batch}, ms per batch (self CPU time)", ""]
        lines += ["| part | ours int8 | tv int8 | ours / tv |", "|---|---|---|---|"]
        parts = {k: collections.Counter() for k in per_run}
        for key, ops in per_run.items():
            for op, ms in ops.items():
                parts[key][category(op)] += ms
        for label in [c for c, _ in CATEGORIES] + ["other", "total"]:
            a, b = (sum(parts[k].values()) if label == "total" else parts[k][label] for k in runs)
            ratio = f"{a / b:.2f}" if b else "-"
            lines.append(f"| {label} | {a:.1f} | {b:.1f} | {ratio} |")
        for key, ops in per_run.items():
            top = sorted(ops.items(), key=lambda kv: -kv[1])[:8]
            lines += ["", f"Largest operators, {key}:", ""]
            lines += [f"- {ms:.1f} ms `{op[:100]}`" for op, ms in top]
        print("\n".join(lines), flush=True)
    Path(args.out).write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
