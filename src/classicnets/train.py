"""Training, top to bottom: setup -> data -> model -> optimizer -> resume -> loop -> results.

``train(cfg)`` runs one configuration (see :mod:`classicnets.config`) and leaves a run directory:

    config.toml          the resolved configuration
    metrics.csv          one row per epoch (loss, accuracy, lr, images/s, skipped images)
    tensorboard/         event files, when the tensorboard package is installed
    last.pt, best.pt     full-state checkpoints (the last one, the best test accuracy)
    model.safetensors    the final weights (the averaged ones when EMA is on), with metadata
    loss.png, accuracy.png, confusion_matrix.png
    summary.json         final and best accuracy, per-class accuracy, time, speed, files

Exactness: the data order and each sample's augmentation depend only on (seed, epoch, index)
(:mod:`classicnets.data.loader`), the model-side randomness (dropout, mixup) of step ``s`` on
process ``r`` is seeded from (seed, s, r), and checkpoints carry the full state. So on CPU in
deterministic mode, stopping at any step and resuming gives the same weights, bit for bit, as
never stopping.
"""

from __future__ import annotations

import contextlib
import json
import math
import shutil
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .allocator import retain_freed_memory
from .config import ConfigError, TrainConfig
from .data import DataBundle, build_data
from .data.loader import ShardSampler, StepBatchSampler, make_loader, sample_seed
from .engine import checkpoint as ckpt_io
from .engine import distributed
from .engine.logging import (
    Progress,
    TensorBoard,
    plot_confusion,
    plot_curves,
    write_metrics_csv,
)
from .engine.optim import ModelEma, build_optimizer, clip_gradients, set_lr
from .engine.runtime import autocast, num_threads, seed_all, set_deterministic, to_device
from .engine.schedule import LRSchedule
from .engine.schedule import from_config as schedule_from_config
from .errors import ClassicNetsError
from .evaluate import evaluate_loader
from .factory import create_model
from .registry import model_info


class TrainingDivergedError(ClassicNetsError, FloatingPointError):
    """The loss became NaN or infinite."""


@dataclass
class TrainResult:
    run_dir: Path
    status: str  # "completed", "interrupted" (SIGINT/SIGTERM) or "stopped" (stop_after)
    step: int
    epoch: int
    test_acc: float | None = None
    best_acc: float | None = None
    train_seconds: float = 0.0
    signal: int | None = None


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


class StopFlag:
    """Set by SIGINT/SIGTERM; the loop saves a checkpoint at the next step boundary and exits."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._old: dict[int, Any] = {}

    def __enter__(self) -> StopFlag:
        for s in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError):  # not the main thread: no handlers
                self._old[s] = signal.signal(s, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signum is not None:  # a second Ctrl-C: stop now
            raise KeyboardInterrupt
        self.signum = signum
        print(
            f"\n{signal.Signals(signum).name}: saving a checkpoint after this step "
            "(again to abort without saving)",
            file=sys.stderr,
            flush=True,
        )

    def __exit__(self, *exc: object) -> None:
        for s, old in self._old.items():
            signal.signal(s, old)


class AuxForward(nn.Module):
    """``forward`` returns (logits, aux logits): the one thing DDP and compile need to wrap."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        return self.model.forward_with_aux(x)


def _log(msg: str, info: distributed.DistInfo) -> None:
    if info.is_main:
        print(msg, flush=True)


