"""Training, top to bottom: setup -> data -> model -> optimizer -> resume -> loop -> results.

``train(cfg)`` runs one configuration (see :mod:`classicnets.training.config`) and leaves a run
directory:

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

import dataclasses
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from ..data import DataBundle, build_data, class_counts, data_path_lines
from ..data.loader import ShardSampler, StepBatchSampler, grouped, make_loader
from ..errors import ClassicNetsError
from ..evaluation.evaluate import evaluate_loader
from ..factory import create_model
from ..models.registry import model_info
from ..runtime import distributed
from ..runtime.allocator import retain_freed_memory
from ..runtime.checkpoint_io import atomic_save
from ..runtime.checkpoint_io import load as load_checkpoint
from ..runtime.device import num_threads, seed_all, set_deterministic
from . import checkpoint as ckpt_io
from .checkpoint import EpochSums, State, TrainingParts
from .config import ConfigError, TrainConfig, validate
from .finetune import freeze, freeze_batchnorm_stats, param_groups
from .logging import (
    Progress,
    TensorBoard,
    epoch_line,
    epoch_row,
    write_metrics_csv,
    write_results,
)
from .mix import build_mixer
from .optim import ModelEma, build_optimizer, set_lr
from .pretrained import PretrainedSource, build_model, check_agreement, inspect_source
from .schedule import LRSchedule
from .signals import StopFlag
from .step import Stepper, apply_update, aux_loss_weights, wrap_for_training


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
class _Run:
    """What the loop shares: set up once by :func:`_setup`, then read and advanced."""

    cfg: TrainConfig
    info: distributed.DistInfo
    run_dir: Path
    data: DataBundle
    sampler: StepBatchSampler
    loaders: tuple[DataLoader, DataLoader]  # train, test
    parts: TrainingParts
    stepper: Stepper
    total_steps: int
    state: State = dataclasses.field(default_factory=State)
    tb: TensorBoard | None = None
    fine_tuning: dict[str, Any] | None = None  # what --pretrained/freeze did (summary.json)

    @property
    def steps_per_epoch(self) -> int:
        return self.sampler.steps_per_epoch

    @property
    def num_epochs(self) -> int:
        return math.ceil(self.total_steps / self.steps_per_epoch)

    def log(self, msg: str) -> None:
        if self.info.is_main:
            print(msg, flush=True)

    def save(self, path: Path) -> None:
        """Called by every process at the same points; rank 0 writes the run's totals."""
        totals = dataclasses.replace(self.state, sums=self.state.sums.total(self.info))
        if self.info.is_main:
            meta = {**_meta(self.cfg, self.data), "total_steps": self.total_steps}
            config = self.cfg.to_dict()
            ckpt = ckpt_io.snapshot(self.parts, totals, config, meta, self.info.world_size)
            atomic_save(ckpt, path)


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
    validate(cfg)
    cfg = _absolute_paths(cfg)
    run_dir = _resolve_run_dir(cfg, resume)
    resume_from = ckpt_io.resume_point(run_dir, resume)
    set_deterministic(cfg.deterministic, info.device)
    seed_all(cfg.seed)  # the same on every process, so the initial weights agree
    # -- data, model, optimizer, schedule, loss -------------------------------------------------
    run = _setup(cfg, info, run_dir)
    # -- resume ---------------------------------------------------------------------------------
    if resume_from is not None:
        saved = load_checkpoint(resume_from)
        run.state = ckpt_io.restore(resume_from, cfg.to_dict(), run.parts, is_main=info.is_main)
        if not _continue_note(run, saved["config"], saved["meta"].get("total_steps")):
            return _already_complete(run)
        run.log(f"resuming from {resume_from} at step {run.state.step}")
    if info.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.toml").write_text(cfg.to_toml())
    purge = run.state.step or None
    run.tb = TensorBoard(run_dir / "tensorboard", info.is_main and cfg.tensorboard, purge)
    run.log(_intro(run))
    # -- the loop -------------------------------------------------------------------------------
    with StopFlag() as stop:
        while run.state.step < run.total_steps:
            out = _train_epoch(run, stop)
            if not out.mid_epoch:
                _end_epoch(run, out)
            if out.status != "completed":
                return _stopped(run, out)
    # -- results --------------------------------------------------------------------------------
    run.tb.close()
    if info.is_main:
        _write_final_weights(run_dir, cfg, run.data, run.parts.final)
        write_results(
            run_dir,
            run.state,
            run.data.classes,
            _about(cfg, info, run.parts.schedule, run.fine_tuning, _skipped_files(run)),
        )
        if cfg.report:
            _write_report(run_dir)
    distributed.barrier(info)
    state = run.state
    last = state.history[-1] if state.history else {}
    return TrainResult(
        run_dir,
        "completed",
        state.step,
        len(state.history),
        test_acc=last.get("test_acc"),
        best_acc=state.best_acc,
        train_seconds=state.train_seconds(),
    )


