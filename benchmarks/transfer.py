"""Transfer learning on CIFAR-10: does starting from pretrained weights beat training from scratch?

1. Pretrain a CIFAR ResNet-20 with ``classicnets train`` on classes 0-4 (airplane, automobile,
   bird, cat, deer; all 25,000 of their training images).
2. On classes 5-9 (dog, frog, horse, ship, truck) with 100 training images per class, train with
   the same step budget: from scratch, a linear probe (``recipes/linear_probe.toml``), full
   fine-tuning (``recipes/finetune.toml``) and fine-tuning with ``layer_decay``; evaluate each on
   all 5,000 test images of classes 5-9.

Data: ../shared/datasets/cifar10-jpg.tar.gz extracted once to ~/.cache/classicnets/cifar10; the
class subsets are ImageFolder folders of symbolic links under ~/.cache/classicnets/transfer.
Results: benchmarks/results/transfer.{json,md}. Accuracy is deterministic (CPU, seed 0); the
machine these ran on was shared, so no time is reported.

    PYTHONPATH=src python benchmarks/transfer.py [--pretrain-epochs 1] [--steps 100]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
ARCHIVE = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "cifar10-jpg.tar.gz"
CACHE = Path.home() / ".cache" / "classicnets"
WORK = CACHE / "transfer"


def prepare(per_class: int) -> tuple[Path, Path]:
    """The pretraining folder (classes 0-4, all images) and the target folder (classes 5-9,
    ``per_class`` training images each, all test images), as symbolic links."""
    src = CACHE / "cifar10"
    if not (src / "train").is_dir():
        src.mkdir(parents=True, exist_ok=True)
        with tarfile.open(ARCHIVE) as tar:
            tar.extractall(src, filter="data")
    classes = sorted(p.name for p in (src / "train").iterdir())
    plan = [
        ("pretrain", "train", classes[:5], None),
        ("pretrain", "test", classes[:5], None),
        ("target", "train", classes[5:], per_class),
        ("target", "test", classes[5:], None),
    ]
    for dest, split, names, limit in plan:
        for c in names:
            folder = WORK / dest / split / c
            folder.mkdir(parents=True, exist_ok=True)
            for f in sorted(os.listdir(src / split / c))[:limit]:
                if not (folder / f).exists():
                    (folder / f).symlink_to(src / split / c / f)
    return WORK / "pretrain", WORK / "target"


def train(args: list[str]) -> dict:
    """One ``classicnets train`` run; its summary.json."""
    cmd = [sys.executable, "-m", "classicnets", "train", "--quiet", *args]
    print("$", " ".join(cmd[1:]), flush=True)
    subprocess.run(cmd, check=True)
    run_dir = Path(args[args.index("--run-dir") + 1])
    return json.loads((run_dir / "summary.json").read_text())


def _pretrain_dir(epochs: int, subset: int | None) -> Path:
    return WORK / "runs" / f"pretrain-{subset or 'all'}-{epochs}ep"


def pretrain_args(data: Path, epochs: int, subset: int | None) -> list[str]:
    # the paper's CIFAR recipe (batch 128, lr 0.1, pad-crop and flips) with cosine over `epochs`
    args = [
        "--recipe", "resnet_cifar", "--dataset", "imagefolder", "--data-dir", str(data),
        "--epochs", str(epochs), "--set", "steps=", "--set", "schedule=cosine",
        "--set", "schedule_unit=epoch", "--set", "milestones=", "--set", "test_subset=1000",
        "--run-dir", str(_pretrain_dir(epochs, subset)),
    ]  # fmt: skip
    return args + (["--set", f"train_subset={subset}"] if subset else [])


def variants(pretrained: Path) -> dict[str, list[str]]:
    """The four ways to train on the target classes; each gets the same steps and batch."""
    return {
        "from scratch": [
            "--recipe", "resnet_cifar", "--set", "steps=", "--set", "schedule=cosine",
            "--set", "schedule_unit=epoch", "--set", "milestones=", "--lr", "0.1",
        ],
        "linear probe": ["--recipe", "linear_probe", "--pretrained", str(pretrained)],
        "full fine-tuning": ["--recipe", "finetune", "--pretrained", str(pretrained)],
        "fine-tuning, layer_decay 0.7": [
            "--recipe", "finetune", "--pretrained", str(pretrained), "--layer-decay", "0.7",
        ],
    }  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pretrain-epochs", type=int, default=1)
    ap.add_argument("--steps", type=int, default=100, help="optimizer steps of each target run")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--per-class", type=int, default=100)
    ap.add_argument("--only", default=None, help="run only the variant of this name")
    ap.add_argument(
        "--pretrain-subset", type=int, default=None, help="reduced run: N pretraining images"
    )
    ap.add_argument("--test-subset", type=int, default=None, help="reduced run: N test images")
    ap.add_argument("--out", default="transfer.json", help="file under benchmarks/results")
    opts = ap.parse_args()
    pre_data, target = prepare(opts.per_class)
    pre_dir = _pretrain_dir(opts.pretrain_epochs, opts.pretrain_subset)
    if not (pre_dir / "summary.json").is_file():
        train(pretrain_args(pre_data, opts.pretrain_epochs, opts.pretrain_subset))
    pre = json.loads((pre_dir / "summary.json").read_text())
    out = RESULTS / opts.out
    results = json.loads(out.read_text()) if out.is_file() else {}
    results["pretrain"] = {
        "epochs": pre["epochs"],
        "steps": pre["steps"],
        "train_images": opts.pretrain_subset or 25000,
        "test_acc_classes_0_4_1000_images": pre["test_acc"],
        "command": "classicnets train "
        + " ".join(pretrain_args(pre_data, opts.pretrain_epochs, opts.pretrain_subset)),
    }
    common = ["--dataset", "imagefolder", "--data-dir", str(target), "--model", "resnet20"]
    common += ["--steps", str(opts.steps), "--batch-size", str(opts.batch_size)]
    common += ["--set", "train_crop=pad_crop", "--set", "hflip=true"]  # the same for all four
    common += ["--set", f"eval_every={opts.steps}"]  # evaluated once, after the last step
    if opts.test_subset:
        common += ["--set", f"test_subset={opts.test_subset}"]
    for name, extra in variants(pre_dir).items():
        if opts.only and name != opts.only:
            continue
        tag = f"{pre_dir.name}-{opts.steps}x{opts.batch_size}-{opts.test_subset or 'all'}"
        run_dir = WORK / "runs" / name.split(",")[0].replace(" ", "_") / tag
        summary = train([*extra, *common, "--run-dir", str(run_dir)])
        results[name] = {
            "test_acc": summary["test_acc"],
            "test_images": sum(sum(r) for r in summary["confusion_matrix"]),
            "steps": summary["steps"],
            "command": "classicnets train " + " ".join([*extra, *common]),
        }
        RESULTS.mkdir(exist_ok=True)
        out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