# -- the run ---------------------------------------------------------------------------------------


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
    # -- setup: run directory, resumption point, determinism ------------------------------------
    run_dir = _resolve_run_dir(cfg, resume)
    resume_from = _resume_checkpoint(run_dir, resume)
    device = info.device
    set_deterministic(cfg.deterministic, device)
    seed_all(cfg.seed)  # the same on every process, so the initial weights agree

    # -- data -----------------------------------------------------------------------------------
    input_size = cfg.input_size or model_info(cfg.model).input_size
    data = build_data(cfg, input_size=input_size)
    per_process_batch = cfg.batch_size // info.world_size
    sampler = StepBatchSampler(
        len(data.train),
        global_batch=cfg.batch_size,
        seed=cfg.seed,
        rank=info.rank,
        world_size=info.world_size,
        grad_accum=cfg.grad_accum,
    )
    train_loader = make_loader(data.train, sampler, cfg.workers)
    test_sampler = ShardSampler(
        len(data.test), max(per_process_batch, 64), info.rank, info.world_size
    )
    test_loader = make_loader(data.test, test_sampler, cfg.workers)
    steps_per_epoch = sampler.steps_per_epoch
    total_steps = cfg.steps or cfg.epochs * steps_per_epoch
    num_epochs = math.ceil(total_steps / steps_per_epoch)

    # -- model ----------------------------------------------------------------------------------
    model = create_model(
        cfg.model, num_classes=len(data.classes), in_chans=data.in_chans, **cfg.model_options
    ).to(device)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    ema = ModelEma(model, cfg.ema_decay) if cfg.ema_decay else None
    aux_weights = _aux_weights(model, cfg)
    net: nn.Module = AuxForward(model)
    if info.enabled:
        net = nn.parallel.DistributedDataParallel(
            net, device_ids=[device.index] if device.type == "cuda" else None
        )
    if cfg.compile:
        net = _compiled(net, device)

    # -- optimizer, schedule, loss --------------------------------------------------------------
    optimizer = build_optimizer(model, cfg)
    schedule = schedule_from_config(cfg, total_steps=total_steps, steps_per_epoch=steps_per_epoch)
    scaler = torch.amp.GradScaler(device.type, enabled=cfg.precision == "fp16")
    mixer = _build_mixer(cfg, len(data.classes))

    # -- resume -----------------------------------------------------------------------------------
    state = State()
    if resume_from is not None:
        state = _restore(resume_from, cfg, info, model, optimizer, schedule, scaler, ema)
        _log(f"resuming from {resume_from} at step {state.step}", info)
    if info.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.toml").write_text(cfg.to_toml())
    tb = TensorBoard(
        run_dir / "tensorboard", info.is_main and cfg.tensorboard, purge_step=state.step or None
    )
    _log(
        f"training {cfg.model} on {cfg.dataset} ({len(data.train)} train / {len(data.test)} test "
        f"images, {input_size}x{input_size}) for {total_steps} steps ({num_epochs} epochs of "
        f"{steps_per_epoch}), {info.world_size} process(es) on {device}, {cfg.precision}\n"
        f"run directory: {run_dir}",
        info,
    )

    def save(path: Path) -> None:
        """Called by every process at the same points; rank 0 writes the run's totals."""
        totals = State(state.step, state.history, state.best_acc, state.sums.total(info))
        totals.last_eval = state.last_eval
        if info.is_main:
            ckpt_io.atomic_save(
                _checkpoint(cfg, info, data, model, optimizer, schedule, scaler, ema, totals), path
            )

    # -- the loop ---------------------------------------------------------------------------------
    status, stop_signal = "completed", None
    with StopFlag() as stop:
        while state.step < total_steps:
            epoch, start = divmod(state.step, steps_per_epoch)
            if start == 0:
                state.sums = EpochSums()
            sampler.set_epoch(epoch, start)
            epoch_end = min((epoch + 1) * steps_per_epoch, total_steps)
            net.train()
            progress = Progress(
                total_images=(epoch_end - epoch * steps_per_epoch) * cfg.batch_size,
                initial=start * cfg.batch_size,
                desc=f"epoch {epoch + 1}/{num_epochs}",
                quiet=cfg.quiet or not info.is_main,
            )
            tic = time.perf_counter()
            micro_batches = _grouped(iter(train_loader), cfg.grad_accum)
            while state.step < epoch_end:
                lr = schedule.lr_at(state.step)
                set_lr(optimizer, lr)
                _seed_step(cfg.seed, state.step, info)
                hits_before = (state.sums.correct, state.sums.seen)
                nonfinite = _train_step(
                    next(micro_batches),
                    net,
                    optimizer,
                    scaler,
                    cfg,
                    info,
                    aux_weights,
                    mixer,
                    state.sums,
                    per_process_batch,
                )
                # [non-finite loss, stop requested, correct, seen] over all processes
                flags = distributed.all_reduce_sum(
                    torch.tensor(
                        [
                            float(nonfinite),
                            float(stop.signum is not None),
                            state.sums.correct - hits_before[0],
                            state.sums.seen - hits_before[1],
                        ],
                        dtype=torch.float64,
                    ),
                    info,
                )
                if flags[0] > 0:
                    progress.close()
                    last = run_dir / "last.pt"
                    raise TrainingDivergedError(
                        f"the loss became NaN or infinite at step {state.step + 1} (epoch "
                        f"{epoch + 1}, batch {state.step - epoch * steps_per_epoch + 1}); the "
                        "run stopped before applying that update. "
                        + (
                            f"The last good checkpoint is {last}."
                            if last.is_file()
                            else "No checkpoint was written yet."
                        )
                        + " Lower the learning rate, add warm-up or gradient clipping."
                    )
                clip_gradients(model, cfg.grad_clip_norm)
                scaler.step(optimizer)
                scaler.update()
                if ema is not None:
                    ema.update(model)
                state.step += 1
                if schedule.on_train_step(
                    state.step, round(float(flags[2])), round(float(flags[3]))
                ):
                    _log_warmup_end(schedule, state.step, progress, info)
                progress.update(
                    cfg.batch_size,
                    state.sums.loss / max(state.sums.seen, 1),
                    state.sums.correct / max(state.sums.seen, 1),
                    lr,
                )
                if flags[1] > 0 or (state.step == cfg.stop_after and state.step < total_steps):
                    status = "interrupted" if flags[1] > 0 else "stopped"
                    stop_signal = stop.signum
                    break
                if cfg.checkpoint_every and state.step % cfg.checkpoint_every == 0:
                    state.sums.seconds += time.perf_counter() - tic
                    tic = time.perf_counter()
                    save(run_dir / "last.pt")
            state.sums.seconds += time.perf_counter() - tic
            images_per_s = progress.images_per_s
            progress.close()
            if status != "completed" and state.step < epoch_end:  # stopped mid-epoch
                return _stopped(save, run_dir, state, status, stop_signal, info)

            # -- end of epoch: evaluate, record, checkpoint --------------------------------------
            final = state.step >= total_steps
            row = _epoch_row(epoch, state.step, state.sums.total(info), lr, images_per_s)
            if final or (epoch + 1) % cfg.eval_every == 0:
                result = evaluate_loader(
                    ema.module if ema is not None else model,
                    test_loader,
                    num_classes=len(data.classes),
                    device=device,
                    precision=cfg.precision,
                    channels_last=cfg.channels_last,
                    dist_info=info,
                )
                row.update(test_loss=result.loss, test_acc=result.top1, test_top5=result.top5)
                state.last_eval = {
                    "cm": result.cm,
                    "per_class": result.per_class(),
                    "top1": result.top1,
                    "top5": result.top5,
                    "epoch": epoch + 1,
                }
                if schedule.on_eval(result.top1):
                    _log(f"test accuracy plateaued: lr now {schedule.lr_at(state.step):.3g}", info)
            state.history.append(row)
            _log(_epoch_line(row, num_epochs), info)
            if info.is_main:
                write_metrics_csv(run_dir / "metrics.csv", state.history)
                tb.epoch(row)
            improved = row.get("test_acc") is not None and row["test_acc"] > state.best_acc
            if improved:
                state.best_acc = row["test_acc"]
            save(run_dir / "last.pt")
            if improved and info.is_main:
                _link_best(run_dir)
            if status != "completed":  # stopped right at the end of an epoch
                return _stopped(save, run_dir, state, status, stop_signal, info)

    tb.close()
    if info.is_main:
        _finish(run_dir, cfg, info, data, model, ema, schedule, state)
    distributed.barrier(info)
    last = state.history[-1] if state.history else {}
    return TrainResult(
        run_dir,
        "completed",
        state.step,
        len(state.history),
        test_acc=last.get("test_acc"),
        best_acc=state.best_acc,
        train_seconds=_train_seconds(state),
    )


