"""Export every registered model in every format and check it against eager.

    PYTHONPATH=src python benchmarks/export_matrix.py [PATTERN ...] [--out FILE.md]

Batch-norm statistics are first set from a random batch (an untrained ResNet-1202 overflows
in eval mode otherwise). For each model: ONNX (run with onnxruntime), TorchScript (traced) and
torch.export (.pt2), the first and last with a dynamic batch dimension; each export runs at
batch 3 (the example had 2) and is compared with eager, max relative error <= 1e-4. Failures
are listed with the reason, never skipped.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

import classicnets
from classicnets.deployment.export import FORMATS, export_model
from classicnets.tools.bench.machine import describe_machine
from classicnets.tools.untrained import stand_in_batchnorm


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("patterns", nargs="*", default=["*"], help="model names or globs")
    p.add_argument("--out", default="benchmarks/results/export_matrix.md")
    args = p.parse_args(argv)
    command = "PYTHONPATH=src python " + " ".join([sys.argv[0], *(argv or sys.argv[1:])])
    rows, failures = [], []
    with tempfile.TemporaryDirectory() as tmp:
        names = dict.fromkeys(n for pat in args.patterns for n in classicnets.list_models(pat))
        for name in names:
            model = classicnets.create_model(name, num_classes=10)
            size = max(model.min_input_size, 32)
            stand_in_batchnorm(model, torch.randn(8, model.in_chans, size, size))
            cells = [f"`{name}`", str(size)]
            for fmt, suffix in FORMATS.items():
                start = time.time()
                try:
                    check = export_model(
                        model,
                        Path(tmp) / f"{name}{suffix}",
                        fmt=fmt,
                        input_size=size,
                        dynamic_batch=fmt != "torchscript",
                    )
                    cells.append(f"ok {check.describe()} ({time.time() - start:.0f} s)")
                except Exception as e:  # every failure is a row of the report
                    cells.append("FAIL")
                    failures.append(f"- `{name}` {fmt}: {e}")
                print(name, fmt, cells[-1], flush=True)
            rows.append("| " + " | ".join(cells) + " |")
    machine = describe_machine()
    text = [
        "# Export matrix",
        "",
        f"Command: `{command}`",
        "",
        "Each cell: the max relative error of the exported model against eager at batch 3 "
        "(the export saw batch 2; ONNX and torch.export with a dynamic batch dimension, "
        "TorchScript traced), and the time to export and check. 10 classes, input "
        "max(min_input_size, 32); batch-norm statistics set from a random batch first "
        "(stand_in_batchnorm), so that deep untrained networks stay finite in eval mode.",
        "",
        "Machine: " + "; ".join(f"{k} {v}" for k, v in machine.items()),
        "",
        "| model | input | " + " | ".join(FORMATS) + " |",
        "|---|---|" + "---|" * len(FORMATS),
        *rows,
        "",
        "Failures (with the reason):" if failures else "Failures: none.",
        *failures,
        "",
    ]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(text))
    print(f"wrote {args.out}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
