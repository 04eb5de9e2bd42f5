"""Setting a run up: the data and its loaders, the model (fresh or from pretrained weights,
frozen as asked), its optimizer, schedule, grad scaler and average, and how a process computes
a step. Everything that can refuse the configuration runs here, before the run directory is
written. :class:`Run` is what the loop then shares."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from ..data import DataBundle, build_data
from ..data.loader import ShardSampler, StepBatchSampler, make_loader
from ..factory import create_model
from ..models.registry import model_info
from ..runtime import distributed
from ..runtime.checkpoint_io import atomic_save
from . import checkpoint as ckpt_io
from .checkpoint import State, TrainingParts
from .config import ConfigError, TrainConfig
from .finetune import freeze, freeze_batchnorm_stats, param_groups
from .mix import build_mixer
from .optim import ModelEma, build_optimizer
from .pretrained import PretrainedSource, build_model, check_agreement, inspect_source
from .step import Stepper, aux_loss_weights, wrap_for_training


@dataclass
class Run:
    """What the loop shares: set up once by :func:`setup_run`, then read and advanced."""

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


def setup_run(cfg: TrainConfig, info: distributed.DistInfo, run_dir: Path) -> Run:
    """Data and loaders, the model, its optimizer, schedule, scaler and average, the step."""
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
        precision=cfg.precision,
        channels_last=cfg.channels_last,
        label_smoothing=cfg.label_smoothing,
        aux_weights=aux_loss_weights(model, cfg.aux_loss_weight),
        mixer=mixer,
    )
    run = Run(cfg, info, run_dir, data, sampler, loaders, parts, stepper, total_steps)
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


def _meta(cfg: TrainConfig, data: DataBundle) -> dict[str, Any]:
    """What a checkpoint says about the weights besides the config: classes, preprocessing."""
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