def _setup(cfg: TrainConfig, info: distributed.DistInfo, run_dir: Path) -> _Run:
    """Data and loaders, the model, its optimizer, schedule, scaler and average, the step.
    Everything that can refuse the configuration runs here, before the run directory is
    written."""
    source = inspect_source(cfg.pretrained, cfg.model) if cfg.pretrained else None
    weights_pre = source.preprocessing if source is not None else None
    input_size = cfg.input_size or (weights_pre.input_size if weights_pre else None)
    data = build_data(cfg.data_config(input_size or model_info(cfg.model).input_size, weights_pre))
    per_process_batch = cfg.batch_size // info.world_size
    sampler = StepBatchSampler(
        len(data.train),
        global_batch=cfg.batch_size,
        seed=cfg.seed,
        rank=info.rank,
        world_size=info.world_size,
        grad_accum=cfg.grad_accum,
    )
    test_sampler = ShardSampler(
        len(data.test), max(per_process_batch, 64), info.rank, info.world_size
    )
    loaders = (
        make_loader(data.train, sampler, cfg.workers),
        make_loader(data.test, test_sampler, cfg.workers),
    )
    total_steps = cfg.steps or cfg.epochs * sampler.steps_per_epoch
    model, fine_tuning = _build_model(cfg, data, source)
    model = model.to(info.device)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    _check_compiler(cfg, info.device)
    parts = TrainingParts(
        model,
        build_optimizer(_optimizer_params(cfg, model), cfg.optimizer_config()),
        cfg.lr_schedule(total_steps=total_steps, steps_per_epoch=sampler.steps_per_epoch),
        torch.amp.GradScaler(info.device.type, enabled=cfg.precision == "fp16"),
        ModelEma(model, cfg.ema_decay) if cfg.ema_decay else None,
    )
    mixer = build_mixer(
        len(data.classes),
        mixup_alpha=cfg.mixup_alpha,
        cutmix_alpha=cfg.cutmix_alpha,
        prob=cfg.mix_prob,
    )
    stepper = Stepper(
        wrap_for_training(model, info, compile=cfg.compile),
        info,
        per_process_batch,
        seed=cfg.seed,
        precision=cfg.precision,
        channels_last=cfg.channels_last,
        label_smoothing=cfg.label_smoothing,
        aux_weights=aux_loss_weights(model, cfg.aux_loss_weight),
        mixer=mixer,
    )
    run = _Run(cfg, info, run_dir, data, sampler, loaders, parts, stepper, total_steps)
    run.fine_tuning = fine_tuning
    return run


