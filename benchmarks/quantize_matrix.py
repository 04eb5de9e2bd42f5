"""Quantize every registered model to int8 and check it against its fp32 form.

    PYTHONPATH=src python benchmarks/quantize_matrix.py [PATTERN ...] [--out FILE.md]

Not a timing: correctness only (run it at low priority, ``nice -n 19``, on a busy machine). For
each model, with random weights and batch-norm statistics set from a random batch (as in
export_matrix.py): :func:`classicnets.deployment.int8.quantize.quantize_int8` calibrated on
``--calibration`` N(0, 1) images (the distribution the preprocessing produces), then a fresh
batch of 16 images from the same distribution through the compiled int8 model, whose generated
code must call oneDNN's int8 convolutions. Reported: int8 operators found, top-1 agreement with
fp32, the logits' relative error, and two measures of the fp32 network's own sensitivity: to
0.4% Gaussian noise on the input image (about one int8 step), and to one int8 rounding's worth
of noise at the input of every convolution, linear and batch-norm layer
(:func:`classicnets.deployment.int8.accuracy.rounding_sensitivity`, where int8 rounds).
Untrained networks with batch norm amplify perturbations, which bounds what int8 agreement can
be; the relative error must stay within
:func:`classicnets.deployment.int8.accuracy.int8_error_bound` of the rounding sensitivity (the
bound tests/test_quantize.py asserts). ``--fill`` (re)computes the sensitivities of the rows of an
earlier report (fp32 only: the same seeds give the same images). Images are the model's
minimum input size or 64 px, whichever is larger (``--size`` raises it). The table is rewritten
after every model, so an interrupted run keeps what finished; failures are listed with the
reason, never skipped.

``--backend openvino|onnxruntime`` runs the same check through ``deploy(model,
backend=..., dtype="int8")`` (NNCF / onnxruntime's static QDQ quantizer) on the same images, and
adds the fp32 program's agreement with eager PyTorch: ``deploy`` checks it at batch 1 and 3 and
refuses a program beyond the export check's tolerance (relative error 1e-4, or within float32
rounding of the float64 result); the column shows the measured error. int8 convolutions are
counted in the runtime's compiled graph. Default report: ``quantize_matrix_<backend>.md``.
"""

from __future__ import annotations

import argparse
import gc
import os
import shlex
import sys
import traceback
from pathlib import Path

import torch

import classicnets
from classicnets.deployment.backends import int8_convolutions
from classicnets.deployment.backends.openvino import BIAS_CORRECTIONS
from classicnets.deployment.int8.accuracy import (
    compare_logits,
    int8_error_bound,
    rounding_sensitivity,
)
from classicnets.deployment.int8.quantize import quantize_int8
from classicnets.deployment.int8.run import run_and_count_int8
from classicnets.tools.bench.machine import describe_machine
from classicnets.tools.untrained import stand_in_batchnorm

EVAL_IMAGES = 16


def untrained_inputs(
    name: str, min_size: int, calibration_images: int
) -> tuple[torch.nn.Module, int, list[torch.Tensor], torch.Tensor]:
    """The untrained model, image side, calibration batches and evaluation images of ``name``:
    the same for every call (seeded), so ``--fill`` sees the images the int8 run saw."""
    torch.manual_seed(0)
    model = classicnets.create_model(name, num_classes=10)
    size = max(model.min_input_size, min_size)
    stand_in_batchnorm(model, torch.randn(8, model.in_chans, size, size))
    calibration = list(torch.randn(calibration_images, model.in_chans, size, size).split(8))
    images = torch.randn(EVAL_IMAGES, model.in_chans, size, size)
    return model.eval(), size, calibration, images


def sensitivities(model: torch.nn.Module, images: torch.Tensor) -> tuple[float, float]:
    """(input-noise sensitivity, rounding sensitivity) of the fp32 model on ``images``."""
    generator = torch.Generator().manual_seed(1)
    noisy = images + 0.004 * torch.randn(images.shape, generator=generator)  # about one step
    with torch.no_grad():
        at_input = compare_logits(model(images), model(noisy))["relerr"]
    return at_input, rounding_sensitivity(model, images)


