"""Top-1 of a trained network in fp32 and int8, side by side, on its test split.

    PYTHONPATH=src python benchmarks/int8_accuracy.py [RUN_DIR ...] [--calibration-images 256]

Each RUN_DIR is a ``classicnets train`` run (its checkpoint, dataset and preprocessing are
read from it); without one, the digits main job is trained first into a temporary folder
(``classicnets train``, recipes/digits.toml: ResNet-20, about a minute). The int8 model is
calibrated on ``--calibration-images`` images of the *training* split, prepared with the run's
evaluation preprocessing, and both forms are evaluated on the whole test split. Appends one row
per run to benchmarks/results/int8_accuracy.md. Accuracy only: no timing.

``--backends torch openvino onnxruntime`` quantizes through each deploy backend
(``deploy(model, backend=..., dtype="int8")``: PT2E for torch, NNCF for OpenVINO, onnxruntime's
static QDQ quantizer) from the same calibration images, and appends one row per run and backend
to benchmarks/results/int8_accuracy_backends.md (the machine heads a new file: int8 kernels
differ between CPU kinds).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from classicnets import deploy
from classicnets.data.datasets import open_split
from classicnets.deployment.backends import int8_convolutions
from classicnets.deployment.int8.calibrate import calibration_batches
from classicnets.deployment.int8.quantize import quantize_int8
from classicnets.deployment.int8.run import uses_int8_kernels
from classicnets.evaluation.loading import load_trained
from classicnets.preprocessing import for_dataset
from classicnets.tools.bench.machine import describe_machine

RESULTS = Path(__file__).parent / "results" / "int8_accuracy.md"
BACKEND_RESULTS = RESULTS.with_name("int8_accuracy_backends.md")
HEADER = (
    "# int8 accuracy of trained networks (benchmarks/int8_accuracy.py)\n\n"
    "| run | model | dataset | test images | calibration images (train split) "
    "| fp32 top-1 | int8 top-1 | drop (points) | top-1 agreement | int8 kernels |\n"
    "|---|---|---|---|---|---|---|---|---|---|\n"
)


def train_digits(folder: Path) -> Path:
    run_dir = folder / "digits"
    cmd = [sys.executable, "-m", "classicnets", "train", "--quiet", "--run-dir", str(run_dir)]
    subprocess.run(cmd, check=True)
    return run_dir


def evaluate_run(
    run_dir: Path, calibration_images: int, backends: tuple[str, ...] = ("torch",)
) -> list[str]:
    """One table row per backend: fp32 and int8 top-1 of the run's network on its test split."""
    loaded = load_trained(run_dir)
    dataset = loaded.config["dataset"]
    prep = for_dataset(dataset, loaded.input_size, mean=loaded.mean, std=loaded.std)
    data_dir = loaded.config.get("data_dir")
    train = open_split(dataset, "train", data_dir, in_chans=loaded.in_chans)
    calibration = calibration_batches(train, prep, num_images=calibration_images)
    test = open_split(dataset, "test", data_dir, in_chans=loaded.in_chans)
    batches = calibration_batches(test, prep, num_images=len(test), batch_size=64)
    labels = torch.tensor([test[i][1] for i in range(len(test))])
    with torch.no_grad():
        fp32 = torch.cat([loaded.model(b) for b in batches]).argmax(1)
    acc32 = (fp32 == labels).float().mean().item() * 100
    rows = []
    for backend in backends:
        if backend == "torch":
            quantized = quantize_int8(loaded.model, calibration)
        else:
            quantized = deploy(loaded.model, backend=backend, dtype="int8", calibration=calibration)
        with torch.no_grad():
            int8 = torch.cat([quantized(b) for b in batches]).argmax(1)
        acc8 = (int8 == labels).float().mean().item() * 100
        agree = (fp32 == int8).float().mean().item() * 100
        cells = [run_dir.name, loaded.name, dataset, str(len(test))]
        cells += [str(quantized.info.calibration_images)]
        cells += [f"{acc32:.2f}%", f"{acc8:.2f}%", f"{acc32 - acc8:+.2f}", f"{agree:.2f}%"]
        cells.append(f"yes ({int8_kernels(quantized, backend)})")
        if backends != ("torch",):
            cells.insert(2, backend)
        rows.append("| " + " | ".join(cells) + " |")
        print(rows[-1], flush=True)
    return rows


def int8_kernels(quantized: torch.nn.Module, backend: str) -> str:
    """What shows that ``quantized`` runs int8 kernels; an error when nothing does."""
    if backend == "torch":
        found = uses_int8_kernels(quantized)
        count = "oneDNN int8 calls"
    else:
        found = int8_convolutions(quantized)  # type: ignore[arg-type]
        count = f"{found} int8 convolutions"
    if not found:
        raise RuntimeError(f"the {backend} int8 model runs no int8 kernel")
    return count


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("runs", nargs="*", type=Path)
    p.add_argument("--calibration-images", type=int, default=256)
    p.add_argument(
        "--backends",
        nargs="+",
        choices=("torch", "openvino", "onnxruntime"),
        default=None,
        help="quantize through these deploy backends (results: int8_accuracy_backends.md)",
    )
    args = p.parse_args(argv)
    backends = tuple(args.backends or ("torch",))
    with tempfile.TemporaryDirectory() as tmp:
        runs = args.runs or [train_digits(Path(tmp))]
        rows = [row for run in runs for row in evaluate_run(run, args.calibration_images, backends)]
    results, header = RESULTS, HEADER
    if args.backends:
        results, header = BACKEND_RESULTS, backend_header()
    text = results.read_text() if results.exists() else header
    results.write_text(text + "\n".join(rows) + "\n")
    return 0


def backend_header() -> str:
    command = "PYTHONPATH=src python " + " ".join(sys.argv)
    machine = [f"- {k}: {v}" for k, v in describe_machine().items()]
    return (
        "# int8 accuracy of trained networks on each deploy backend "
        "(benchmarks/int8_accuracy.py --backends)\n\n"
        f"`{command}`\n\n" + "\n".join(machine) + "\n\n"
        "| run | model | backend | dataset | test images | calibration images (train split) "
        "| fp32 top-1 | int8 top-1 | drop (points) | top-1 agreement | int8 kernels |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|\n"
    )


if __name__ == "__main__":
    raise SystemExit(main())