def _build_model(
    cfg: TrainConfig, data: DataBundle, source: PretrainedSource | None
) -> tuple[nn.Module, dict[str, Any] | None]:
    """The model for the dataset's classes: from the pretrained weights when the config names
    them, then frozen as ``freeze``/``freeze_bn`` say; and what was done, for summary.json."""
    num_classes = len(data.classes)
    if num_classes < 2:
        raise ConfigError(
            f"the dataset has {num_classes} class ({', '.join(data.classes)}): a classifier "
            "needs at least two class folders"
        )
    options = dict(cfg.model_options)
    explicit = options.pop("num_classes", None)
    if explicit is not None and int(explicit) != num_classes:
        raise ConfigError(
            f"model_options sets num_classes = {explicit}, but the dataset has {num_classes} "
            f"classes ({', '.join(data.classes[:10])}{'...' if num_classes > 10 else ''}); "
            "leave num_classes out: the classifier is sized for the dataset"
        )
    about: dict[str, Any] = {}
    if source is not None:
        check_agreement(source, cfg.model)
        model, adaptation = build_model(
            source, cfg.model, num_classes=num_classes, in_chans=data.in_chans, options=options
        )
        about["pretrained"] = adaptation.as_dict()
    else:
        model = create_model(cfg.model, num_classes=num_classes, in_chans=data.in_chans, **options)
    if str(cfg.freeze).strip().lower() not in ("", "none", "0"):
        report = freeze(model, cfg.freeze)
        about["frozen"] = report.describe()
    if cfg.freeze_bn:
        about["freeze_bn"] = freeze_batchnorm_stats(model)
    return model, about or None


def _optimizer_params(cfg: TrainConfig, model: nn.Module) -> nn.Module | list[dict[str, Any]]:
    """The model itself (one group: the papers' setting) or the fine-tuning parameter groups."""
    if cfg.head_lr_scale == 1 and cfg.layer_decay == 1 and cfg.norm_weight_decay is None:
        return model
    return param_groups(
        model,
        weight_decay=cfg.weight_decay,
        head_lr_scale=cfg.head_lr_scale,
        layer_decay=cfg.layer_decay,
        norm_weight_decay=cfg.norm_weight_decay,
    )


def _intro(run: _Run) -> str:
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


def _data_lines(run: _Run) -> list[str]:
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


# -- one epoch -------------------------------------------------------------------------------------


@dataclass
class _EpochOutcome:
    epoch: int
    lr: float = 0.0  # of the epoch's last step
    images_per_s: float = 0.0
    status: str = "completed"  # or "interrupted" (a signal), "stopped" (stop_after)
    signal: int | None = None
    mid_epoch: bool = False  # stopped before the epoch's last step


def _train_epoch(run: _Run, stop: StopFlag) -> _EpochOutcome:
    """The optimizer steps from where the run is to the end of its epoch, or to a stop."""
    cfg, state, spe, parts = run.cfg, run.state, run.steps_per_epoch, run.parts
    epoch, start = divmod(state.step, spe)
    if start == 0:
        state.sums = EpochSums()
    run.sampler.set_epoch(epoch, start)
    epoch_end = min((epoch + 1) * spe, run.total_steps)
    run.stepper.net.train()
    progress = Progress(
        total_images=(epoch_end - epoch * spe) * cfg.batch_size,
        initial=start * cfg.batch_size,
        desc=f"epoch {epoch + 1}/{run.num_epochs}",
        quiet=cfg.quiet or not run.info.is_main,
    )
    out = _EpochOutcome(epoch)
    tic = time.perf_counter()
    micro_batches = grouped(iter(run.loaders[0]), cfg.grad_accum)
    while state.step < epoch_end:
        out.lr = parts.schedule.lr_at(state.step)
        set_lr(parts.optimizer, out.lr)
        stop_asked = stop.signum is not None
        signals = run.stepper.step(
            next(micro_batches), parts, state.sums, step=state.step, stop=stop_asked
        )
        if signals.nonfinite:
            progress.close()
            raise _diverged(run, epoch)
        apply_update(parts, cfg.grad_clip_norm)
        state.step += 1
        warmup_over = parts.schedule.on_train_step(state.step, signals.correct, signals.seen)
        if warmup_over and run.info.is_main:
            progress.write(parts.schedule.warmup_end_note(state.step))
        seen = max(state.sums.seen, 1)
        progress.update(cfg.batch_size, state.sums.loss / seen, state.sums.correct / seen, out.lr)
        if signals.stop or (state.step == cfg.stop_after and state.step < run.total_steps):
            out.status = "interrupted" if signals.stop else "stopped"
            out.signal = stop.signum
            break
        if cfg.checkpoint_every and state.step % cfg.checkpoint_every == 0:
            state.sums.seconds += time.perf_counter() - tic
            tic = time.perf_counter()
            run.save(run.run_dir / "last.pt")
    state.sums.seconds += time.perf_counter() - tic
    out.images_per_s = progress.images_per_s
    progress.close()
    out.mid_epoch = out.status != "completed" and state.step < epoch_end
    return out


