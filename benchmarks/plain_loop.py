"""A plain PyTorch training loop, written the usual way: the reference point for training speed.

ResNet-20 (``classicnets.create_model("resnet20", num_classes=10)``, the network the
library trains) on CIFAR-10 with nothing of the library's training pipeline:

* data: ``torchvision.datasets.ImageFolder`` over the JPEG copy of CIFAR-10, the usual
  augmentation (``RandomCrop(32, padding=4)``, ``RandomHorizontalFlip``, to a float tensor,
  ``Normalize`` with the CIFAR-10 mean/std; torchvision's ``transforms.v2`` by default,
  ``--transforms v1`` for the classic API), and ``torch.utils.data.DataLoader(batch_size=128,
  shuffle=True, num_workers=N, drop_last=True)``;
* optimisation: SGD, lr 0.1, momentum 0.9, weight decay 1e-4, no Nesterov, cross-entropy;
* ``--precision bf16``: ``torch.autocast("cpu", dtype=torch.bfloat16)`` around forward and
  loss; ``--channels-last``: the model and every batch in channels_last.

What is measured: end-to-end images/s over ``--steps`` timed steps that follow ``--warmup``
untimed ones, the way the user of such a loop experiences it: each timed step is "take the
next batch from the DataLoader, move it to the layout, forward, backward, SGD step", so data
loading and augmentation are included (with ``--workers 0`` they run in the training process;
with workers they overlap with the step and only the waiting shows). The time spent waiting
for the DataLoader is reported separately. When the timed steps run past the end of an epoch a
new epoch's iterator is made, as a user's ``for epoch ...: for x, y in loader`` does. CPU only.

This is the comparison point for ``benchmarks/data_pipeline.py``, which imports
:func:`run_plain_loop`: the library's training pipeline must match or beat this loop's
images/s at the same settings. Two process-wide settings leak between runs in one process:
``classicnets`` training switches on memory retention (``mallopt``, see
``classicnets.runtime.allocator``) and ``torch.use_deterministic_algorithms``; a plain loop run in
the
same process after it inherits both. Run each side in a fresh process, or this one first, to
measure it as a user's script runs. Only on a quiet machine: with other jobs running the
figures follow the load.

    PYTHONPATH=src python benchmarks/plain_loop.py                      # fp32, 3 timed steps
    PYTHONPATH=src python benchmarks/plain_loop.py --precision bf16 --channels-last --workers 2
    PYTHONPATH=src python benchmarks/plain_loop.py --steps 3 --warmup 1  # a smoke test

Data: ``--data-dir`` (an ImageFolder root with train/, or a .tar.gz of one); by default the
copy in the cache (``$CLASSICNETS_CACHE`` or ``~/.cache/classicnets``, folder ``cifar10`` or
``cifar10-jpg``), else ``../shared/datasets/cifar10-jpg.tar.gz`` beside the repository,
extracted once into the cache.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
import torchvision
from torch.utils.data import DataLoader
from torchvision import datasets

import classicnets

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
ARCHIVE = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "cifar10-jpg.tar.gz"


def cache_dir() -> Path:
    return Path(os.environ.get("CLASSICNETS_CACHE", Path.home() / ".cache" / "classicnets"))


def resolve_data_dir(data_dir: str | Path | None = None) -> Path:
    """The ImageFolder root holding train/: ``data_dir`` (a folder or a .tar.gz), else the
    cached copy, else the archive in ../shared extracted into the cache."""
    if data_dir is None:
        for name in ("cifar10", "cifar10-jpg"):
            if (cache_dir() / name / "train").is_dir():
                return cache_dir() / name
        if not ARCHIVE.is_file():
            raise SystemExit(
                f"no CIFAR-10 copy in {cache_dir()} and no archive at {ARCHIVE}: pass --data-dir"
            )
        data_dir = ARCHIVE
    p = Path(data_dir).expanduser()
    if p.is_file() and p.name.endswith((".tar.gz", ".tgz", ".tar")):
        from classicnets.data.datasets import extract_archive

        p = extract_archive(p)
    if not (p / "train").is_dir():  # an archive may hold one top-level folder
        inner = [d for d in p.iterdir() if d.is_dir()] if p.is_dir() else []
        if len(inner) == 1 and (inner[0] / "train").is_dir():
            p = inner[0]
        else:
            raise SystemExit(f"{p} has no train/ folder (expected train/<class>/*.jpg)")
    return p


def train_transform(api: str = "v2") -> Any:
    """The usual CIFAR augmentation: pad-4 random crop, flip, to float, normalize."""
    if api == "v1":
        from torchvision import transforms as T

        return T.Compose(
            [
                T.RandomCrop(32, padding=4),
                T.RandomHorizontalFlip(),
                T.ToTensor(),
                T.Normalize(CIFAR10_MEAN, CIFAR10_STD),
            ]
        )
    from torchvision.transforms import v2

    return v2.Compose(
        [
            v2.RandomCrop(32, padding=4),
            v2.RandomHorizontalFlip(),
            v2.ToImage(),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(CIFAR10_MEAN, CIFAR10_STD),
        ]
    )


def _batches(loader: DataLoader) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Epoch after epoch, as ``for epoch in ...: for x, y in loader`` would."""
    while True:
        yield from loader