def _compiled(net: nn.Module, device: torch.device) -> nn.Module:
    """``torch.compile`` around the DDP wrapper (the order PyTorch documents for DDP). The
    checkpoints and the final weights come from the plain ``model``, so they never hold the
    compiled module's ``_orig_mod.`` keys; EMA and evaluation use the plain modules too.

    On CPU, inductor builds C++ kernels: a missing compiler is reported here, not as a long
    traceback at the first step."""
    if device.type == "cpu":
        try:
            from torch._inductor.cpp_builder import get_cpp_compiler
        except ImportError:  # another PyTorch version: torch.compile reports problems itself
            get_cpp_compiler = None
        if get_cpp_compiler is not None:
            try:
                get_cpp_compiler()
            except Exception as e:
                raise ConfigError(
                    "compile = true needs a working C++ compiler on CPU (PyTorch's inductor "
                    f"builds C++ kernels), and none was found ({type(e).__name__}). Install "
                    "g++ (or set CXX to a compiler), or train without --compile"
                ) from None
    return torch.compile(net)


# -- one optimizer step ---------------------------------------------------------------------


def _train_step(
    micro_batches: list[Any],
    net: nn.Module,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    cfg: TrainConfig,
    info: distributed.DistInfo,
    aux_weights: tuple[float, ...],
    mixer: Any,
    sums: EpochSums,
    per_process_batch: int,
) -> bool:
    """Forward and backward over this process's micro-batches; True if a loss was not finite."""
    optimizer.zero_grad(set_to_none=True)
    nonfinite = False
    for k, batch in enumerate(micro_batches):
        for path in batch.bad:
            print(f"warning: skipped unreadable image {path}", file=sys.stderr, flush=True)
        sums.skipped += len(batch.bad)
        if batch.images is None:
            continue
        x = to_device(batch.images, info.device, cfg.channels_last)
        y = batch.labels.to(info.device)
        target: torch.Tensor = y
        if mixer is not None:
            x, target = mixer(x, y)
        last = k == len(micro_batches) - 1
        sync = contextlib.nullcontext() if last or not info.enabled else net.no_sync()
        with sync:
            with autocast(info.device, cfg.precision):
                logits, aux = net(x)
            loss = F.cross_entropy(logits.float(), target, label_smoothing=cfg.label_smoothing)
            for w, a in zip(aux_weights, aux, strict=False):
                loss = loss + w * F.cross_entropy(
                    a.float(), target, label_smoothing=cfg.label_smoothing
                )
            # each micro-batch's share of this process's batch, so the gradient is the mean
            scaler.scale(loss * (x.shape[0] / per_process_batch)).backward()
        value = float(loss.detach())
        nonfinite |= not math.isfinite(value)
        sums.loss += value * x.shape[0]
        sums.correct += int((logits.detach().argmax(1) == y).sum())
        sums.seen += x.shape[0]
    return nonfinite


