"""The run directory's rules: where a run writes, the paths its files store, and what running
again in a directory that already holds a run does (resume it, extend it, or say it is
complete; refuse changed settings its files would misdescribe)."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

from ..errors import ClassicNetsError
from ..runtime.checkpoint_io import load
from .config import ConfigError, TrainConfig, resolve
from .setup import Run


def resume_source(resume: str | None, run_dir: str | None) -> str | None:
    """What a ``train`` call continues from: ``resume`` (a run directory or checkpoint; ``""``,
    a bare ``--resume``, means ``run_dir``), else ``run_dir`` when it already holds a
    ``last.pt`` (running again into a run directory continues it), else None (a fresh run)."""
    if resume == "":
        if not run_dir:
            raise ClassicNetsError("--resume without a path needs --run-dir")
        return run_dir
    if resume is None and run_dir and (Path(run_dir) / "last.pt").is_file():
        return run_dir
    return resume


def run_config(
    recipe: str | None, overrides: dict[str, Any], *, resume: str | None, model_given: bool
) -> TrainConfig:
    """The configuration of a run: the recipe with ``overrides``, over the checkpoint's saved
    configuration when it continues from ``resume``. A fresh run with ``pretrained`` weights and
    no model given takes the architecture the weights name."""
    saved = load(resume)["config"] if resume is not None else None
    cfg = resolve(recipe, overrides, saved=saved)
    if cfg.pretrained and not model_given and saved is None:
        from .pretrained import inspect_source

        arch = inspect_source(cfg.pretrained, cfg.model).architecture
        cfg = dataclasses.replace(cfg, model=arch or cfg.model)  # the weights name it
    return cfg


def resolve_run_dir(cfg: TrainConfig, resume: str | Path | None) -> Path:
    """The directory of ``resume`` (a run directory or a checkpoint in one), else ``run_dir``,
    else a new ``runs/<model>-<dataset>-<time>``."""
    if resume is not None:
        p = Path(resume)
        return p if p.is_dir() else p.parent
    if cfg.run_dir:
        return Path(cfg.run_dir)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{cfg.model}-{cfg.dataset}-{stamp}"


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
