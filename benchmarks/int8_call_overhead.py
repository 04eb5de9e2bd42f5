"""Is the fixed cost of calling the compiled int8 program what holds batch 1 back?

    PYTHONPATH=src python benchmarks/int8_call_overhead.py MODEL [BATCHES] [ROUNDS]
    (e.g. resnet18 1 7; prints, writes nothing)

Times, alternately in one process and each round for at least 0.4 s of calls, four ways of
calling the same int8 model against torchvision's int8 model of the architecture:

* ``ours``: ``QuantizedModel.__call__`` (input check, inductor's settings patched around the
  call, the program compiled with inductor's C++ wrapper);
* ``bare``: the same compiled program called directly, no input check and no config patch;
* ``python``: compiled with inductor's generated Python wrapper instead (``cpp_wrapper`` off),
  which calls each kernel from Python;
* ``tv``: torchvision's eager int8 model (x86 engine).

Each variant compiles its own copy of the program (``QuantizedModel._compile``): two
``torch.compile`` calls on one module object share dynamo's cache, so the second would run the
first one's code (the flaw of this script's first version, whose C++-wrapper side in fact ran
the Python wrapper). The outputs of the variants are checked equal to ``ours`` first.
"""

from __future__ import annotations

import os
import statistics
import sys

import torch
from int8_speed import time_alternately
from torch._inductor import config as inductor_config

import classicnets
from classicnets.deployment.int8.quantize import quantize_int8
from classicnets.tools.reference import quantized_reference


def main() -> None:
    name = sys.argv[1]
    batches = [int(b) for b in sys.argv[2].split(",")] if len(sys.argv) > 2 else [1]
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 7
    size = classicnets.models.registry.model_info(name).input_size
    calibration = list(torch.randn(64, 3, size, size).split(32))
    ours = quantize_int8(classicnets.create_model(name).eval(), calibration)
    for batch in batches:
        x = torch.randn(batch, 3, size, size)
        bare, python = ours._compile(), ours._compile()
        with torch.no_grad():
            reference = ours(x)
            with inductor_config.patch(freezing=True, cpp_wrapper=True):
                bare(x)  # compiled here, called without the patch below
            with inductor_config.patch(freezing=True):
                python(x)
            for key, run in (("bare", bare), ("python", python)):
                print(key, "max abs diff against ours", (run(x) - reference).abs().max())
        runs = {"ours": ours, "bare": bare, "python": python}
        runs["tv"] = quantized_reference(name, calibration)
        rates = time_alternately(runs, x, rounds, min_round_s=0.4)
        med = {k: statistics.median(v) for k, v in rates.items()}
        print(name, "batch", batch, "load average", os.getloadavg()[0])
        for key, v in rates.items():
            print(f"  {key:8s} {med[key]:8.1f} images/s ({min(v):.1f}-{max(v):.1f}), "
                  f"{med[key] / med['tv']:.2f}x tv")  # fmt: skip


if __name__ == "__main__":
    main()