def _diverged(run: _Run, epoch: int) -> TrainingDivergedError:
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


def _end_epoch(run: _Run, out: _EpochOutcome) -> None:
    """Evaluate (every eval_every epochs and after the last step), record, checkpoint."""
    state, info = run.state, run.info
    row = epoch_row(out.epoch, state.step, state.sums.total(info), out.lr, out.images_per_s)
    if state.step >= run.total_steps or (out.epoch + 1) % run.cfg.eval_every == 0:
        _evaluate(run, row, out.epoch)
    state.history.append(row)
    run.log(epoch_line(row, run.num_epochs))
    if info.is_main:
        write_metrics_csv(run.run_dir / "metrics.csv", state.history)
        run.tb.epoch(row)
    improved = row.get("test_acc") is not None and row["test_acc"] > state.best_acc
    if improved:
        state.best_acc = row["test_acc"]
    run.save(run.run_dir / "last.pt")
    if improved and info.is_main:
        ckpt_io.link_best(run.run_dir)


def _evaluate(run: _Run, row: dict[str, Any], epoch: int) -> None:
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
    row.update(test_loss=result.loss, test_acc=result.top1, test_top5=result.top5)
    state.last_eval = {
        "cm": result.cm,
        "per_class": result.per_class(),
        "top1": result.top1,
        "top5": result.top5,
        "epoch": epoch + 1,
    }
    if run.parts.schedule.on_eval(result.top1):
        run.log(f"test accuracy plateaued: lr now {run.parts.schedule.lr_at(state.step):.3g}")


def _stopped(run: _Run, out: _EpochOutcome) -> TrainResult:
    """Save last.pt and say how to continue (SIGINT/SIGTERM or stop_after)."""
    state, last = run.state, run.run_dir / "last.pt"
    run.save(last)
    run.log(
        f"{out.status} at step {state.step}; checkpoint saved to {last}; "
        f"continue with: classicnets train --resume {run.run_dir}"
    )
    return TrainResult(
        run.run_dir,
        out.status,
        state.step,
        len(state.history),
        best_acc=state.best_acc,
        train_seconds=state.train_seconds(partial=True),
        signal=out.signal,
    )


def _meta(cfg: TrainConfig, data: DataBundle) -> dict[str, Any]:
    pre = data.preprocessing
    return {
        "model": cfg.model,
        "classes": list(data.classes),
        "in_chans": data.in_chans,
        "input_size": pre.input_size,
        "mean": list(pre.mean),
        "std": list(pre.std),
        "dataset": cfg.dataset,
    }


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


def _about(
    cfg: TrainConfig,
    info: distributed.DistInfo,
    schedule: LRSchedule,
    fine_tuning: dict[str, Any] | None,
    skipped_files: list[str],
) -> dict[str, Any]:
    """What the summary says about the run besides its results."""
    return {
        "model": cfg.model,
        "dataset": cfg.dataset,
        "recipe": cfg.recipe,
        "warmup_ended_at": schedule.warmup_ended_at,
        "device": str(info.device),
        "world_size": info.world_size,
        "precision": cfg.precision,
        "fine_tuning": fine_tuning,
        "skipped_files": skipped_files,
    }


