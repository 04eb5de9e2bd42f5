"""Speed of the deploy backends, side by side in one process, against what a CPU user would pick.

    PYTHONPATH=src python benchmarks/backend_speed.py [MODEL ...] [--batches 1 32] [--rounds 3]
        [--calibration-images 32] [--out benchmarks/results/backend_speed.md] [--resume]

Run it on a quiet machine: within a model, every side is timed in every round, alternately
(``int8_speed.time_alternately``: a 50 ms pause so the previous runtime's threads stop spinning,
one untimed call, then calls until 0.3 s have passed), so a
load drift hits all sides alike, but a busy machine still makes the figures meaningless. Weights
are random on every side (speed depends on the architecture, not on the values); every int8 side
calibrates on the same ``--calibration-images`` N(0, 1) images at the model's input size. The
sides, for a model torchvision quantizes (resnet18, resnet50_v1_5, googlenet_torchvision,
inception_v3, resnext101_32x8d):

* ``tv int8 eager``: torchvision's quantizable model, its eager post-training recipe with the
  ``x86`` engine (``classicnets.tools.reference.quantized_reference``);
* ``tv fp32 CL``: torchvision's fp32 model, eager, channels_last;
* ``torch fp32``: ``classicnets.deploy(model)`` (folded batch norm, fused convolutions);
* ``openvino fp32|int8``, ``onnxruntime fp32|int8``: ``classicnets.deploy(model,
  backend=...)``, int8 by NNCF / onnxruntime's static QDQ quantizer;
* ``tv openvino int8``, ``tv onnxruntime int8``: torchvision's fp32 model through the same
  backend and quantizer, as a user would do it by hand
  (``classicnets.tools.bench.by_hand.through_backend``).

For the other families: ``torch fp32``, ``openvino int8`` and ``onnxruntime int8`` (``--full``
adds the backends' fp32). Every int8 side must run int8 convolutions (counted in the runtime's
compiled graph) or the model is reported as failed. Reported: median images/s with the min-max
over rounds, and the ratios the issue sets targets for; the CPU model and its flags head the
file (the ratios depend on them: amx_int8 / avx512_vnni decide the int8 kernels). Results are
kept per model in the ``.json`` beside ``--out``, so ``--resume`` continues an interrupted run.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torchvision
from int8_speed import (  # the script directory is on sys.path
    TV_OPTIONS,
    time_alternately,
    torchvision_fp32_cl,
)
from torch import Tensor

import classicnets
from classicnets.deployment.backends import int8_convolutions
from classicnets.models.registry import model_info
from classicnets.tools.bench.by_hand import through_backend
from classicnets.tools.bench.machine import describe_machine
from classicnets.tools.reference import TORCHVISION_QUANTIZED, quantized_reference

TV_MODELS = list(TORCHVISION_QUANTIZED)
OTHER_MODELS = ["vgg16", "densenet121", "seresnet50", "inception_v4", "bn_inception"]
BACKENDS = ("openvino", "onnxruntime")
#: Untimed pause before each side's round: three runtimes' thread pools share the process, and
#: each keeps spinning briefly after a call (``int8_speed.time_alternately``).
PAUSE_S = 0.05

#: (label, numerator side(s), denominator side, target): "best of" takes the faster numerator.
TARGETS: list[tuple[str, tuple[str, ...], str, float]] = [
    ("best ours int8 / tv int8 eager", ("openvino int8", "onnxruntime int8"), "tv int8 eager", 1.2),
    ("ours / tv, both openvino int8", ("openvino int8",), "tv openvino int8", 1.0),
    ("ours / tv, both onnxruntime int8", ("onnxruntime int8",), "tv onnxruntime int8", 1.0),
    (
        "best ours fp32 / tv fp32 CL",
        ("torch fp32", "openvino fp32", "onnxruntime fp32"),
        "tv fp32 CL",
        1.2,
    ),
    ("best ours int8 / ours torch fp32", ("openvino int8", "onnxruntime int8"), "torch fp32", 3.0),
]


def sides(
    name: str, size: int, calibration: list[Tensor], full: bool
) -> tuple[dict[str, Callable[[Tensor], Tensor]], dict[str, str]]:
    """The callables to time and a note per side (build time, int8 convolutions)."""
    model = classicnets.create_model(name).eval()
    runs: dict[str, Callable[[Tensor], Tensor]] = {}
    notes: dict[str, str] = {}

    def add(label: str, build: Callable[[], Callable[[Tensor], Tensor]], backend: str = "") -> None:
        start = time.perf_counter()
        runner = build()
        note = f"built in {time.perf_counter() - start:.0f} s"
        if backend and label.endswith("int8"):
            convs = int8_convolutions(runner)  # type: ignore[arg-type]
            if not convs:
                raise RuntimeError(f"{name}: {label} runs no int8 convolution")
            note += f", {convs} int8 convolutions"
        runs[label], notes[label] = runner, note
        print(f"  {label}: {note}", flush=True)

    tv = name in TORCHVISION_QUANTIZED
    if tv:
        builder = TORCHVISION_QUANTIZED[name]
        add("tv int8 eager", lambda: quantized_reference(name, calibration))
        add("tv fp32 CL", lambda: torchvision_fp32_cl(builder))
    add("torch fp32", lambda: classicnets.deploy(model))
    for backend in BACKENDS:
        if tv or full:
            add(f"{backend} fp32", lambda b=backend: classicnets.deploy(model, backend=b), backend)
        add(
            f"{backend} int8",
            lambda b=backend: classicnets.deploy(
                model, backend=b, dtype="int8", calibration=calibration
            ),
            backend,
        )
    if tv:
        build = getattr(torchvision.models, builder)
        reference = build(weights=None, **TV_OPTIONS.get(builder, {})).eval()
        for backend in BACKENDS:
            add(
                f"tv {backend} int8",
                lambda b=backend: through_backend(
                    reference,
                    b,
                    precision="int8",
                    calibration=calibration,
                    input_size=size,
                    label=f"torchvision {builder}",
                ),
                backend,
            )
    return runs, notes


def ratios(medians: dict[str, float]) -> list[tuple[str, str, float, float]]:
    """(target label, which numerator, ratio, target) for every target both sides exist for."""
    out = []
    for label, numerators, denominator, target in TARGETS:
        present = [n for n in numerators if n in medians]
        if not present or denominator not in medians:
            continue
        best = max(present, key=lambda n: medians[n])
        out.append((label, best, medians[best] / medians[denominator], target))
    return out


def render(results: dict[str, dict], head: list[str]) -> str:
    lines = [*head, "", "## Targets", ""]
    lines += ["| model | batch | ratio | side | measured | target | met |", "|---" * 7 + "|"]
    for name, res in results.items():
        for batch, rates in res["batches"].items():
            medians = {k: statistics.median(v) for k, v in rates.items()}
            for label, best, value, target in ratios(medians):
                met = "yes" if value >= target else "**no**"
                lines.append(
                    f"| `{name}` | {batch} | {label} | {best} | {value:.2f}x | {target}x | {met} |"
                )
    lines += ["", "## Every side", ""]
    lines += ["| model | batch | side | images/s (median) | min-max | how built |"]
    lines += ["|---|---|---|---|---|---|"]
    for name, res in results.items():
        for batch, rates in res["batches"].items():
            for side, values in rates.items():
                lines.append(
                    f"| `{name}` | {batch} | {side} | {statistics.median(values):.1f} | "
                    f"{min(values):.1f}-{max(values):.1f} | {res['notes'].get(side, '')} |"
                )
    failed = {n: r["error"] for n, r in results.items() if r.get("error")}
    lines += [""] + [f"- FAILED `{n}`: {e}" for n, e in failed.items()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("models", nargs="*", default=TV_MODELS + OTHER_MODELS)
    p.add_argument("--batches", type=int, nargs="+", default=[1, 32])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--calibration-images", type=int, default=32)
    p.add_argument("--full", action="store_true", help="the backends' fp32 for every model")
    p.add_argument("--resume", action="store_true", help="keep the models the .json has")
    p.add_argument("--out", default="benchmarks/results/backend_speed.md")
    args = p.parse_args(argv)
    out, store = Path(args.out), Path(args.out).with_suffix(".json")
    command = "PYTHONPATH=src python " + " ".join([sys.argv[0], *(argv or sys.argv[1:])])
    results: dict[str, dict] = {}
    commands = [command]
    if args.resume and store.exists():
        saved = json.loads(store.read_text())
        results, commands = saved["results"], list(dict.fromkeys([*saved["commands"], command]))
    machine = describe_machine()
    head = ["# Deploy backends: speed, side by side in one process", ""]
    head += [f"`{c}`" for c in commands] + [""]
    head += [f"- {k}: {v}" for k, v in machine.items()]
    head += [f"- threads: {torch.get_num_threads()} (every side)"]
    head += [f"- calibration: {args.calibration_images} N(0, 1) images, the same for every side"]
    head += [f"- rounds: {args.rounds}; images/s medians (min-max over rounds)"]
    for name in args.models:
        if name in results and not results[name].get("error"):
            continue
        size = model_info(name).input_size
        print(f"{name} at {size} px", flush=True)
        torch.manual_seed(0)
        calibration = list(torch.randn(args.calibration_images, 3, size, size).split(8))
        try:
            runs, notes = sides(name, size, calibration, args.full)
            entry: dict = {"size": size, "notes": notes, "batches": {}}
            for batch in args.batches:
                x = torch.randn(batch, 3, size, size)
                rates = time_alternately(runs, x, args.rounds, pause_s=PAUSE_S)
                entry["batches"][str(batch)] = rates
                medians = {k: statistics.median(v) for k, v in rates.items()}
                for label, best, value, target in ratios(medians):
                    print(f"  b{batch} {label}: {value:.2f}x ({best}; target {target}x)")
            results[name] = entry
        except Exception as e:  # a failure is a line of the report, never a silent gap
            results[name] = {"error": f"{type(e).__name__}: {str(e).splitlines()[0][:300]}",
                             "notes": {}, "batches": {}}  # fmt: skip
            print(f"  FAILED: {results[name]['error']}", flush=True)
        runs = {}
        gc.collect()
        torch._dynamo.reset()
        load = " ".join(f"{v:.2f}" for v in os.getloadavg())
        tail = ["", f"load average after `{name}`: {load}"]
        store.write_text(json.dumps({"commands": commands, "machine": machine,
                                     "results": results}, indent=1))  # fmt: skip
        out.write_text(render(results, head + tail))
    return 1 if any(r.get("error") for r in results.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