def verdict(relerr: float, rounding: float) -> list[str]:
    bound = int8_error_bound(rounding)
    return [f"{rounding:.4f}", f"{bound:.3f}", "yes" if relerr <= bound else "**no**"]


def check_backend(
    name: str, min_size: int, calibration_images: int, backend: str, bias_correction: str | None
) -> tuple[list[str], str | None]:
    """One row of the backend matrix (see the module docstring)."""
    model, size, calibration, images = untrained_inputs(name, min_size, calibration_images)
    quantized = classicnets.deploy(
        model, backend=backend, dtype="int8", calibration=calibration,
        bias_correction=bias_correction,
    )  # fmt: skip
    with torch.no_grad():
        reference = model(images)
    logits = quantized(images)
    convs = int8_convolutions(quantized)  # type: ignore[arg-type]
    fp32 = quantized.check
    at_input, rounding = sensitivities(model, images)
    agree = compare_logits(reference, logits)
    cells = [f"`{name}`", str(size), f"{fp32.max_rel_error:.1e}" if fp32 else "?", str(convs)]
    cells += [f"{agree['top1']:.3f}", f"{agree['relerr']:.4f}", f"{at_input:.4f}"]
    cells += verdict(agree["relerr"], rounding)
    return cells, None if convs else f"no int8 convolution in {backend}'s compiled graph"


def check(name: str, min_size: int, calibration_images: int) -> tuple[list[str], str | None]:
    model, size, calibration, images = untrained_inputs(name, min_size, calibration_images)
    quantized = quantize_int8(model, calibration)
    with torch.no_grad():
        reference = model(images)
    logits, ops = run_and_count_int8(quantized, images)
    at_input, rounding = sensitivities(model, images)
    convs = sum(n for op, n in ops.items() if op.startswith("onednn.qconv"))
    agree = compare_logits(reference, logits)
    cells = [f"`{name}`", str(size), str(convs), str(ops.get("onednn.qlinear_pointwise", 0))]
    cells += [f"{agree['top1']:.3f}", f"{agree['relerr']:.4f}", f"{at_input:.4f}"]
    cells += verdict(agree["relerr"], rounding)
    return cells, None if convs else "no int8 convolution in the generated code"


def fill(row: list[str], min_size: int, calibration_images: int) -> list[str]:
    """An earlier row (up to the relative error) with the fp32 sensitivities measured now."""
    model, _, _, images = untrained_inputs(row[0].strip("`"), min_size, calibration_images)
    at_input, rounding = sensitivities(model, images)
    return [*row[:6], f"{at_input:.4f}", *verdict(float(row[5]), rounding)]


def write(
    path: Path,
    commands: list[str],
    rows: list[list[str]],
    failures: list[str],
    todo: list[str],
    backend: str = "torch",
    notes: list[str] | None = None,
) -> None:
    ops = ["int8 conv calls", "int8 linear calls"]
    if backend != "torch":
        ops = ["fp32 rel. error vs eager", "int8 convolutions"]
    head = [
        "model",
        "px",
        *ops,
        "top-1 agreement",
        "rel. error",
        "input-noise sensitivity",
        "rounding sensitivity",
        "bound",
        "within",
    ]
    title = "# int8 quantization matrix" + ("" if backend == "torch" else f": {backend}")
    lines = [title, ""] + [f"`{c}`" for c in commands] + [""]
    lines += [part for note in notes or [] for part in (note, "")]  # one paragraph each
    lines += [f"- {k}: {v}" for k, v in describe_machine().items()]
    lines += [""]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    lines += ["", f"{len(rows)} quantized, {len(failures)} failed, {len(todo)} not run yet."]
    lines += [f"- FAILED {f}" for f in failures] + [f"- not run: `{n}`" for n in todo]
    path.write_text("\n".join(lines) + "\n")


