"""Top-1 of a trained network in fp32 and int8, side by side, on its test split.

    PYTHONPATH=src python benchmarks/int8_accuracy.py [RUN_DIR ...] [--calibration-images 256]

Each RUN_DIR is a ``classicnets train`` run (its checkpoint, dataset and preprocessing are
read from it); without one, the digits main job is trained first into a temporary folder
(``classicnets train``, recipes/digits.toml: ResNet-20, about a minute). The int8 model is
calibrated on ``--calibration-images`` images of the *training* split, prepared with the run's
evaluation preprocessing, and both forms are evaluated on the whole test split. Appends one row
per run to benchmarks/results/int8_accuracy.md. Accuracy only: no timing.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from classicnets.data.datasets import open_split
from classicnets.deployment.int8.calibrate import calibration_batches
from classicnets.deployment.int8.quantize import quantize_int8
from classicnets.deployment.int8.run import uses_int8_kernels
from classicnets.evaluation.loading import load_trained
from classicnets.preprocessing import for_dataset

RESULTS = Path(__file__).parent / "results" / "int8_accuracy.md"
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


def evaluate_run(run_dir: Path, calibration_images: int) -> str:
    loaded = load_trained(run_dir)
    dataset = loaded.config["dataset"]
    prep = for_dataset(dataset, loaded.input_size, mean=loaded.mean, std=loaded.std)
    data_dir = loaded.config.get("data_dir")
    train = open_split(dataset, "train", data_dir, in_chans=loaded.in_chans)
    quantized = quantize_int8(
        loaded.model, calibration_batches(train, prep, num_images=calibration_images)
    )
    test = open_split(dataset, "test", data_dir, in_chans=loaded.in_chans)
    batches = calibration_batches(test, prep, num_images=len(test), batch_size=64)
    labels = torch.tensor([test[i][1] for i in range(len(test))])
    with torch.no_grad():
        fp32 = torch.cat([loaded.model(b) for b in batches]).argmax(1)
    int8 = torch.cat([quantized(b) for b in batches]).argmax(1)
    acc32 = (fp32 == labels).float().mean().item() * 100
    acc8 = (int8 == labels).float().mean().item() * 100
    agree = (fp32 == int8).float().mean().item() * 100
    cells = [
        run_dir.name,
        loaded.name,
        dataset,
        str(len(test)),
        str(quantized.info.calibration_images),
    ]
    cells += [f"{acc32:.2f}%", f"{acc8:.2f}%", f"{acc32 - acc8:+.2f}", f"{agree:.2f}%"]
    cells.append("yes" if uses_int8_kernels(quantized) else "NO")
    return "| " + " | ".join(cells) + " |"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("runs", nargs="*", type=Path)
    p.add_argument("--calibration-images", type=int, default=256)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        runs = args.runs or [train_digits(Path(tmp))]
        rows = [evaluate_run(run, args.calibration_images) for run in runs]
    text = RESULTS.read_text() if RESULTS.exists() else HEADER
    RESULTS.write_text(text + "\n".join(rows) + "\n")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