def _log_warmup_end(
    schedule: LRSchedule, step: int, progress: Progress, info: distributed.DistInfo
) -> None:
    """ResNet-110's warm-up (warmup_until_train_error) is over: say when and why."""
    error = schedule.window_error
    below = error is not None and error < (schedule.warmup_until_error or 0.0)
    why = (
        f"training error {error:.1%} over the last {len(schedule.window)} steps is below "
        f"{schedule.warmup_until_error:.0%}"
        if below
        else f"the warm-up bound of {schedule.warmup:g} {schedule.unit}s was reached"
    )
    if info.is_main:
        progress.write(f"warm-up over after step {step}: {why}; lr now {schedule.lr_at(step):.3g}")


def _seed_step(seed: int, step: int, info: distributed.DistInfo) -> None:
    """Model-side randomness (dropout, mixup) of a step depends on (seed, step, rank) only."""
    s = sample_seed(seed, step, -1 - info.rank)
    torch.default_generator.manual_seed(s)
    if info.device.type == "cuda":
        torch.cuda.manual_seed(s)


def _grouped(it: Iterator[Any], n: int) -> Iterator[list[Any]]:
    while True:
        group = []
        for _ in range(n):
            try:
                group.append(next(it))
            except StopIteration:
                return
        yield group


def _aux_weights(model: nn.Module, cfg: TrainConfig) -> tuple[float, ...]:
    weights = tuple(getattr(model, "aux_loss_weights", ()))
    if cfg.aux_loss_weight is not None:
        weights = tuple(cfg.aux_loss_weight for _ in weights)
    return weights


