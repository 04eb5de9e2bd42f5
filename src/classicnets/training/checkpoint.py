"""Full-state checkpoints, written atomically, and the RNG states they carry.

A checkpoint is a dict of plain containers and tensors (so it loads with
``torch.load(weights_only=True)``): model, optimizer, schedule, grad scaler and EMA states, the
position (epoch, step, batch within the epoch), every RNG state, the epoch's running sums, the
metric history, the resolved config and the code version. It is written to a temporary file in
the same folder, flushed and fsynced, then renamed over the old one: a crash while writing
leaves the previous checkpoint intact.

The schema: :class:`TrainingParts` (what has a state dict), :class:`State` (where the run is,
with the running :class:`EpochSums`), :func:`snapshot` and :func:`restore`.
"""

from __future__ import annotations

import random
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..runtime import distributed
from ..runtime.checkpoint_io import CheckpointError
from .optim import ModelEma
from .schedule import LRSchedule

CHECKPOINT_FORMAT = 1
#: settings a resumed run must share with the run that wrote the checkpoint
MUST_MATCH = ("model", "dataset", "batch_size", "seed", "input_size", "grad_accum")


def resume_point(run_dir: Path, resume: str | Path | None) -> Path | None:
    """The checkpoint to continue from: ``resume`` (a run directory or a file), else the run
    directory's ``last.pt`` when there is one."""
    if resume is not None:
        p = Path(resume)
        path = p / "last.pt" if p.is_dir() else p
        if not path.is_file():
            raise CheckpointError(f"cannot resume: no checkpoint at {path}")
        return path
    if (run_dir / "last.pt").is_file():
        return run_dir / "last.pt"
    return None


def link_best(run_dir: Path) -> None:
    """best.pt = the checkpoint just written (a hard link: last.pt is replaced, never edited)."""
    best, last = run_dir / "best.pt", run_dir / "last.pt"
    tmp = run_dir / ".best.pt.tmp"
    tmp.unlink(missing_ok=True)
    try:
        tmp.hardlink_to(last)
    except OSError:
        shutil.copy2(last, tmp)
    tmp.replace(best)


# -- RNG states --------------------------------------------------------------------------------


def capture_rng() -> dict[str, Any]:
    """Every RNG the loop draws from: Python, NumPy, torch CPU and CUDA."""
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": (
            np_state[0],
            torch.from_numpy(np_state[1].copy()),
            int(np_state[2]),
            int(np_state[3]),
            float(np_state[4]),
        ),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    random.setstate(_to_tuple(state["python"]))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _to_tuple(x: Any) -> Any:
    return tuple(_to_tuple(v) for v in x) if isinstance(x, list | tuple) else x


def code_version() -> str:
    """The package version, plus the git commit when running from a checkout."""
    from .. import __version__

    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return f"{__version__}+{commit}" if commit else __version__


# -- the schema ------------------------------------------------------------------------------------


