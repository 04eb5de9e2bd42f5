"""Where the time of one inference batch goes: ours deployed against the reference's eager model.

Runs ``deploy(ours)`` and the reference library's model of the same architecture (same weights,
channels_last, fp32) once each under the PyTorch profiler after a warm-up call, and prints the
top operators of each and a summary: total time, time in convolutions, and the *ceiling* of the
speed ratio: the reference's total time over its convolution time, i.e. the ratio ours would
reach if everything but the convolutions (the same oneDNN kernels on both sides) took no time.

    PYTHONPATH=src:benchmarks python benchmarks/investigations/profile_deploy.py inception_v3
        [--library torchvision] [--batch 16] [--rows 12] [--retain-memory]
"""

from __future__ import annotations

import argparse

import torch
from torch.profiler import ProfilerActivity, profile

from classicnets.deployment.convert import deploy
from classicnets.models.registry import model_info
from classicnets.runtime.allocator import retain_freed_memory
from classicnets.tools.reference import paired_models

CONV_OPS = ("convolution_pointwise", "mkldnn_convolution", "aten::convolution_overrideable")


def _profile(model: torch.nn.Module, x: torch.Tensor, rows: int) -> tuple[float, float, str]:
    with torch.no_grad():
        model(x)  # warm-up: allocator, oneDNN primitive cache
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            model(x)
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events) / 1e6
    conv = sum(e.self_cpu_time_total for e in events if any(c in e.key for c in CONV_OPS)) / 1e6
    return total, conv, events.table(sort_by="self_cpu_time_total", row_limit=rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("model")
    p.add_argument("--library", default="torchvision")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--rows", type=int, default=12)
    p.add_argument(
        "--retain-memory", action="store_true", help="classicnets.runtime.allocator, both"
    )
    args = p.parse_args()
    if args.retain_memory:
        retain_freed_memory()
    ours, reference = paired_models(args.model, args.library)
    size = model_info(args.model).input_size
    x = torch.randn(args.batch, 3, size, size)
    cl = torch.channels_last
    results = {
        f"classicnets {args.model} deploy": _profile(deploy(ours), x, args.rows),
        f"{args.library} eager channels_last": _profile(
            reference.to(memory_format=cl), x.contiguous(memory_format=cl), args.rows
        ),
    }
    for label, (_, _, table) in results.items():
        print(f"===== {label}\n{table}")
    kept = ", memory retained" if args.retain_memory else ""
    print(f"{args.model}, batch {args.batch}, fp32, {torch.get_num_threads()} threads{kept}")
    for label, (total, conv, _) in results.items():
        print(f"  {label}: {total:.3f} s, convolutions {conv:.3f} s ({100 * conv / total:.0f}%)")
    (t_ours, _, _), (t_ref, c_ref, _) = results.values()
    print(f"  ratio (profiled): {t_ref / t_ours:.3f}; ceiling (reference total / its convs): "
          f"{t_ref / c_ref:.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
