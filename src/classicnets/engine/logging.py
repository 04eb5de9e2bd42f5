"""What a run shows and writes: progress bars, the metrics CSV, TensorBoard events and plots."""

from __future__ import annotations

import csv
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

METRIC_COLUMNS = (
    "epoch",
    "step",
    "lr",
    "train_loss",
    "train_acc",
    "test_loss",
    "test_acc",
    "test_top5",
    "images_per_s",
    "epoch_time_s",
    "skipped_images",
)


class Progress:
    """A per-epoch progress bar with loss, accuracy, images/s and ETA (tqdm); silent if quiet."""

    def __init__(self, *, total_images: int, desc: str, quiet: bool, initial: int = 0) -> None:
        self.bar = None
        self.start = time.perf_counter()
        self.images = 0
        if not quiet:
            from tqdm import tqdm

            self.bar = tqdm(
                total=total_images,
                initial=initial,
                desc=desc,
                unit="img",
                unit_scale=False,
                dynamic_ncols=True,
                leave=False,
                file=sys.stderr,
                mininterval=0.5 if sys.stderr.isatty() else 30,
            )

    def update(self, images: int, loss: float, acc: float, lr: float) -> None:
        self.images += images
        if self.bar is not None:
            self.bar.set_postfix(
                loss=f"{loss:.4f}", acc=f"{acc:.2%}", lr=f"{lr:.3g}", refresh=False
            )
            self.bar.update(images)

    def write(self, msg: str) -> None:
        """A line of text that does not break the bar."""
        if self.bar is not None:
            self.bar.write(msg, file=sys.stdout)
        else:
            print(msg, flush=True)

    @property
    def images_per_s(self) -> float:
        return self.images / max(time.perf_counter() - self.start, 1e-9)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def write_metrics_csv(path: Path, history: Sequence[dict[str, Any]]) -> None:
    """Rewrite the whole CSV from the history (so a resumed run never holds stale rows)."""
    tmp = path.with_suffix(".csv.tmp")
    with tmp.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=METRIC_COLUMNS, extrasaction="ignore")
        w.writeheader()
        for row in history:
            w.writerow({k: _fmt(row.get(k)) for k in METRIC_COLUMNS})
    tmp.replace(path)


def _fmt(v: Any) -> Any:
    if isinstance(v, float):
        return f"{v:.6g}"
    return "" if v is None else v


class TensorBoard:
    """SummaryWriter when the tensorboard package is installed; otherwise nothing."""

    def __init__(self, log_dir: Path, enabled: bool, purge_step: int | None = None) -> None:
        self.writer = None
        if not enabled:
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            return
        self.writer = SummaryWriter(str(log_dir), purge_step=purge_step)

    def epoch(self, row: dict[str, Any]) -> None:
        if self.writer is None:
            return
        step = int(row["step"])
        for k in ("lr", "train_loss", "train_acc", "test_loss", "test_acc", "test_top5"):
            if row.get(k) is not None:
                self.writer.add_scalar(k.replace("_", "/", 1), row[k], step)
        self.writer.add_scalar("speed/images_per_s", row["images_per_s"], step)
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def plot_curves(history: Sequence[dict[str, Any]], loss_png: Path, acc_png: Path) -> None:
    """Loss and accuracy per epoch, train and test, as two PNG files."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] for r in history]
    for path, key, label in ((loss_png, "loss", "loss"), (acc_png, "acc", "accuracy (%)")):
        fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
        scale = 100 if key == "acc" else 1
        for split, style in (("train", "-o"), ("test", "-s")):
            pts = [(e, r[f"{split}_{key}"]) for e, r in zip(epochs, history, strict=True)]
            pts = [(e, v * scale) for e, v in pts if v is not None]
            if pts:
                ax.plot(*zip(*pts, strict=True), style, label=split, markersize=3)
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(path)
        plt.close(fig)


def plot_confusion(cm: torch.Tensor, classes: Sequence[str], path: Path, title: str) -> None:
    """The confusion matrix (rows: true class, columns: predicted), counts in the cells."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(classes)
    size = min(max(4.0, 0.45 * n + 2), 30)
    fig, ax = plt.subplots(figsize=(size, size), dpi=100)
    ax.imshow(cm.numpy(), cmap="Blues")
    if n <= 40:
        ax.set_xticks(range(n), classes, rotation=90 if n > 10 else 0)
        ax.set_yticks(range(n), classes)
        vmax = int(cm.max()) if cm.numel() else 0
        for i in range(n):
            for j in range(n):
                v = int(cm[i, j])
                if v:
                    color = "white" if v > vmax / 2 else "black"
                    ax.text(j, i, str(v), ha="center", va="center", color=color, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
