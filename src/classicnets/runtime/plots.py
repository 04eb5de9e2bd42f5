"""The two figures training and evaluation both draw: learning curves and a confusion matrix
(matplotlib, Agg back end, imported on first use)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch


def plot_curves(history: Sequence[dict[str, Any]], loss_png: Path, acc_png: Path) -> None:
    """Loss and accuracy per epoch, train and test, as two PNG files."""
    import matplotlib.pyplot as plt

    for fig, path in zip(curve_figures(history), (loss_png, acc_png), strict=True):
        fig.savefig(path, bbox_inches="tight")
        plt.close(fig)


def curve_figures(history: Sequence[dict[str, Any]]) -> list[Any]:
    """The loss and the accuracy figures: titled, whole epochs on the x axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    epochs = [r["epoch"] for r in history]
    figures = []
    for key, label, title in (
        ("loss", "loss", "Loss per epoch"),
        ("acc", "accuracy (%)", "Top-1 accuracy per epoch"),
    ):
        fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
        scale = 100 if key == "acc" else 1
        for split, style in (("train", "-o"), ("test", "-s")):
            pts = [(e, r[f"{split}_{key}"]) for e, r in zip(epochs, history, strict=True)]
            pts = [(e, v * scale) for e, v in pts if v is not None]
            if pts:
                ax.plot(*zip(*pts, strict=True), style, label=split, markersize=3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        figures.append(fig)
    return figures


def plot_confusion(cm: torch.Tensor, classes: Sequence[str], path: Path, title: str) -> None:
    """The confusion matrix (rows: true class, columns: predicted), counts in the cells."""
    import matplotlib.pyplot as plt

    fig = confusion_figure(cm, classes, title)
    fig.savefig(path, bbox_inches="tight")  # long class names and titles are not cut off
    plt.close(fig)


def confusion_figure(cm: torch.Tensor, classes: Sequence[str], title: str) -> Any:
    """The confusion matrix's matplotlib figure; the title is wrapped to the figure's width (a
    few classes make a narrow figure, and a run's title names model, dataset and accuracy)."""
    import textwrap

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
    ax.set_title(textwrap.fill(title, width=int(size * 9)))  # about 9 title characters an inch
    fig.tight_layout()
    return fig
