"""CIFAR-10 ResNet-20 on this CPU: a short-schedule run, and fp32 vs bf16 training speed.

1. Speed: training steps (forward, backward, SGD update) of ResNet-20 on batches of 128 real
   CIFAR-10 images, fp32 and bf16 autocast alternated in one process (A B A B ...), median and
   spread of images/s; also with channels_last.
2. Accuracy: `classicnets train --recipe resnet_cifar` with a short schedule (the paper's
   augmentation, batch, momentum and weight decay; cosine lr over the stated epochs instead of
   64k steps), then the test accuracy on all 10,000 test images.

Data: the ImageFolder copy in ../shared/datasets/cifar10-jpg.tar.gz, extracted once to
~/.cache/classicnets. Results go to benchmarks/results/cifar10_resnet20.{json,md}.

    PYTHONPATH=src python benchmarks/cifar10_resnet20.py --epochs 1 [--train-subset N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from cifar10_fast import JPEG_CEILING  # the script directory is on sys.path

from classicnets.tools.bench.machine import cpu_name

RESULTS = Path(__file__).parent / "results"


ARCHIVE = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "cifar10-jpg.tar.gz"


def speed(data_dir: str, repeats: int, steps: int) -> dict:
    from classicnets import create_model
    from classicnets.data import build_data
    from classicnets.training.config import TrainConfig, apply

    cfg = apply(TrainConfig(), {"dataset": "cifar10", "data_dir": data_dir}, source="bench")
    data = build_data(cfg.data_config(32))
    xs = torch.stack([data.train[(i, 0)][0] for i in range(128)])
    ys = torch.tensor([data.train[(i, 0)][1] for i in range(128)])
    variants = {"fp32": (False, False), "bf16": (True, False), "bf16+channels_last": (True, True)}
    models = {}
    for name, (_, cl) in variants.items():
        m = create_model("resnet20")
        models[name] = m.to(memory_format=torch.channels_last) if cl else m
    opts = {n: torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9) for n, m in models.items()}
    rates: dict[str, list[float]] = {n: [] for n in variants}

    def run(name: str, n: int) -> float:
        bf16, cl = variants[name]
        x = xs.contiguous(memory_format=torch.channels_last) if cl else xs
        t0 = time.perf_counter()
        for _ in range(n):
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                loss = F.cross_entropy(models[name](x).float(), ys)
            opts[name].zero_grad()
            loss.backward()
            opts[name].step()
        return n * 128 / (time.perf_counter() - t0)

    for name in variants:
        run(name, 1)  # warm-up
    for _ in range(repeats):
        for name in variants:
            rates[name].append(run(name, steps))
    return {
        n: {
            "median_images_per_s": round(statistics.median(r), 1),
            "min": round(min(r), 1),
            "max": round(max(r), 1),
        }
        for n, r in rates.items()
    }


def accuracy(
    data_dir: str, epochs: int, subset: int | None, test_subset: int | None, precision: str
) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            sys.executable, "-m", "classicnets", "train", "--recipe", "resnet_cifar", "--quiet",
            "--data-dir", data_dir, "--run-dir", f"{tmp}/run", "--epochs", str(epochs),
            "--precision", precision, "--set", "steps=none", "--set", "schedule=cosine",
            "--set", "schedule_unit=epoch", "--set", "tensorboard=false", "--workers", "1",
        ]  # fmt: skip
        if subset:
            cmd += ["--set", f"train_subset={subset}"]
        if test_subset:
            cmd += ["--set", f"test_subset={test_subset}"]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            raise SystemExit(proc.stdout + proc.stderr)
        summary = json.loads(Path(f"{tmp}/run/summary.json").read_text())
    return {
        "epochs": epochs,
        "train_images": subset or 50000,
        "precision": precision,
        "test_acc": summary["test_acc"],
        "test_images": test_subset or 10000,
        "train_seconds": summary["train_seconds"],
        "process_wall_seconds": round(wall, 1),
        "images_per_s": summary["images_per_s"],
        "log": proc.stdout.strip().splitlines()[-4:],
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=str(ARCHIVE))
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--train-subset", type=int, default=None)
    p.add_argument("--test-subset", type=int, default=None)
    p.add_argument("--precision", default="bf16", choices=["fp32", "bf16"])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--steps", type=int, default=3, help="steps per speed measurement")
    p.add_argument("--skip-train", action="store_true")
    p.add_argument("--skip-speed", action="store_true", help="keep the last speed figures")
    args = p.parse_args()
    if not Path(args.data_dir).exists():
        raise SystemExit(f"{args.data_dir} not found: pass --data-dir (CIFAR-10 ImageFolder copy)")
    load_before = os.getloadavg()
    record = {
        "command": "PYTHONPATH=src python benchmarks/cifar10_resnet20.py " + " ".join(sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": {
            "cpu": cpu_name(),
            "cores": os.cpu_count(),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
        },
        "load_avg_before": [round(x, 2) for x in load_before],
    }
    previous = RESULTS / "cifar10_resnet20.json"
    if args.skip_speed and previous.is_file():  # keep the speed figures measured before
        old = json.loads(previous.read_text())
        record["speed_batch128"] = old["speed_batch128"]
        record["speed_measured"] = old.get("speed_measured", old["date"])
    else:
        record["speed_batch128"] = speed(args.data_dir, args.repeats, args.steps)
        record["speed_measured"] = record["date"]
    if not args.skip_train:
        write(record)  # the speed figures, before the (long) training run
        record["short_run"] = accuracy(
            args.data_dir, args.epochs, args.train_subset, args.test_subset, args.precision
        )
    write(record)


def write(record: dict) -> None:
    record["load_avg_after"] = [round(x, 2) for x in os.getloadavg()]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "cifar10_resnet20.json").write_text(json.dumps(record, indent=2) + "\n")
    lines = [
        "# CIFAR-10 ResNet-20 on this CPU",
        "",
        JPEG_CEILING,
        "",
        f"`{record['command']}` on {record['date']}; {record['machine']}; 1-minute load average "
        f"{record['load_avg_before'][0]} before, {record['load_avg_after'][0]} after (the "
        "machine is shared: absolute speeds depend on the load, the fp32/bf16 ratio less so).",
        "",
        f"## Training speed, batch 128 (forward + backward + SGD step), alternated "
        f"(measured {record['speed_measured']})",
        "",
        "| variant | median images/s | min | max |",
        "|---|---|---|---|",
    ]
    for n, r in record["speed_batch128"].items():
        lines.append(f"| {n} | {r['median_images_per_s']} | {r['min']} | {r['max']} |")
    if "short_run" in record:
        r = record["short_run"]
        lines += [
            "",
            "## Short schedule (the resnet_cifar recipe, cosine over the stated epochs)",
            "",
            f"- {r['epochs']} epoch(s) over {r['train_images']:,} training images, "
            f"{r['precision']}: **test accuracy {r['test_acc']:.2%}** on "
            f"{r['test_images']:,} test images (subsets spread evenly over the classes)",
            f"- training time {r['train_seconds']:.0f} s ({r['images_per_s']:.0f} images/s), "
            f"whole process {r['process_wall_seconds']:.0f} s",
        ]
    lines += [
        "",
        "The paper's full schedule for ResNet-20 (64k steps of 128, 8.75% error in the paper) "
        "ran on a CPU: cifar10_fast.md. ResNet-56 (6.97%) and DenseNet-BC (L=100, k=12; 4.51%) "
        "at their full schedules need a GPU: scripts/gpu_paper_recipes.sh.",
    ]
    (RESULTS / "cifar10_resnet20.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    main()
