"""What a training run shows and writes while it trains: the opening lines, progress bars,
epoch lines, the metrics CSV and TensorBoard events. What a completed run writes at the end is
:mod:`classicnets.training.results`."""

from __future__ import annotations

import csv
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..data import class_counts, data_path_lines
from ..runtime.console import progress_bar

if TYPE_CHECKING:
    from .checkpoint import EpochSums
    from .setup import Run

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


def intro(run: Run) -> str:
    """The lines a run opens with: what trains on what, for how long, where; the data; what
    fine-tuning did."""
    cfg, data, size = run.cfg, run.data, run.data.preprocessing.input_size
    lines = [
        f"training {cfg.model} on {cfg.dataset} ({len(data.train)} train / {len(data.test)} test "
        f"images, {size}x{size}) for {run.total_steps} steps ({run.num_epochs} epoch(s) of "
        f"{run.steps_per_epoch}), {run.info.world_size} process(es) on {run.info.device}, "
        f"{cfg.precision}",
        f"run directory: {run.run_dir}",
    ]
    lines += _data_lines(run)
    done = run.fine_tuning or {}
    if "pretrained" in done:
        lines.append(f"pretrained: {done['pretrained']['summary']}")
    if "frozen" in done:
        lines.append(done["frozen"])
    if "freeze_bn" in done:
        lines.append(f"batch-norm statistics fixed ({done['freeze_bn']} batch norms)")
    return "\n".join(lines)


def _data_lines(run: Run) -> list[str]:
    """Images per class, and how many images each epoch leaves out (the incomplete batch)."""
    lines = []
    counts = class_counts(run.data.train)
    if counts is not None:
        shown = ", ".join(f"{c} {n}" for c, n in list(counts.items())[:20])
        more = f", ... ({len(counts)} classes)" if len(counts) > 20 else ""
        lines.append(f"training images per class: {shown}{more}")
    lines.extend(data_path_lines(run.data))
    dropped = len(run.data.train) - run.steps_per_epoch * run.cfg.batch_size
    if dropped:
        lines.append(
            f"each epoch leaves out {dropped} training image(s), a different random few each "
            f"epoch (the last incomplete batch of {run.cfg.batch_size})"
        )
    return lines


class Progress:
    """A per-epoch progress bar with loss, accuracy, images/s and ETA (tqdm); silent if quiet."""

    def __init__(self, *, total_images: int, desc: str, quiet: bool, initial: int = 0) -> None:
        self.bar = None
        self.start = time.perf_counter()
        self.images = 0
        if not quiet:  # a bar on a terminal only: in a log file it leaves fragments
            self.bar = progress_bar(
                total=total_images,
                initial=initial,
                desc=desc,
                unit="img",
                unit_scale=False,
                dynamic_ncols=True,
                leave=False,
                file=sys.stderr,
                mininterval=0.5,
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
