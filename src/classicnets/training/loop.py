"""Training, top to bottom: setup -> resume -> the loop of optimizer steps -> results.

``train(cfg)`` runs one configuration (see :mod:`classicnets.training.config`) and leaves a run
directory:

    config.toml          the resolved configuration
    metrics.csv          one row per epoch (loss, accuracy, lr, images/s, skipped images)
    tensorboard/         event files, when the tensorboard package is installed
    last.pt, best.pt     full-state checkpoints (the last one, the best test accuracy)
    model.safetensors    the final weights (the averaged ones when EMA is on), with metadata
    loss.png, accuracy.png, confusion_matrix.png
    summary.json         final and best accuracy, per-class accuracy, time, speed, files

One training at a time holds the directory (``.lock`` while it runs; a second is refused naming
the first, see :func:`~classicnets.training.rundir.hold_run_dir`).

The setup is :mod:`~classicnets.training.setup`, the run directory's rules
:mod:`~classicnets.training.rundir`, what a process computes for a micro-batch
:mod:`~classicnets.training.step`, what the run writes :mod:`~classicnets.training.logging` and
:mod:`~classicnets.training.results`. One optimizer step is written out in :func:`_train_epoch`.

Exactness: the data order and each sample's augmentation depend only on (seed, epoch, index)
(:mod:`classicnets.data.loader`), the model-side randomness (dropout, mixup) of step ``s`` on
process ``r`` is seeded from (seed, s, r), and checkpoints carry the full state. So on CPU in
deterministic mode, stopping at any step and resuming gives the same weights, bit for bit, as
never stopping.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..data.loader import grouped
from ..errors import ClassicNetsError
from ..evaluation.loop import evaluate_loader
from ..runtime import distributed
from ..runtime.allocator import retain_freed_memory
from ..runtime.checkpoint_io import load as load_checkpoint
from ..runtime.device import num_threads, seed_all, seed_step, set_deterministic
from . import checkpoint
from .checkpoint import EpochSums
from .config import TrainConfig, validate
from .logging import Progress, TensorBoard, epoch_line, epoch_row, intro, write_metrics_csv
from .optim import clip_gradients, set_lr
from .results import write_run_results
from .rundir import absolute_paths, hold_run_dir, may_continue, resolve_run_dir
from .setup import Run, setup_run
from .signals import StepSignals, StopFlag
from .step import tally


class TrainingDivergedError(ClassicNetsError, FloatingPointError):
    """The loss became NaN or infinite."""


@dataclass
class TrainResult:
    """How a call to :func:`train` ended, and where the run is."""

    run_dir: Path
    status: str  # "completed", "interrupted" (SIGINT/SIGTERM) or "stopped" (stop_after)
    step: int
    epoch: int
    test_acc: float | None = None
    best_acc: float | None = None
    train_seconds: float = 0.0
    signal: int | None = None


def train(cfg: TrainConfig, *, resume: str | Path | None = None) -> TrainResult:
    """Train as ``cfg`` says. ``resume``: a run directory or checkpoint to continue from;
    a ``cfg.run_dir`` that already holds ``last.pt`` is resumed too."""
    if cfg.retain_memory:
        retain_freed_memory()
    info = distributed.setup(cfg.device)
    try:
        with num_threads(cfg.threads):
            return _train(cfg, info, resume)
    finally:
        distributed.teardown(info)


def _train(cfg: TrainConfig, info: distributed.DistInfo, resume: str | Path | None) -> TrainResult:
    validate(cfg)
    cfg = absolute_paths(cfg)
    run_dir = resolve_run_dir(cfg, resume)
    with hold_run_dir(run_dir, info):  # before anything in it is read or written
        return _train_held(cfg, info, run_dir, resume)


def _train_held(
    cfg: TrainConfig, info: distributed.DistInfo, run_dir: Path, resume: str | Path | None
) -> TrainResult:
    # -- setup: resumption point, determinism, then data, model, optimizer ----------------------
    resume_from = checkpoint.resume_point(run_dir, resume)
    set_deterministic(cfg.deterministic, info.device)
    seed_all(cfg.seed)  # the same on every process, so the initial weights agree
    run = setup_run(cfg, info, run_dir)
    # -- resume ---------------------------------------------------------------------------------
    if resume_from is not None:
        saved = load_checkpoint(resume_from)
        run.state = checkpoint.restore(
            saved,
            resume_from,
            cfg.to_dict(),
            run.parts,
            is_main=info.is_main,
            classes=run.data.classes,
        )
        if not may_continue(run, saved["config"], saved["meta"].get("total_steps")):
            return _result(run, "completed")
        run.log(f"resuming from {resume_from} at step {run.state.step}")
    if info.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.toml").write_text(cfg.to_toml())
    purge = run.state.step or None
    tb = TensorBoard(run_dir / "tensorboard", info.is_main and cfg.tensorboard, purge)
    run.log(intro(run))
    # -- the loop: epochs of optimizer steps, each ended by an evaluation and a checkpoint -----
    with StopFlag() as stop:
        while run.state.step < run.total_steps:
            out = _train_epoch(run, stop)
            if not out.mid_epoch:
                _end_epoch(run, out, tb)
            if out.status != "completed":
                return _stopped(run, out)
    # -- results --------------------------------------------------------------------------------
    tb.close()
    if info.is_main:
        write_run_results(run)
    distributed.barrier(info)
    return _result(run, "completed")


# -- one epoch -------------------------------------------------------------------------------------


@dataclass
class _EpochOutcome:
    epoch: int
    lr: float = 0.0  # of the epoch's last step
    images_per_s: float = 0.0
    status: str = "completed"  # or "interrupted" (a signal), "stopped" (stop_after)
    signal: int | None = None
    mid_epoch: bool = False  # stopped before the epoch's last step


def _train_epoch(run: Run, stop: StopFlag) -> _EpochOutcome:
    """The optimizer steps from where the run is to the end of its epoch, or to a stop."""
    cfg, info, state, parts, stepper = run.cfg, run.info, run.state, run.parts, run.stepper
    epoch, start = divmod(state.step, run.steps_per_epoch)
    if start == 0:
        state.sums = EpochSums()
    sums = state.sums
    run.sampler.set_epoch(epoch, start)
    epoch_end = min((epoch + 1) * run.steps_per_epoch, run.total_steps)
    stepper.net.train()
    progress = Progress(
        total_images=(epoch_end - epoch * run.steps_per_epoch) * cfg.batch_size,
        initial=start * cfg.batch_size,
        desc=f"epoch {epoch + 1}/{run.num_epochs}",
        quiet=cfg.quiet or not info.is_main,
    )
    out = _EpochOutcome(epoch)
    tic = time.perf_counter()
    micro_batches = grouped(iter(run.loaders[0]), cfg.grad_accum)
    while state.step < epoch_end:
        # -- one optimizer step over the global batch ---------------------------------------
        out.lr = parts.schedule.lr_at(state.step)
        set_lr(parts.optimizer, out.lr)
        stop_asked = stop.signum is not None
        seed_step(cfg.seed, state.step, info.rank, info.device)  # this step's dropout, mixing
        hits_before, seen_before, nonfinite = sums.correct, sums.seen, False
        parts.optimizer.zero_grad(set_to_none=True)
        for batch, grad_sync in stepper.readable(next(micro_batches), sums):
            with grad_sync:  # DDP all-reduces the gradients after the last micro-batch only
                loss, logits, y, share = stepper.forward_loss(batch)
                parts.scaler.scale(loss * share).backward()  # the sum of the shares: the mean
            nonfinite |= not tally(sums, loss, logits, y)
        mine = StepSignals(
            int(nonfinite), int(stop_asked), sums.correct - hits_before, sums.seen - seen_before
        )
        signals = mine.all_reduce(info)  # NaN, stop and hits of all processes: one collective
        if signals.nonfinite:
            progress.close()
            raise _diverged(run, epoch)
        if cfg.grad_clip_norm:  # fp16: clip the true gradients, not the loss-scaled ones
            parts.scaler.unscale_(parts.optimizer)  # (a no-op when the scaler is off)
        clip_gradients(parts.model, cfg.grad_clip_norm)
        parts.scaler.step(parts.optimizer)
        parts.scaler.update()
        if parts.ema is not None:
            parts.ema.update(parts.model)
        state.step += 1
        warmup_over = parts.schedule.on_train_step(state.step, signals.correct, signals.seen)
        if warmup_over and info.is_main:
            progress.write(parts.schedule.warmup_end_note(state.step))
        # -- progress, a stop, a checkpoint every checkpoint_every steps ---------------------
        seen = max(sums.seen, 1)
        progress.update(cfg.batch_size, sums.loss / seen, sums.correct / seen, out.lr)
        if signals.stop or (state.step == cfg.stop_after and state.step < run.total_steps):
            out.status = "interrupted" if signals.stop else "stopped"
            out.signal = stop.signum
            break
        if cfg.checkpoint_every and state.step % cfg.checkpoint_every == 0:
            sums.seconds += time.perf_counter() - tic
            tic = time.perf_counter()
            run.save(run.run_dir / "last.pt")
    sums.seconds += time.perf_counter() - tic
    out.images_per_s = progress.images_per_s
    progress.close()
    out.mid_epoch = out.status != "completed" and state.step < epoch_end
    return out


def _diverged(run: Run, epoch: int) -> TrainingDivergedError:
    step, last = run.state.step, run.run_dir / "last.pt"
    return TrainingDivergedError(
        f"the loss became NaN or infinite at step {step + 1} (epoch {epoch + 1}, batch "
        f"{step - epoch * run.steps_per_epoch + 1}); the run stopped before applying that "
        "update. "
        + (
            f"The last good checkpoint is {last}."
            if last.is_file()
            else "No checkpoint was written yet."
        )
        + " Lower the learning rate, add warm-up or gradient clipping."
    )


# -- the end of an epoch, of a run -----------------------------------------------------------------


def _end_epoch(run: Run, out: _EpochOutcome, tb: TensorBoard) -> None:
    """Evaluate (every eval_every epochs and after the last step), record, checkpoint."""
    state, info = run.state, run.info
    row = epoch_row(out.epoch, state.step, state.sums.total(info), out.lr, out.images_per_s)
    if state.step >= run.total_steps or (out.epoch + 1) % run.cfg.eval_every == 0:
        _evaluate(run, row, out.epoch)
    state.history.append(row)
    run.log(epoch_line(row, run.num_epochs))
    if info.is_main:
        write_metrics_csv(run.run_dir / "metrics.csv", state.history)
        tb.epoch(row)
    improved = row.get("test_acc") is not None and row["test_acc"] > state.best_acc
    if improved:
        state.best_acc = row["test_acc"]
    run.save(run.run_dir / "last.pt")
    if improved and info.is_main:
        checkpoint.link_best(run.run_dir)


def _evaluate(run: Run, row: dict[str, Any], epoch: int) -> None:
    """Test-set accuracy of the delivered weights into ``row`` and the run's state."""
    cfg, state = run.cfg, run.state
    result = evaluate_loader(
        run.parts.final,
        run.loaders[1],
        num_classes=len(run.data.classes),
        device=run.info.device,
        precision=cfg.precision,
        channels_last=cfg.channels_last,
        dist_info=run.info,
    )
    row.update(test_loss=result.loss, test_acc=result.top1, test_top5=result.reported_top5)
    state.last_eval = {
        "cm": result.cm,
        "per_class": result.per_class(),
        "top1": result.top1,
        "top5": result.reported_top5,
        "epoch": epoch + 1,
    }
    if run.parts.schedule.on_eval(result.top1):
        run.log(f"test accuracy plateaued: lr now {run.parts.schedule.lr_at(state.step):.3g}")


def _stopped(run: Run, out: _EpochOutcome) -> TrainResult:
    """Save last.pt and say how to continue (SIGINT/SIGTERM or stop_after)."""
    last = run.run_dir / "last.pt"
    run.save(last)
    run.log(
        f"{out.status} at step {run.state.step}; checkpoint saved to {last}; "
        f"continue with: classicnets train --resume {run.run_dir}"
    )
    return _result(run, out.status, out.signal)


def _result(run: Run, status: str, signal: int | None = None) -> TrainResult:
    """What :func:`train` returns: for a completed run its last test accuracy and the time of
    its epochs; for one stopped early (``status`` "interrupted" or "stopped") no accuracy and
    the time so far."""
    state, completed = run.state, status == "completed"
    last = state.history[-1] if state.history and completed else {}
    return TrainResult(
        run.run_dir,
        status,
        state.step,
        len(state.history),
        test_acc=last.get("test_acc"),
        best_acc=state.best_acc,
        train_seconds=state.train_seconds(partial=not completed),
        signal=signal,
    )
