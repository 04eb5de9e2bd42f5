"""The run directory's rules: where a run writes, that one training at a time writes there,
the paths its files store, and what running again in a directory that already holds a run does
(resume it, extend it, or say it is complete; refuse changed settings its files would
misdescribe)."""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from ..errors import ClassicNetsError
from ..runtime.checkpoint_io import load
from ..runtime.dirlock import DirectoryInUseError, DirectoryLock, ensure_free, read_holder
from ..runtime.distributed import DistInfo, all_reduce_sum
from .config import ConfigError, TrainConfig, resolve
from .setup import Run


def resume_source(resume: str | None, run_dir: str | None) -> str | None:
    """What a ``train`` call continues from: ``resume`` (a run directory or checkpoint; ``""``,
    a bare ``--resume``, means ``run_dir``), else ``run_dir`` when it already holds a
    ``last.pt`` (running again into a run directory continues it), else None (a fresh run)."""
    if resume == "":
        if not run_dir:
            raise ClassicNetsError("--resume without a path needs --run-dir")
        resume = run_dir
    _refuse_if_in_use(_directory_of(resume) if resume is not None else run_dir)
    if resume is None and run_dir and (Path(run_dir) / "last.pt").is_file():
        return run_dir
    return resume


def run_config(
    recipe: str | None,
    overrides: dict[str, Any],
    *,
    resume: str | None,
    model_given: bool,
    log: Callable[[str], None] | None = None,
) -> TrainConfig:
    """The configuration of a run: the recipe with ``overrides``, over the checkpoint's saved
    configuration when it continues from ``resume``. A fresh run with ``pretrained`` weights and
    no model given takes the architecture the weights name; a data folder without a dataset
    selects one, said through ``log``."""
    saved = load(resume)["config"] if resume is not None else None
    cfg = resolve(recipe, overrides, saved=saved, log=log)
    if cfg.pretrained and not model_given and saved is None:
        from .pretrained import inspect_source

        arch = inspect_source(cfg.pretrained, cfg.model).architecture
        cfg = dataclasses.replace(cfg, model=arch or cfg.model)  # the weights name it
    return cfg


def resolve_run_dir(cfg: TrainConfig, resume: str | Path | None) -> Path:
    """The directory of ``resume`` (a run directory or a checkpoint in one), else ``run_dir``,
    else a new ``runs/<model>-<dataset>-<time>``."""
    if resume is not None:
        return _directory_of(resume)
    if cfg.run_dir:
        return Path(cfg.run_dir)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{cfg.model}-{cfg.dataset}-{stamp}"


def _directory_of(resume: str | Path) -> Path:
    """The run directory of ``resume``: itself, or the directory of the checkpoint it names."""
    p = Path(resume)
    return p if p.is_dir() else p.parent


class RunDirInUseError(DirectoryInUseError):
    """A run directory that another training holds."""

    def __str__(self) -> str:
        return (
            f"{self.directory} is in use by another training ({self.who}); wait for it to "
            "finish or use another --run-dir"
        )


def _refuse_if_in_use(run_dir: str | Path | None) -> None:
    """Refuse a ``train`` call whose run directory another training holds, before its files are
    read. Rank 0 of a torchrun job only (the ``RANK`` it sets): the other ranks would find
    their own job's rank 0 holding it. :func:`hold_run_dir` then takes the directory."""
    if run_dir is None or int(os.environ.get("RANK", "0")) != 0:
        return
    try:
        ensure_free(run_dir)
    except DirectoryInUseError as e:
        raise RunDirInUseError(e.directory, e.holder) from None


@contextmanager
def hold_run_dir(run_dir: Path, info: DistInfo) -> Iterator[None]:
    """Hold ``run_dir`` for one training, or refuse at once naming the training that holds it.

    Rank 0 holds it for its job (the ranks of one job must not refuse each other); the job's
    processes learn together whether it did, so all of them stop with the refusal. The kernel
    drops the hold when the process ends, however it ends (runtime/dirlock.py)."""
    lock, busy = None, None
    if info.is_main:
        try:
            lock = DirectoryLock.acquire(run_dir)
        except DirectoryInUseError as e:
            busy = e
    try:
        refused = busy is not None
        if info.enabled:
            refused = bool(all_reduce_sum(torch.tensor([int(refused)]), info).item())
        if refused:
            raise RunDirInUseError(run_dir, busy.holder if busy else read_holder(run_dir))
        yield
    finally:
        if lock is not None:
            lock.release()


def absolute_paths(cfg: TrainConfig) -> TrainConfig:
    """Paths stored absolute in config.toml and checkpoints: the run can be resumed, evaluated
    or fine-tuned from anywhere."""
    changes = {}
    if cfg.data_dir:
        changes["data_dir"] = str(Path(cfg.data_dir).expanduser().resolve())
    if cfg.pretrained and Path(cfg.pretrained).expanduser().exists():
        changes["pretrained"] = str(Path(cfg.pretrained).expanduser().resolve())
    return dataclasses.replace(cfg, **changes)


#: Settings that change neither the weights nor what the run's files say about them.
_BOOKKEEPING = frozenset(
    {"quiet", "run_dir", "workers", "data_cache", "threads", "device", "tensorboard",
     "stop_after", "checkpoint_every", "retain_memory", "epochs", "steps"}
)  # fmt: skip


def may_continue(run: Run, saved: dict[str, Any], previous_total: int | None) -> bool:
    """Whether a resumed run has anything to train (it says so when it has not); refuses
    changed settings that the run's files would misdescribe once it is complete, warns about
    them mid-run, and says what extending does. ``saved``: the checkpoint's config;
    ``previous_total``: the steps its run was set to train (None: not recorded)."""
    cfg, step = run.cfg.to_dict(), run.state.step
    changed = {k: (saved.get(k), v) for k, v in cfg.items() if k not in _BOOKKEEPING}
    changed = {k: sv for k, sv in changed.items() if k in saved and sv[0] != sv[1]}
    described = ", ".join(f"{k} = {a!r} (now {b!r})" for k, (a, b) in changed.items())
    if previous_total is None:  # a checkpoint written before total_steps was recorded
        previous_total = step + 1 if not (run.run_dir / "summary.json").is_file() else step
    if step >= previous_total and changed:
        raise ConfigError(
            f"{run.run_dir} is a complete run trained with {described}; its files describe those "
            "settings. Train the new settings in another --run-dir (--pretrained "
            f"{run.run_dir} starts from these weights)"
        )
    if changed:
        run.log(f"note: changed settings apply from step {step} on: {described}")
    if step >= run.total_steps:
        run.log(
            f"run already complete: {run.run_dir} trained all {step} steps; nothing to do. "
            "Raise --epochs/--steps to train longer, or use another --run-dir"
        )
        return False
    if step >= previous_total:
        lr = run.parts.schedule.lr_at(step)
        run.log(
            f"extending a finished run from {step} to {run.total_steps} steps: the "
            f"{cfg['schedule']} schedule is recomputed over the new length, so training goes on "
            f"at lr {lr:.3g} from step {step} (where the finished schedule had ended its decay)"
        )
    return True
