"""What running ceil-mode max pools in int8 gains: ours int8 (each such pool one uint8 max
pool, :func:`classicnets.deployment.int8.lower.lower_ceil_mode_pools`) against the same model with
those
pools kept in float (what the library did first), side by side in one process.

    PYTHONPATH=src python benchmarks/int8_ceil_pools.py [MODEL ...] [--batches 32 1]
        [--rounds 5] [--out FILE.md]

The other sides are ``int8_speed.py``'s (torchvision's int8 and fp32 models where it has them,
our fp32 deploy), timed alternately with the same calibration images. Run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import torch
from int8_speed import calibration_images, report, sides, time_alternately

import classicnets
import classicnets.deployment.int8.quantize as quantize
from classicnets.deployment.int8.lower import ceil_mode_pools
from classicnets.models.registry import model_info
from classicnets.tools.bench import describe_machine


def float_pools_int8(name: str, calibration: list[torch.Tensor]) -> Any:
    """The model quantized with every ceil-mode max pool annotated as not to be quantized."""
    from torchao.quantization.pt2e.quantizer.x86_inductor_quantizer import (
        _annotate_nodes_not_quantize,
    )

    capture = quantize.capture_for_quantization

    def capture_keeping_pools_float(model: torch.nn.Module, example: torch.Tensor) -> Any:
        captured = capture(model, example)
        for node in ceil_mode_pools(captured):
            _annotate_nodes_not_quantize(node)
        return captured

    quantize.capture_for_quantization = capture_keeping_pools_float  # type: ignore[assignment]
    try:
        return quantize.quantize_int8(classicnets.create_model(name).eval(), calibration)
    finally:
        quantize.capture_for_quantization = capture


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("models", nargs="*", default=["googlenet_torchvision", "seresnet50"])
    p.add_argument("--batches", type=int, nargs="+", default=[32, 1])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--calibrate", default=None, help="image folder for calibration")
    p.add_argument("--calibration-images", type=int, default=64)
    p.add_argument("--out", default="benchmarks/results/int8_ceil_pools.md")
    args = p.parse_args(argv)
    command = "PYTHONPATH=src python " + " ".join([sys.argv[0], *(argv or sys.argv[1:])])
    lines = ["# int8: ceil-mode max pools in int8 against in float", ""]
    lines += [f"`{command}`", ""] + [f"- {k}: {v}" for k, v in describe_machine().items()]
    lines += ["", "| model | batch | side | images/s (median) | min-max |", "|---|---|---|---|---|"]
    for name in args.models:
        size = model_info(name).input_size
        calibration = calibration_images(name, args, size)
        others = sides(name, size, calibration)
        runs = {"ours int8": others.pop("ours int8")}
        runs["ours int8, ceil pools float"] = float_pools_int8(name, calibration)
        runs.update(others)
        for batch in args.batches:
            rates = time_alternately(runs, torch.randn(batch, 3, size, size), args.rounds)
            against = ("ours int8, ceil pools float", "tv int8", "tv fp32 CL", "ours fp32")
            lines += report(name, batch, rates, tuple(k for k in against if k in rates))
            print("\n".join(lines[-2 * len(rates) + 1 :]), flush=True)
    Path(args.out).write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
