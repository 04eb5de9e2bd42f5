"""int8 speed, side by side in one process: ours against torchvision's quantized model.

    PYTHONPATH=src python benchmarks/int8_speed.py [MODEL ...] [--batches 1 32] [--rounds 10]
        [--calibrate IMAGE_FOLDER] [--calibration-images 64] [--retain-memory] [--out FILE.md]

Run it on a quiet machine: the four sides are timed alternately (A B C D A B C D ...) in one
process, so load drifts hit them equally, but a busy machine still makes the figures
meaningless. For each model and batch size:

* ``ours int8``: :func:`classicnets.deployment.int8.quantize.quantize_int8` (PT2E, x86
  inductor quantizer, compiled to oneDNN int8 kernels);
* ``tv int8``: torchvision's quantizable model of the same architecture, eager post-training
  quantization with its recommended ``x86`` engine and qconfig, calibrated on the *same* images
  (only where torchvision has one: resnet18, resnet50_v1_5, resnext101_32x8d,
  googlenet_torchvision, inception_v3);
* ``tv fp32 CL``: torchvision's fp32 model, eager, channels_last (its best fp32 eager form);
* ``ours fp32``: ``classicnets.deploy(model)`` (folded batch norm, fused convolutions,
  channels_last).

Weights are random on every side: speed depends on the architecture, not the values. All int8
sides calibrate on the same images: N(0, 1), or ``--calibrate``: a folder's images through the
ImageNet evaluation preprocessing at the model's input size. Reported: median
images/s, the spread (min-max over rounds) and the ratios the issue sets targets for. The
machine, its CPU flags (amx_int8, avx512_vnni, avx_vnni) and versions head the file.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torchvision
from torch import Tensor

import classicnets
from classicnets.deployment.int8.quantize import quantize_int8
from classicnets.deployment.int8.run import uses_int8_kernels
from classicnets.models.registry import model_info
from classicnets.runtime.allocator import memory_retained, retain_freed_memory
from classicnets.tools.bench.machine import describe_machine
from classicnets.tools.reference import TORCHVISION_QUANTIZED, quantized_reference

TV_OPTIONS = {"googlenet": {"aux_logits": False, "init_weights": True},
              "inception_v3": {"aux_logits": False, "init_weights": True}}  # fmt: skip


def torchvision_fp32_cl(builder: str) -> Callable[[Tensor], Tensor]:
    build = getattr(torchvision.models, builder)
    model = build(weights=None, **TV_OPTIONS.get(builder, {})).eval()
    model = model.to(memory_format=torch.channels_last)
    return lambda x: model(x.contiguous(memory_format=torch.channels_last))


def sides(name: str, size: int, calibration: list[Tensor]) -> dict[str, Callable[[Tensor], Tensor]]:
    model = classicnets.create_model(name).eval()
    ours = quantize_int8(model, calibration)
    out: dict[str, Callable[[Tensor], Tensor]] = {"ours int8": ours}
    if name in TORCHVISION_QUANTIZED:
        out["tv int8"] = quantized_reference(name, calibration)
        out["tv fp32 CL"] = torchvision_fp32_cl(TORCHVISION_QUANTIZED[name])
    out["ours fp32"] = classicnets.deploy(model)
    ours(torch.zeros(2, 3, size, size))
    if not uses_int8_kernels(ours):
        raise RuntimeError(f"{name}: the compiled int8 model calls no int8 convolution")
    return out


def time_alternately(
    runs: dict[str, Callable[[Tensor], Tensor]],
    x: Tensor,
    rounds: int,
    min_round_s: float = 0.3,
    pause_s: float = 0.0,
) -> dict[str, list[float]]:
    """Images/s per round for each side, sides interleaved within every round. A side's round
    starts with one untimed call, then repeats its call until ``min_round_s`` has passed (one
    call of a few milliseconds, as at batch 1, is too short to time on a shared machine).

    The untimed call: the first call after another side's runs in the caches and memory that
    side left. Timing it charged whichever side came after the slow fp32 sides: at batch 32,
    where a round is a single call, ours int8 (first in the round) measured 45 images/s for
    resnext101_32x8d and 75 with the untimed call, torchvision's int8 57 and 67 (one machine,
    one hour apart; docs/int8.md).

    ``pause_s``: an untimed sleep before each side's round, for sides run by different runtimes
    (PyTorch's OpenMP, OpenVINO's TBB, onnxruntime's pool): each runtime's threads keep spinning
    for a while after a call, and would otherwise compete with the next side's threads."""
    rates: dict[str, list[float]] = {k: [] for k in runs}
    with torch.no_grad():
        for run in runs.values():  # warm up: compile, prepack, allocator
            run(x), run(x)
        for _ in range(rounds):
            for key, run in runs.items():
                time.sleep(pause_s)
                run(x)  # untimed: the caches and memory the previous side left
                calls, elapsed, start = 0, 0.0, time.perf_counter()
                while elapsed < min_round_s:
                    run(x)
                    calls, elapsed = calls + 1, time.perf_counter() - start
                rates[key].append(calls * x.shape[0] / elapsed)
    return rates


def calibration_images(name: str, args: argparse.Namespace, size: int) -> list[Tensor]:
    if args.calibrate:
        from classicnets.deployment.int8.calibrate import calibration_batches
        from classicnets.preprocessing import for_dataset

        prep = for_dataset("imagefolder", size)
        return calibration_batches(args.calibrate, prep, num_images=args.calibration_images)
    return list(torch.randn(args.calibration_images, 3, size, size).split(32))


def report(
    name: str,
    batch: int,
    rates: dict[str, list[float]],
    against: tuple[str, ...] = ("tv int8", "tv fp32 CL", "ours fp32"),
) -> list[str]:
    """Table rows: each side's median and spread, then ours int8 over each side of ``against``."""
    med = {k: statistics.median(v) for k, v in rates.items()}
    lines = [f"| `{name}` | {batch} | {k} | {med[k]:.1f} | {min(v):.1f}-{max(v):.1f} |"
             for k, v in rates.items()]  # fmt: skip
    for other in against:
        if other in med:
            ratio = med["ours int8"] / med[other]
            lines.append(f"| `{name}` | {batch} | ours int8 / {other} | {ratio:.2f}x | |")
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument(
        "models", nargs="*", default=[*TORCHVISION_QUANTIZED, "vgg16", "densenet121", "seresnet50"]
    )
    p.add_argument("--batches", type=int, nargs="+", default=[1, 32])
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--size", type=int, default=None, help="image side (default: the model's)")
    p.add_argument("--calibrate", default=None, help="image folder for calibration")
    p.add_argument("--calibration-images", type=int, default=64)
    p.add_argument("--out", default="benchmarks/results/int8_speed.md")
    p.add_argument(
        "--retain-memory",
        action="store_true",
        help="keep freed memory in the process for every side (classicnets.runtime.allocator): "
        "no page "
        "faults from buffers the C library unmapped, which move the ratios between processes",
    )
    args = p.parse_args(argv)
    if args.retain_memory:
        retain_freed_memory(True)
    command = "PYTHONPATH=src python " + " ".join([sys.argv[0], *(argv or sys.argv[1:])])
    lines = ["# int8 speed, side by side", "", f"`{command}`", ""]
    lines += [f"- {k}: {v}" for k, v in describe_machine().items()]
    lines += [f"- calibration images: {args.calibration_images}"]
    lines += [f"- freed memory retained (all sides): {'yes' if memory_retained() else 'no'}"]
    lines += ["", "| model | batch | side | images/s (median) | min-max |", "|---|---|---|---|---|"]
    for name in args.models:
        size = args.size or model_info(name).input_size
        runs = sides(name, size, calibration_images(name, args, size))
        for batch in args.batches:
            rates = time_alternately(runs, torch.randn(batch, 3, size, size), args.rounds)
            lines += report(name, batch, rates)
            print("\n".join(lines[-len(rates) - 3 :]), flush=True)
    lines += [
        "",
        f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}",
    ]
    Path(args.out).write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
