"""What deterministic mode costs a training step, setting by setting, side by side in one process.

Training runs with ``deterministic = true`` by default (bit-exact runs and resumption), which
calls ``torch.use_deterministic_algorithms(True)``. That also sets
``torch.utils.deterministic.fill_uninitialized_memory``: every new uninitialised tensor is
filled with NaN first, one extra pass over each buffer. ``runtime.device.set_deterministic``
switches the fill off. This measures the three settings on a ResNet-20 training step
(forward, backward, SGD with momentum; one synthetic batch of 128 at 32x32), rounds interleaved:

* ``off``: non-deterministic kernels allowed;
* ``deterministic + fill``: PyTorch's default deterministic mode;
* ``deterministic, no fill``: what ``classicnets train`` runs.

    PYTHONPATH=src python benchmarks/deterministic_cost.py [--rounds 5] [--steps 10]

Results: benchmarks/results/deterministic_cost.md. Quiet machine only.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

import classicnets
from classicnets.tools.bench.machine import describe_machine

RESULTS = Path(__file__).resolve().parent / "results"
SETTINGS = ("off", "deterministic + fill", "deterministic, no fill")


def _set(setting: str) -> None:
    torch.use_deterministic_algorithms(setting != "off", warn_only=True)
    torch.utils.deterministic.fill_uninitialized_memory = setting == "deterministic + fill"


def measure(precision: str, rounds: int, steps: int) -> dict[str, list[float]]:
    torch.manual_seed(0)
    cl = torch.channels_last if precision == "bf16" else torch.contiguous_format
    model = classicnets.create_model("resnet20").train().to(memory_format=cl)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    x = torch.randn(128, 3, 32, 32).contiguous(memory_format=cl)
    y = torch.randint(0, 10, (128,))

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            loss = F.cross_entropy(model(x).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    rates: dict[str, list[float]] = {s: [] for s in SETTINGS}
    for _ in range(rounds + 1):  # the first round warms up and is dropped
        for s in SETTINGS:
            _set(s)
            step()
            start = time.perf_counter()
            for _ in range(steps):
                step()
            rates[s].append(steps * x.shape[0] / (time.perf_counter() - start))
    _set("off")
    return {s: r[1:] for s, r in rates.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--out", default=str(RESULTS / "deterministic_cost.md"))
    args = ap.parse_args()
    m = describe_machine()
    lines = [
        "# What deterministic mode costs a ResNet-20 training step",
        "",
        f"`PYTHONPATH=src python benchmarks/deterministic_cost.py --rounds {args.rounds} "
        f"--steps {args.steps}`: batch 128, 32x32, one process, settings interleaved in every "
        "round, images/s.",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores; {m['cpu flags']}; load at the start "
        f"{m['load average (1/5/15 min)']}; torch {m['torch']}. The bf16 figures depend on "
        "amx_bf16/avx512_bf16.",
        "",
        "| precision | setting | images/s per round | median | against off |",
        "|---|---|---|---|---|",
    ]
    for precision in ("fp32", "bf16"):
        rates = measure(precision, args.rounds, args.steps)
        off = statistics.median(rates["off"])
        for s, r in rates.items():
            med = statistics.median(r)
            label = precision + (" + channels_last" if precision == "bf16" else "")
            lines.append(
                f"| {label} | {s} | {', '.join(f'{v:.0f}' for v in r)} | {med:.0f} "
                f"| {med / off:.2f}x |"
            )
    lines += ["", f"Load at the end: {describe_machine()['load average (1/5/15 min)']}.", ""]
    Path(args.out).write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
