"""Where int8 error builds up: relative error of the int8 reference program at the output of each
top-level module, against fp32, on the untrained registry model and the images of the matrix.

    PYTHONPATH=src:benchmarks python benchmarks/investigations/int8_layer_error.py MODEL [MODEL ...]
        [--out FILE.md]

For each model (random weights, batch-norm statistics from a random batch, 32 calibration and 16
evaluation images N(0, 1): exactly ``quantize_matrix.py``'s inputs), the graph the quantizer sees
(:func:`classicnets.deployment.int8.prepare.capture_for_quantization`) and its
quantize/dequantize program (:func:`classicnets.deployment.int8.calibrate.calibrate_and_convert`,
float kernels, what the int8 kernels compute up to rounding) run the same images; every node
present in both (same name and shape) is compared, and each top-level module (stem, dense block,
transition, stage, ...) reports the error of its last compared node. A convolution whose batch
norm is folded is compared after the norm, where both graphs hold the same quantity. Steady
growth from module to module says the error is rounding compounding with depth; a jump at one
module points at that module.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path
from typing import Any

import torch
from quantize_matrix import sensitivities, untrained_inputs  # the matrix's exact inputs
from torch.fx import GraphModule, Interpreter, Node

from classicnets.deployment.int8.accuracy import compare_logits
from classicnets.deployment.int8.calibrate import calibrate_and_convert
from classicnets.deployment.int8.prepare import capture_for_quantization
from classicnets.tools.bench.machine import describe_machine


class _Recorder(Interpreter):
    """Runs a graph and keeps every floating-point tensor a node produces."""

    def __init__(self, graph_module: GraphModule) -> None:
        super().__init__(graph_module)
        self.outputs: dict[str, torch.Tensor] = {}

    def run_node(self, n: Node) -> Any:
        result = super().run_node(n)
        tensor = isinstance(result, torch.Tensor) and result.is_floating_point()
        if n.op == "call_function" and tensor:
            self.outputs[n.name] = result.detach()
        return result


def _top_module(node: Node) -> str | None:
    stack = node.meta.get("nn_module_stack")
    if not stack:
        return None
    path = list(stack.values())[-1][0]  # the innermost module, e.g. "block1.layer3.conv2"
    return path.split(".")[0] or None


def _compared_name(node: Node) -> str:
    """The float-graph node holding what the converted graph's node of this name holds: a
    convolution's batch norm, when prepare_pt2e folds that norm into it."""
    users = list(node.users)
    if "conv" in str(node.target) and len(users) == 1 and "batch_norm" in str(users[0].target):
        return users[0].name
    return node.name


def layer_errors(name: str) -> tuple[list[tuple[str, int, float]], float, float, float]:
    """[(top-level module, nodes compared, relative error at its output)], the logits' relative
    error, the rounding sensitivity and the input-noise sensitivity of ``name``."""
    model, _, calibration, images = untrained_inputs(name, 64, 32)
    with torch.no_grad():
        captured = capture_for_quantization(model, calibration[0])
        reference = _Recorder(copy.deepcopy(captured))
        reference.run(images)
        converted = calibrate_and_convert(captured, calibration)
        quantized = _Recorder(converted)
        logits = quantized.run(images)
        logits = logits[0] if isinstance(logits, (tuple, list)) else logits
        fp32 = model(images)
    by_module: dict[str, tuple[int, float]] = {}
    for node in reference.module.graph.nodes:
        module = _top_module(node)
        ref = reference.outputs.get(_compared_name(node))
        out = quantized.outputs.get(node.name)
        if module is None or ref is None or out is None or ref.shape != out.shape:
            continue
        count = by_module.get(module, (0, 0.0))[0] + 1
        by_module[module] = (count, compare_logits(ref.flatten(1), out.flatten(1))["relerr"])
    rows = [(m, n, e) for m, (n, e) in by_module.items()]
    at_input, rounding = sensitivities(model, images)
    return rows, compare_logits(fp32, logits)["relerr"], rounding, at_input


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("models", nargs="+")
    p.add_argument("--out", default="benchmarks/investigations/results/int8_layer_error.md")
    args = p.parse_args(argv)
    lines = ["# Where int8 error builds up, module by module", ""]
    lines += [
        "`PYTHONPATH=src:benchmarks python "
        + " ".join([sys.argv[0], *(argv or sys.argv[1:])])
        + "`"
    ]
    lines += [""] + [f"- {k}: {v}" for k, v in describe_machine().items()]
    for name in args.models:
        rows, final, rounding, at_input = layer_errors(name)
        lines += ["", f"## `{name}`", ""]
        lines += [f"Logits: relative error {final:.4f}; rounding sensitivity {rounding:.4f} "
                  f"(ratio {final / rounding:.2f}); input-noise sensitivity {at_input:.4f} "
                  f"(ratio {final / at_input:.1f}).", ""]  # fmt: skip
        lines += ["| module | nodes compared | relative error at its output |", "|---|---|---|"]
        lines += [f"| `{m}` | {n} | {e:.4f} |" for m, n, e in rows]
        print("\n".join(lines[-len(rows) - 4 :]), flush=True)
    Path(args.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