def previous_rows(path: Path) -> list[list[str]]:
    """The table rows of an earlier report (its failures are run again)."""
    lines = path.read_text().splitlines()
    return [[c.strip() for c in ln.strip("|").split("|")] for ln in lines if ln.startswith("| `")]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("patterns", nargs="*", default=["*"], help="model names or globs")
    p.add_argument("--out", default=None, help="default: results/quantize_matrix[_BACKEND].md")
    p.add_argument(
        "--backend",
        choices=("torch", "openvino", "onnxruntime"),
        default="torch",
        help="deploy backend (default torch: PT2E, oneDNN)",
    )
    p.add_argument(
        "--bias-correction",
        choices=BIAS_CORRECTIONS,
        default=None,
        help="openvino: NNCF's bias correction (default: deploy's, full)",
    )
    p.add_argument("--size", type=int, default=64, help="smallest image side (default 64)")
    p.add_argument("--calibration", type=int, default=32, help="calibration images (default 32)")
    p.add_argument(
        "--resume",
        action="store_true",
        help="keep the rows of an existing --out report and run only the models it lacks",
    )
    p.add_argument(
        "--fill",
        action="store_true",
        help="with --resume: (re)compute the sensitivities of the earlier rows (fp32 only)",
    )
    p.add_argument(
        "--redo",
        action="store_true",
        help="with --resume: run the named models again, replacing their earlier rows",
    )
    args = p.parse_args(argv)
    suffix = "" if args.backend == "torch" else f"_{args.backend}"
    args.out = args.out or f"benchmarks/results/quantize_matrix{suffix}.md"
    threads = os.environ.get("OMP_NUM_THREADS")
    command = ("" if threads is None else f"OMP_NUM_THREADS={threads} ") + "PYTHONPATH=src python "
    command += shlex.join([sys.argv[0], *(argv or sys.argv[1:])])
    names = list(dict.fromkeys(n for pat in args.patterns for n in classicnets.list_models(pat)))
    rows: list[list[str]] = []
    failures: list[str] = []
    commands = [command]
    notes: list[str] = []
    if args.resume and Path(args.out).exists():
        text = Path(args.out).read_text().splitlines()
        earlier = [ln.strip("`") for ln in text if ln.startswith("`") and "quantize_matrix" in ln]
        commands = list(dict.fromkeys(earlier + commands))
        head = text[: next((i for i, ln in enumerate(text) if ln.startswith("- ")), 0)]
        notes = [ln for ln in head if ln and not ln.startswith(("#", "`"))]  # prose kept
        rows = previous_rows(Path(args.out))
        done = {r[0].strip("`") for r in rows}
        names = [n for n in names if args.redo or n not in done]
        if args.fill:
            for i, row in enumerate(rows):
                rows[i] = fill(row, args.size, args.calibration)
                print(rows[i], flush=True)
                write(Path(args.out), commands, rows, failures, names, args.backend, notes)
    for i, name in enumerate(names):
        try:
            if args.backend == "torch":
                cells, problem = check(name, args.size, args.calibration)
            else:
                cells, problem = check_backend(
                    name, args.size, args.calibration, args.backend, args.bias_correction
                )
            earlier = [i for i, r in enumerate(rows) if r[0].strip("`") == name]
            if earlier:  # --redo: the new row takes the old one's place
                rows[earlier[0]] = cells
            else:
                rows.append(cells)
            if problem:
                failures.append(f"`{name}`: {problem}")
        except Exception as e:  # every failure is a row of the report, with its reason
            traceback.print_exc()
            rows = [r for r in rows if r[0].strip("`") != name]  # no stale row beside it
            failures.append(f"`{name}`: {type(e).__name__}: {str(e).splitlines()[0][:200]}")
        torch._dynamo.reset()  # each model's compiled code and guards would otherwise stay
        gc.collect()
        print(name, failures[-1:], flush=True)
        write(Path(args.out), commands, rows, failures, names[i + 1 :], args.backend, notes)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