def _skipped_files(run: _Run) -> list[str]:
    """Every training image left out as unreadable, with the reason: those met while training
    (after a resume: since then) and those a split decoded in memory knows of."""
    found = dict.fromkeys(run.stepper.skipped)
    base = run.data.train.base if run.data.train is not None else None
    for i, reason in getattr(base, "bad", {}).items():
        found.setdefault(f"{base.path(i)} ({reason})")
    return sorted(found)


# -- re-running a run ------------------------------------------------------------------------------

#: Settings that change neither the weights nor what the run's files say about them.
_BOOKKEEPING = frozenset(
    {"quiet", "run_dir", "workers", "data_cache", "threads", "device", "tensorboard",
     "stop_after", "checkpoint_every", "retain_memory", "epochs", "steps"}
)  # fmt: skip


def _continue_note(run: _Run, saved: dict[str, Any], previous_total: int | None) -> bool:
    """Whether there is anything to train; refuses changed settings that the run's files would
    misdescribe once it is complete, warns about them mid-run, and says what extending does.
    ``previous_total``: the steps the checkpoint's run was set to train (None: not recorded)."""
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
        return False
    if step >= previous_total:
        lr = run.parts.schedule.lr_at(step)
        run.log(
            f"extending a finished run from {step} to {run.total_steps} steps: the "
            f"{cfg['schedule']} schedule is recomputed over the new length, so training goes on "
            f"at lr {lr:.3g} from step {step} (where the finished schedule had ended its decay)"
        )
    return True


def _already_complete(run: _Run) -> TrainResult:
    state = run.state
    run.log(
        f"run already complete: {run.run_dir} trained all {state.step} steps; nothing to do. "
        "Raise --epochs/--steps to train longer, or use another --run-dir"
    )
    last = state.history[-1] if state.history else {}
    return TrainResult(
        run.run_dir,
        "completed",
        state.step,
        len(state.history),
        test_acc=last.get("test_acc"),
        best_acc=state.best_acc,
        train_seconds=state.train_seconds(),
    )


def _absolute_paths(cfg: TrainConfig) -> TrainConfig:
    """Paths stored absolute in config.toml and checkpoints: the run can be resumed, evaluated
    or fine-tuned from anywhere."""
    changes = {}
    if cfg.data_dir:
        changes["data_dir"] = str(Path(cfg.data_dir).expanduser().resolve())
    if cfg.pretrained and Path(cfg.pretrained).expanduser().exists():
        changes["pretrained"] = str(Path(cfg.pretrained).expanduser().resolve())
    return dataclasses.replace(cfg, **changes)


# -- helpers ---------------------------------------------------------------------------------------


def _check_compiler(cfg: TrainConfig, device: torch.device) -> None:
    """On CPU, inductor builds C++ kernels: a missing compiler is reported before the run
    starts, not as a long traceback at the first step."""
    if not cfg.compile or device.type != "cpu":
        return
    try:
        from torch._inductor.cpp_builder import get_cpp_compiler
    except ImportError:  # another PyTorch version: torch.compile reports problems itself
        return
    try:
        get_cpp_compiler()
    except Exception as e:
        raise ConfigError(
            "compile = true needs a working C++ compiler on CPU (PyTorch's inductor "
            f"builds C++ kernels), and none was found ({type(e).__name__}). Install "
            "g++ (or set CXX to a compiler), or train without --compile"
        ) from None


def _resolve_run_dir(cfg: TrainConfig, resume: str | Path | None) -> Path:
    if resume is not None:
        p = Path(resume)
        return p if p.is_dir() else p.parent
    if cfg.run_dir:
        return Path(cfg.run_dir)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{cfg.model}-{cfg.dataset}-{stamp}"
