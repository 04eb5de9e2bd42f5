"""What a training run shows and writes: progress bars, epoch lines, the metrics CSV,
TensorBoard events, the plots (drawn by :mod:`classicnets.runtime.plots`) and the final summary."""

from __future__ import annotations

import csv
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from ..runtime.plots import plot_confusion, plot_curves

if TYPE_CHECKING:
    from .checkpoint import EpochSums, State

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


# -- epochs ----------------------------------------------------------------------------------------


def epoch_row(
    epoch: int, step: int, sums: EpochSums, lr: float, images_per_s: float
) -> dict[str, Any]:
    """One row of the history (metrics.csv): the training side; evaluation fills test_*."""
    return {
        "epoch": epoch + 1,
        "step": step,
        "lr": lr,
        "train_loss": sums.loss / max(sums.seen, 1),
        "train_acc": sums.correct / max(sums.seen, 1),
        "test_loss": None,
        "test_acc": None,
        "test_top5": None,
        "images_per_s": images_per_s,
        "epoch_time_s": sums.seconds,
        "skipped_images": sums.skipped,
    }


def epoch_line(row: dict[str, Any], num_epochs: int) -> str:
    line = (
        f"epoch {row['epoch']:>3}/{num_epochs}  train loss {row['train_loss']:.4f} "
        f"acc {row['train_acc']:.2%}"
    )
    if row.get("test_acc") is not None:
        line += f"  test loss {row['test_loss']:.4f} acc {row['test_acc']:.2%}"
    line += f"  lr {row['lr']:.3g}  {row['images_per_s']:.0f} img/s  {row['epoch_time_s']:.1f}s"
    if row["skipped_images"]:
        line += f"  skipped {row['skipped_images']}"
    return line


# -- the end of a run ------------------------------------------------------------------------------


def write_results(
    run_dir: Path, state: State, classes: Sequence[str], about: dict[str, Any]
) -> None:
    """Plots and summary.json, then the lines that say how the run ended and where its files
    are. ``about``: model, dataset, recipe, warmup_ended_at, device, world_size, precision,
    fine_tuning, skipped_files."""
    written = ["config.toml", "metrics.csv", "last.pt", "best.pt", "model.safetensors"]
    files = [f for f in written if (run_dir / f).is_file()]  # epochs = 0 writes no checkpoint
    if state.history:
        plot_curves(state.history, run_dir / "loss.png", run_dir / "accuracy.png")
        files += ["loss.png", "accuracy.png"]
    ev = state.last_eval
    if ev is not None:
        title = f"{about['model']} on {about['dataset']}: test accuracy {ev['top1']:.2%}"
        plot_confusion(ev["cm"], classes, run_dir / "confusion_matrix.png", title)
        files.append("confusion_matrix.png")
    if (run_dir / "tensorboard").is_dir():
        files.append("tensorboard/")
    summary = _summary(state, classes, about, files)
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    files.append("summary.json")
    acc = summary["test_acc"]
    if ev is not None and len(classes) <= 20:
        per_class = "  ".join(
            f"{c}: {a:.1%}" for c, a in zip(classes, ev["per_class"], strict=True)
        )
        print(f"per-class test accuracy ({ev['cm'].sum()} images): {per_class}")
    skipped = summary["skipped_files"]
    if skipped:
        print(f"skipped {_count(len(skipped), 'unreadable training image')}:")
        for line in skipped[:20]:
            print(f"  {line}")
        if len(skipped) > 20:
            print(f"  ... {len(skipped) - 20} more (summary.json lists every one)")
    print(
        f"done: test accuracy {f'{acc:.2%}' if acc is not None else 'n/a'} after "
        f"{_count(len(state.history), 'epoch')} ({summary['train_seconds']:.0f}s of training)\n"
        f"run files in {run_dir}/: {', '.join(files)}",
        flush=True,
    )


def _summary(
    state: State, classes: Sequence[str], about: dict[str, Any], files: list[str]
) -> dict[str, Any]:
    from .checkpoint import code_version

    history, ev = state.history, state.last_eval
    last = history[-1] if history else {}
    tested = [r for r in history if r.get("test_acc") is not None]
    best_epoch = max(tested, key=lambda r: r["test_acc"], default={}).get("epoch")
    return {
        "model": about["model"],
        "dataset": about["dataset"],
        "recipe": about["recipe"],
        "test_acc": last.get("test_acc"),
        "test_top5": last.get("test_top5"),
        "best_test_acc": state.best_acc if state.best_acc >= 0 else None,
        "best_epoch": best_epoch,
        "epochs": len(history),
        "steps": state.step,
        "train_seconds": round(state.train_seconds(), 2),
        "images_per_s": round(sum(r["images_per_s"] for r in history) / max(len(history), 1), 1),
        "skipped_images": sum(r["skipped_images"] for r in history),
        "skipped_files": about.get("skipped_files", []),
        "warmup_ended_at_step": about["warmup_ended_at"],
        "per_class_acc": dict(zip(classes, ev["per_class"], strict=True)) if ev else None,
        "confusion_matrix": ev["cm"].tolist() if ev else None,
        "classes": list(classes),
        "fine_tuning": about.get("fine_tuning"),
        "device": about["device"],
        "world_size": about["world_size"],
        "precision": about["precision"],
        "torch": torch.__version__,
        "version": code_version(),
        "files": files,
    }


def _count(n: int, noun: str) -> str:
    """``1 epoch``, ``2 epochs``."""
    return f"{n} {noun}{'' if n == 1 else 's'}"
