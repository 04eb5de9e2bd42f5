"""The degradation problem on CIFAR-10 (He et al. 2015, Sec. 4.2, Figure 6) on this CPU: plain-20,
plain-56, ResNet-20 and ResNet-56 trained with one shared schedule, then the paper's figure:
training error (dashed) and test error (solid) against epochs, plain networks on the left,
residual networks on the right.

    PYTHONPATH=src python benchmarks/degradation.py [--epochs 8] [--runs runs/degradation]

Every network trains with exactly (one at a time; a run left unfinished resumes):

    classicnets train --recipe resnet_cifar --model MODEL \\
        --data-dir ../shared/datasets/cifar10-jpg.tar.gz --run-dir RUNS/MODEL --seed 0 \\
        --steps 390*E --set milestones=[195*E,292*E] --set precision=bf16 \\
        --set channels_last=true --quiet

That is the paper's recipe (``resnet_cifar``: batch 128, SGD momentum 0.9, weight decay 1e-4,
lr 0.1 divided by 10 twice, 4-pixel pad + random crop + flip, one centred test view) with its
64k steps shortened to E epochs and its milestones kept at the same fractions (32k/64k = 1/2,
48k/64k = 3/4). bf16 autocast + channels_last where the CPU has bf16 instructions (avx512_bf16
or amx_bf16), fp32 elsewhere. Training error is what ``metrics.csv`` records as ``train_acc``: the
augmented training batches of each epoch, in training mode, as the paper's curves are.

Results: benchmarks/results/cifar10_degradation.{md,png,json}.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from classicnets.tools.bench.machine import describe_machine

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
ARCHIVE = ROOT.parent / "shared" / "datasets" / "cifar10-jpg.tar.gz"
MODELS = ("plain20", "plain56", "resnet20", "resnet56")
STEPS_PER_EPOCH = 390  # 50,000 // 128: the sampler drops the last partial batch


def precision(machine: dict[str, str]) -> str:
    flags = machine["cpu flags"]
    return "bf16" if "avx512_bf16: yes" in flags or "amx_bf16: yes" in flags else "fp32"


def command(model: str, run_dir: Path, epochs: int, prec: str) -> list[str]:
    steps = STEPS_PER_EPOCH * epochs
    milestones = f"[{steps // 2},{steps * 3 // 4}]"
    return ["classicnets", "train", "--recipe", "resnet_cifar", "--model", model,
            "--data-dir", str(ARCHIVE), "--run-dir", str(run_dir), "--seed", "0",
            "--steps", str(steps), "--set", f"milestones={milestones}",
            "--set", f"precision={prec}", "--set", f"channels_last={str(prec == 'bf16').lower()}",
            "--quiet"]  # fmt: skip


def train(model: str, run_dir: Path, epochs: int, prec: str) -> None:
    """Run (or finish: re-running into the run directory resumes) one network."""
    if (run_dir / "summary.json").is_file():
        return
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    start = time.time()
    subprocess.run([sys.executable, "-m", *command(model, run_dir, epochs, prec)], env=env,
                   check=True)  # fmt: skip
    wall = run_dir / "wall_seconds.txt"
    previous = float(wall.read_text()) if wall.is_file() else 0.0
    wall.write_text(f"{previous + time.time() - start:.1f}\n")


def curve(run_dir: Path) -> list[dict[str, float]]:
    """Per epoch: training error on that epoch's augmented batches, test error, seconds."""
    with (run_dir / "metrics.csv").open() as f:
        return [
            {
                "epoch": int(r["epoch"]),
                "train_error": 100 * (1 - float(r["train_acc"])),
                "test_error": 100 * (1 - float(r["test_acc"])),
                "epoch_seconds": float(r["epoch_time_s"]),
            }
            for r in csv.DictReader(f)
        ]


def plot(path: Path, curves: dict[str, list[dict[str, float]]], title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), sharey=True)
    colours = {"20": "tab:orange", "32": "tab:green", "44": "tab:blue", "56": "tab:red"}
    for ax, kind, label in ((axes[0], "plain", "plain"), (axes[1], "resnet", "ResNet")):
        for model, rows in curves.items():
            if not model.startswith(kind):
                continue
            depth = model.removeprefix(kind)
            epochs = [r["epoch"] for r in rows]
            c = colours.get(depth, "k")
            ax.plot(epochs, [r["train_error"] for r in rows], ls="--", c=c, lw=1.2)
            ax.plot(epochs, [r["test_error"] for r in rows], ls="-", c=c, lw=1.8,
                    label=f"{label}-{depth}")  # fmt: skip
        ax.set_title(f"{label} networks")
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(title="dashed: training error\nsolid: test error", fontsize=9)
    axes[0].set_ylabel("error (%)")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--models", nargs="+", default=list(MODELS))
    ap.add_argument("--runs", default=str(ROOT / "runs" / "degradation"))
    ap.add_argument("--no-train", action="store_true", help="only summarise existing runs")
    ap.add_argument("--out", default=str(RESULTS / "cifar10_degradation"))
    args = ap.parse_args()
    machine = describe_machine()
    prec = precision(machine)
    runs = {m: Path(args.runs) / m for m in args.models}
    if not args.no_train:
        for m, d in runs.items():
            train(m, d, args.epochs, prec)
    curves = {m: curve(d) for m, d in runs.items() if (d / "metrics.csv").is_file()}
    steps = STEPS_PER_EPOCH * args.epochs
    schedule = (
        f"the paper's CIFAR recipe (resnet_cifar) shortened to {args.epochs} epochs "
        f"({steps} steps of 128): lr 0.1, /10 at steps {steps // 2} and {steps * 3 // 4}; "
        f"{prec}{' + channels_last' if prec == 'bf16' else ''}; seed 0"
    )
    result = {
        "machine": f"{machine['cpu']}, {machine['cores']} cores; {machine['cpu flags']}; "
        f"torch {machine['torch']}",
        "schedule": schedule,
        "runs": [
            {
                "model": m,
                "final_train_error": round(rows[-1]["train_error"], 2),
                "final_test_error": round(rows[-1]["test_error"], 2),
                "epochs": rows[-1]["epoch"],
                "train_minutes": round(sum(r["epoch_seconds"] for r in rows) / 60, 1),
                "curve": [{k: round(v, 2) for k, v in r.items()} for r in rows],
            }
            for m, rows in curves.items()
        ],
    }
    out = Path(args.out)
    out.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n")
    plot(
        out.with_suffix(".png"),
        curves,
        f"CIFAR-10 (shared JPEG copy), {args.epochs} epochs, {machine['cpu']}: "
        "the paper's Figure 6 in miniature",
    )
    for r in result["runs"]:
        print(f"{r['model']:>9}: train error {r['final_train_error']:.2f}%, test error "
              f"{r['final_test_error']:.2f}%, {r['train_minutes']} min")  # fmt: skip


if __name__ == "__main__":
    main()