def run_plain_loop(
    *,
    precision: str = "fp32",
    channels_last: bool = False,
    workers: int = 0,
    steps: int = 3,
    warmup: int = 3,
    batch_size: int = 128,
    data_dir: str | Path | None = None,
    threads: int | None = None,
    transforms: str = "v2",
    seed: int = 0,
    verbose: bool = True,
) -> dict[str, Any]:
    """Train ResNet-20 for ``warmup`` + ``steps`` steps with a plain loop; return the measured
    end-to-end images/s over the timed steps (data loading included) and the settings."""
    if precision not in ("fp32", "bf16"):
        raise ValueError(f"precision must be fp32 or bf16, not {precision!r}")
    if steps < 1 or warmup < 0:
        raise ValueError("steps must be >= 1 and warmup >= 0")
    old_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        root = resolve_data_dir(data_dir)
        torch.manual_seed(seed)
        dataset = datasets.ImageFolder(str(root / "train"), transform=train_transform(transforms))
        loader = DataLoader(
            dataset, batch_size=batch_size, shuffle=True, num_workers=workers, drop_last=True
        )
        model = classicnets.create_model("resnet20", num_classes=10)
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
        model.train()
        optimizer = torch.optim.SGD(
            model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4, nesterov=False
        )
        batches = _batches(loader)
        losses: list[float] = []
        step_seconds: list[float] = []
        wait = 0.0

        def step() -> float:
            x, y = next(batches)
            got = time.perf_counter()
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
                loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            return got

        for _ in range(warmup):
            step()
        start = time.perf_counter()
        t = start
        for _ in range(steps):
            got = step()
            now = time.perf_counter()
            wait += got - t
            step_seconds.append(now - t)
            t = now
        seconds = t - start
    finally:
        torch.set_num_threads(old_threads)
    result = {
        "images_per_s": round(steps * batch_size / seconds, 2),
        "seconds": round(seconds, 4),
        "data_wait_seconds": round(wait, 4),
        "step_seconds": [round(s, 4) for s in step_seconds],
        "loss_first": round(losses[0], 4),
        "loss_last": round(losses[-1], 4),
        "settings": {
            "model": "resnet20",
            "precision": precision,
            "channels_last": channels_last,
            "workers": workers,
            "steps": steps,
            "warmup": warmup,
            "batch_size": batch_size,
            "threads": threads or old_threads,
            "transforms": transforms,
            "seed": seed,
            "data_dir": str(root),
            "train_images": len(dataset),
        },
        "machine": _machine(),
    }
    if verbose:
        _print_result(result, seconds, wait)
    return result


def _machine() -> dict[str, Any]:
    """The machine a plain-loop result was measured on."""
    from classicnets.tools.bench.machine import cpu_flags, cpu_name

    return {
        "cpu": cpu_name(),
        "cpu flags": cpu_flags(),
        "cores": os.cpu_count(),
        "load average (1/5/15 min)": " ".join(f"{v:.2f}" for v in os.getloadavg()),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
    }


def _print_result(result: dict[str, Any], seconds: float, wait: float) -> None:
    """Print :func:`run_plain_loop`'s result (``seconds`` and ``wait`` unrounded)."""
    s = result["settings"]
    print(
        f"plain loop: resnet20, {s['precision']}"
        f"{' channels_last' if s['channels_last'] else ''}, batch {s['batch_size']}, "
        f"{s['workers']} workers, {s['threads']} threads, transforms {s['transforms']}, "
        f"{s['warmup']} warm-up + {s['steps']} timed steps"
    )
    print(
        f"  {result['images_per_s']} images/s end to end ({seconds:.3f} s, of which "
        f"{wait:.3f} s waiting for data); loss {result['loss_first']} -> "
        f"{result['loss_last']}"
    )
    m = result["machine"]
    print(f"  {m['cpu']}, {m['cores']} cores, load {m['load average (1/5/15 min)']}")
    print(f"  {m['cpu flags']}", flush=True)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--workers", type=int, default=0, help="DataLoader num_workers")
    p.add_argument("--steps", type=int, default=3, help="timed steps")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps before them")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--data-dir", default=None, help="ImageFolder root or .tar.gz of one")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    p.add_argument("--transforms", choices=["v1", "v2"], default="v2")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="also print the result as JSON")
    args = p.parse_args(argv)
    result = run_plain_loop(
        precision=args.precision,
        channels_last=args.channels_last,
        workers=args.workers,
        steps=args.steps,
        warmup=args.warmup,
        batch_size=args.batch_size,
        data_dir=args.data_dir,
        threads=args.threads,
        transforms=args.transforms,
        seed=args.seed,
    )
    if args.json:
        print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