@dataclass
class TrainingParts:
    """What a run trains and checkpoints: the model and the state that moves with it."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    schedule: LRSchedule
    scaler: torch.amp.GradScaler
    ema: ModelEma | None = None

    @property
    def final(self) -> nn.Module:
        """The weights a run delivers and evaluates: the averaged ones when EMA is on."""
        return self.ema.module if self.ema is not None else self.model


@dataclass
class EpochSums:
    """Running sums of the current epoch (saved in checkpoints for mid-epoch resumption)."""

    loss: float = 0.0
    correct: int = 0
    seen: int = 0
    skipped: int = 0
    seconds: float = 0.0

    def state(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def total(self, info: distributed.DistInfo) -> EpochSums:
        """The sums over all processes (the time is this process's)."""
        if not info.enabled:
            return self
        t = torch.tensor([self.loss, self.correct, self.seen, self.skipped], dtype=torch.float64)
        loss, correct, seen, skipped = distributed.all_reduce_sum(t, info).tolist()
        return EpochSums(loss, round(correct), round(seen), round(skipped), self.seconds)


@dataclass
class State:
    """Where the run is: everything that is not a module, an optimizer or an RNG."""

    step: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    best_acc: float = -1.0
    sums: EpochSums = field(default_factory=EpochSums)
    last_eval: dict[str, Any] | None = None  # confusion matrix etc. of the latest evaluation

    def train_seconds(self, *, partial: bool = False) -> float:
        """Seconds spent in training steps (evaluation excluded), over the completed epochs
        (and the current one's so far, with ``partial``)."""
        done = sum(r["epoch_time_s"] for r in self.history)
        return done + (self.sums.seconds if partial else 0.0)


def snapshot(
    parts: TrainingParts, state: State, config: dict[str, Any], meta: dict[str, Any], world: int
) -> dict[str, Any]:
    """The checkpoint of a run: ``state`` holds the totals over all ``world`` processes."""
    return {
        "format": CHECKPOINT_FORMAT,
        "version": code_version(),
        "config": config,
        "meta": meta,
        "model": parts.model.state_dict(),
        "optimizer": parts.optimizer.state_dict(),
        "schedule": parts.schedule.state_dict(),
        "scaler": parts.scaler.state_dict(),
        "ema": parts.ema.state_dict() if parts.ema is not None else None,
        "step": state.step,
        "epoch_sums": state.sums.state(),
        "history": state.history,
        "best_acc": state.best_acc,
        "last_eval": state.last_eval,
        "rng": capture_rng(),
        "world_size": world,
    }


def restore(
    ckpt: dict[str, Any],
    path: Path,
    config: dict[str, Any],
    parts: TrainingParts,
    *,
    is_main: bool,
    classes: Sequence[str] | None = None,
) -> State:
    """Load ``ckpt`` (read from ``path``) into ``parts`` and the RNGs; the run's :class:`State`.
    Refuses a checkpoint written under other :data:`MUST_MATCH` settings than ``config``, and
    one trained on other classes than the run's data (``classes``), before touching anything."""
    saved = ckpt["config"]
    changed = [k for k in MUST_MATCH if saved.get(k) != config[k]]
    if changed:
        raise CheckpointError(
            f"{path} was written by a run with different "
            + ", ".join(f"{k} ({saved.get(k)!r}, now {config[k]!r})" for k in changed)
            + "; use another run directory for a different configuration"
        )
    _check_classes(ckpt, path, parts.model, classes)
    parts.model.load_state_dict(ckpt["model"])
    parts.optimizer.load_state_dict(ckpt["optimizer"])
    parts.schedule.load_state_dict(ckpt["schedule"])
    parts.scaler.load_state_dict(ckpt["scaler"])
    if parts.ema is not None and ckpt.get("ema"):
        parts.ema.load_state_dict(ckpt["ema"])
    restore_rng(ckpt["rng"])
    sums = EpochSums(**ckpt["epoch_sums"])
    if not is_main:  # the checkpoint holds the totals over all processes: count them once
        sums = EpochSums(seconds=sums.seconds)
    return State(
        step=int(ckpt["step"]),
        history=list(ckpt["history"]),
        best_acc=float(ckpt["best_acc"]),
        sums=sums,
        last_eval=ckpt.get("last_eval"),
    )


def _check_classes(
    ckpt: dict[str, Any], path: Path, model: nn.Module, classes: Sequence[str] | None
) -> None:
    """The checkpoint's run and this one classify the same classes, or a one-line refusal that
    names both (another data folder in a run directory, or ``--resume`` with it)."""
    theirs = list(ckpt.get("meta", {}).get("classes") or [])
    shapes = model.state_dict()
    mismatch = [k for k, v in ckpt["model"].items() if k in shapes and shapes[k].shape != v.shape]
    if not (mismatch or (classes is not None and theirs and list(classes) != theirs)):
        return
    ours = list(classes) if classes is not None else None
    raise CheckpointError(
        f"{path} is a run on {_listed(theirs)}, but this run's data has "
        + (_listed(ours) if ours is not None else f"{getattr(model, 'num_classes', '?')} classes")
        + ": train on this data in another --run-dir (--pretrained "
        + f"{path.parent} starts it from these weights); nothing was changed"
    )


def _listed(classes: Sequence[str] | None) -> str:
    if not classes:
        return "unknown classes"
    names = ", ".join(classes[:6]) + (", ..." if len(classes) > 6 else "")
    return f"{len(classes)} classes ({names})"
