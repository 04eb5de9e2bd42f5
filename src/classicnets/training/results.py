"""What a completed run leaves besides its checkpoints: the final weights
(model.safetensors), the plots (drawn by :mod:`classicnets.runtime.plots`), summary.json, the
closing lines that say how the run ended and where its files are, and report.html."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..data import DataBundle
from ..runtime.plots import plot_confusion, plot_curves
from .checkpoint import State, code_version
from .config import TrainConfig
from .setup import Run


def write_run_results(run: Run) -> None:
    """Rank 0, after the last step: the final weights, the plots and summary.json with the
    closing lines, then report.html when the config asks for it."""
    _write_final_weights(run.run_dir, run.cfg, run.data, run.parts.final)
    _write_results(run.run_dir, run.state, run.data.classes, _about(run))
    if run.cfg.report:
        _write_report(run.run_dir)


def _write_results(
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
    # the unreadable images are not named again here: the opening lines named those found
    # when the data was opened, a warning each one met later; summary.json lists them all
    print(
        f"done: test accuracy {f'{acc:.2%}' if acc is not None else 'n/a'} after "
        f"{_count(len(state.history), 'epoch')} ({summary['train_seconds']:.0f}s of training)\n"
        f"run files in {run_dir}/: {', '.join(files)}",
        flush=True,
    )


def _summary(
    state: State, classes: Sequence[str], about: dict[str, Any], files: list[str]
) -> dict[str, Any]:
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


def _write_final_weights(
    run_dir: Path, cfg: TrainConfig, data: DataBundle, final: nn.Module
) -> None:
    """model.safetensors: the delivered weights, with what is needed to use them."""
    from ..weights import save_weights

    save_weights(
        final,
        run_dir / "model.safetensors",
        classes=data.classes,
        preprocessing=data.preprocessing,
        options=cfg.model_options,
        source=f"classicnets train, run {run_dir.name}",
        config=cfg.to_dict(),
    )


def _write_report(run_dir: Path) -> None:
    """report.html; a failure here is reported and leaves every result already written."""
    from ..evaluation.report import write_report

    try:
        print(f"report: {write_report(run_dir)}", flush=True)
    except Exception as e:  # the run's results are complete without it
        print(f"warning: report.html not written ({type(e).__name__}: {e})", file=sys.stderr)


def _about(run: Run) -> dict[str, Any]:
    """What the summary says about the run besides its results."""
    cfg, info = run.cfg, run.info
    return {
        "model": cfg.model,
        "dataset": cfg.dataset,
        "recipe": cfg.recipe,
        "warmup_ended_at": run.parts.schedule.warmup_ended_at,
        "device": str(info.device),
        "world_size": info.world_size,
        "precision": cfg.precision,
        "fine_tuning": run.fine_tuning,
        "skipped_files": _skipped_files(run),
    }


def _skipped_files(run: Run) -> list[str]:
    """Every image left out as unreadable, with the reason: those found when the splits were
    opened (training and test; the opening lines named them) and those met while training
    (after a resume: since then; named in a warning when met)."""
    found = dict.fromkeys(run.stepper.skipped)
    for bad in run.data.unreadable.values():
        found.update(dict.fromkeys(f"{path} ({reason})" for path, reason in bad.items()))
    return sorted(found)