def _build_mixer(cfg: TrainConfig, num_classes: int) -> Any:
    """MixUp and/or CutMix (torchvision v2) applied with probability mix_prob; None when off."""
    from torchvision.transforms import v2

    choices = []
    if cfg.mixup_alpha > 0:
        choices.append(v2.MixUp(alpha=cfg.mixup_alpha, num_classes=num_classes))
    if cfg.cutmix_alpha > 0:
        choices.append(v2.CutMix(alpha=cfg.cutmix_alpha, num_classes=num_classes))
    if not choices:
        return None
    mix = choices[0] if len(choices) == 1 else v2.RandomChoice(choices)

    def apply(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if float(torch.rand(())) >= cfg.mix_prob:
            return x, F.one_hot(y, num_classes).float()
        return mix(x, y)

    return apply


# -- bookkeeping -----------------------------------------------------------------------------------


def _resolve_run_dir(cfg: TrainConfig, resume: str | Path | None) -> Path:
    if resume is not None:
        p = Path(resume)
        return p if p.is_dir() else p.parent
    if cfg.run_dir:
        return Path(cfg.run_dir)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{cfg.model}-{cfg.dataset}-{stamp}"


def _resume_checkpoint(run_dir: Path, resume: str | Path | None) -> Path | None:
    if resume is not None:
        p = Path(resume)
        path = p / "last.pt" if p.is_dir() else p
        if not path.is_file():
            raise ckpt_io.CheckpointError(f"cannot resume: no checkpoint at {path}")
        return path
    if (run_dir / "last.pt").is_file():
        return run_dir / "last.pt"
    return None


def _meta(cfg: TrainConfig, data: DataBundle) -> dict[str, Any]:
    return {
        "model": cfg.model,
        "classes": list(data.classes),
        "in_chans": data.in_chans,
        "input_size": data.input_size,
        "mean": list(data.mean),
        "std": list(data.std),
        "dataset": cfg.dataset,
    }


def _checkpoint(
    cfg: TrainConfig,
    info: distributed.DistInfo,
    data: DataBundle,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    schedule: LRSchedule,
    scaler: torch.amp.GradScaler,
    ema: ModelEma | None,
    state: State,
) -> dict[str, Any]:
    return {
        "format": ckpt_io.CHECKPOINT_FORMAT,
        "version": ckpt_io.code_version(),
        "config": cfg.to_dict(),
        "meta": _meta(cfg, data),
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "schedule": schedule.state_dict(),
        "scaler": scaler.state_dict(),
        "ema": ema.state_dict() if ema is not None else None,
        "step": state.step,
        "epoch_sums": state.sums.state(),
        "history": state.history,
        "best_acc": state.best_acc,
        "last_eval": state.last_eval,
        "rng": ckpt_io.capture_rng(),
        "world_size": info.world_size,
    }


_MUST_MATCH = ("model", "dataset", "batch_size", "seed", "input_size", "grad_accum")


def _restore(
    path: Path,
    cfg: TrainConfig,
    info: distributed.DistInfo,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    schedule: LRSchedule,
    scaler: torch.amp.GradScaler,
    ema: ModelEma | None,
) -> State:
    ckpt = ckpt_io.load(path)
    saved = ckpt["config"]
    changed = [k for k in _MUST_MATCH if saved.get(k) != getattr(cfg, k)]
    if changed:
        raise ckpt_io.CheckpointError(
            f"{path} was written by a run with different "
            + ", ".join(f"{k} ({saved.get(k)!r}, now {getattr(cfg, k)!r})" for k in changed)
            + "; use another run directory for a different configuration"
        )
    model.load_state_dict(ckpt["model"])
    optimizer.load_state_dict(ckpt["optimizer"])
    schedule.load_state_dict(ckpt["schedule"])
    scaler.load_state_dict(ckpt["scaler"])
    if ema is not None and ckpt.get("ema"):
        ema.load_state_dict(ckpt["ema"])
    ckpt_io.restore_rng(ckpt["rng"])
    sums = EpochSums(**ckpt["epoch_sums"])
    if not info.is_main:  # the checkpoint holds the totals over all processes: count them once
        sums = EpochSums(seconds=sums.seconds)
    return State(
        step=int(ckpt["step"]),
        history=list(ckpt["history"]),
        best_acc=float(ckpt["best_acc"]),
        sums=sums,
        last_eval=ckpt.get("last_eval"),
    )


def _epoch_row(
    epoch: int, step: int, s: EpochSums, lr: float, images_per_s: float
) -> dict[str, Any]:
    return {
        "epoch": epoch + 1,
        "step": step,
        "lr": lr,
        "train_loss": s.loss / max(s.seen, 1),
        "train_acc": s.correct / max(s.seen, 1),
        "test_loss": None,
        "test_acc": None,
        "test_top5": None,
        "images_per_s": images_per_s,
        "epoch_time_s": s.seconds,
        "skipped_images": s.skipped,
    }


def _epoch_line(row: dict[str, Any], num_epochs: int) -> str:
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


def _train_seconds(state: State, *, partial: bool = False) -> float:
    """Seconds spent in training steps (evaluation excluded), over the completed epochs."""
    done = sum(r["epoch_time_s"] for r in state.history)
    return done + (state.sums.seconds if partial else 0.0)


def _stopped(
    save: Any,
    run_dir: Path,
    state: State,
    status: str,
    stop_signal: int | None,
    info: distributed.DistInfo,
) -> TrainResult:
    """Save last.pt and say how to continue (SIGINT/SIGTERM or stop_after)."""
    save(run_dir / "last.pt")
    _log(
        f"{status} at step {state.step}; checkpoint saved to {run_dir / 'last.pt'}; "
        f"continue with: classicnets train --resume {run_dir}",
        info,
    )
    return TrainResult(
        run_dir,
        status,
        state.step,
        len(state.history),
        best_acc=state.best_acc,
        train_seconds=_train_seconds(state, partial=True),
        signal=stop_signal,
    )


def _link_best(run_dir: Path) -> None:
    """best.pt = the checkpoint just written (a hard link: last.pt is replaced, never edited)."""
    best, last = run_dir / "best.pt", run_dir / "last.pt"
    tmp = run_dir / ".best.pt.tmp"
    tmp.unlink(missing_ok=True)
    try:
        tmp.hardlink_to(last)
    except OSError:
        shutil.copy2(last, tmp)
    tmp.replace(best)


def _finish(
    run_dir: Path,
    cfg: TrainConfig,
    info: distributed.DistInfo,
    data: DataBundle,
    model: nn.Module,
    ema: ModelEma | None,
    schedule: LRSchedule,
    state: State,
) -> None:
    """Final weights, plots and the summary; prints where everything is."""
    from .preprocessing import for_dataset
    from .weights import save_weights

    save_weights(
        ema.module if ema is not None else model,
        run_dir / "model.safetensors",
        classes=data.classes,
        preprocessing=for_dataset(
            cfg.dataset,
            data.input_size,
            crop_fraction=cfg.eval_crop_pct,
            mean=data.mean,
            std=data.std,
        ),
        options=cfg.model_options,
        source=f"classicnets train, run {run_dir.name}",
        config=cfg.to_dict(),
    )
    files = ["config.toml", "metrics.csv", "last.pt", "best.pt", "model.safetensors"]
    if state.history:
        plot_curves(state.history, run_dir / "loss.png", run_dir / "accuracy.png")
        files += ["loss.png", "accuracy.png"]
    ev = state.last_eval
    if ev is not None:
        title = f"{cfg.model} on {cfg.dataset}: test accuracy {ev['top1']:.2%}"
        plot_confusion(ev["cm"], data.classes, run_dir / "confusion_matrix.png", title)
        files.append("confusion_matrix.png")
    if (run_dir / "tensorboard").is_dir():
        files.append("tensorboard/")
    last = state.history[-1] if state.history else {}
    best_epoch = max(
        (r for r in state.history if r.get("test_acc") is not None),
        key=lambda r: r["test_acc"],
        default={},
    ).get("epoch")
    summary = {
        "model": cfg.model,
        "dataset": cfg.dataset,
        "recipe": cfg.recipe,
        "test_acc": last.get("test_acc"),
        "test_top5": last.get("test_top5"),
        "best_test_acc": state.best_acc if state.best_acc >= 0 else None,
        "best_epoch": best_epoch,
        "epochs": len(state.history),
        "steps": state.step,
        "train_seconds": round(_train_seconds(state), 2),
        "images_per_s": round(
            sum(r["images_per_s"] for r in state.history) / max(len(state.history), 1), 1
        ),
        "skipped_images": sum(r["skipped_images"] for r in state.history),
        "warmup_ended_at_step": schedule.warmup_ended_at,
        "per_class_acc": dict(zip(data.classes, ev["per_class"], strict=True)) if ev else None,
        "confusion_matrix": ev["cm"].tolist() if ev else None,
        "classes": list(data.classes),
        "device": str(info.device),
        "world_size": info.world_size,
        "precision": cfg.precision,
        "torch": torch.__version__,
        "version": ckpt_io.code_version(),
        "files": files,
    }
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    files.append("summary.json")
    acc = f"{last['test_acc']:.2%}" if last.get("test_acc") is not None else "n/a"
    if ev is not None and len(data.classes) <= 20:
        per_class = "  ".join(
            f"{c}: {a:.1%}" for c, a in zip(data.classes, ev["per_class"], strict=True)
        )
        print(f"per-class test accuracy ({ev['cm'].sum()} images): {per_class}")
    print(
        f"done: test accuracy {acc} after {len(state.history)} epochs "
        f"({summary['train_seconds']:.0f}s of training)\n"
        f"run files in {run_dir}/: {', '.join(files)}",
        flush=True,
    )
