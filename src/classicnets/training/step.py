"""One optimizer step: the module the loop calls, forward and backward over a process's
micro-batches (mixing, auxiliary losses, gradient scaling), and the update."""

from __future__ import annotations

import contextlib
import math
import sys
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..runtime import distributed
from ..runtime.device import autocast, seed_step, to_device
from .checkpoint import EpochSums, TrainingParts
from .mix import Mixer
from .optim import clip_gradients
from .signals import StepSignals


class AuxForward(nn.Module):
    """``forward`` returns (logits, aux logits): the one thing DDP and compile need to wrap."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        return self.model.forward_with_aux(x)


def wrap_for_training(
    model: nn.Module, info: distributed.DistInfo, *, compile: bool = False
) -> nn.Module:
    """The module the loop calls: (logits, aux) out, under DDP when distributed, compiled
    when asked. Checkpoints and the final weights come from the plain ``model``, so they never
    hold the compiled module's ``_orig_mod.`` keys; EMA and evaluation use it too."""
    net: nn.Module = AuxForward(model)
    if info.enabled:
        device = info.device
        net = nn.parallel.DistributedDataParallel(
            net, device_ids=[device.index] if device.type == "cuda" else None
        )
    # compiled around the DDP wrapper: the order PyTorch documents for DDP
    return torch.compile(net) if compile else net


def aux_loss_weights(model: nn.Module, weight: float | None = None) -> tuple[float, ...]:
    """The weights of the model's auxiliary-head losses (its own, or ``weight`` for each)."""
    weights = tuple(getattr(model, "aux_loss_weights", ()))
    return weights if weight is None else tuple(weight for _ in weights)


@dataclass
class Stepper:
    """How this process computes a step: the wrapped module, the loss and the precision."""

    net: nn.Module
    info: distributed.DistInfo
    per_process_batch: int
    seed: int = 0
    precision: str = "fp32"
    channels_last: bool = False
    label_smoothing: float = 0.0
    aux_weights: tuple[float, ...] = ()
    mixer: Mixer | None = None
    #: the unreadable images met so far, "path (reason)", in order
    skipped: dict[str, None] = field(default_factory=dict)

    def step(
        self,
        micro_batches: list[Any],
        parts: TrainingParts,
        sums: EpochSums,
        *,
        step: int,
        stop: bool,
    ) -> StepSignals:
        """Forward and backward of update ``step + 1`` (applied by :func:`apply_update`); the
        step's signals summed over all processes, ``stop`` being this process's request."""
        seed_step(self.seed, step, self.info.rank, self.info.device)
        correct, seen = sums.correct, sums.seen
        nonfinite = self.forward_backward(micro_batches, parts, sums)
        mine = StepSignals(int(nonfinite), int(stop), sums.correct - correct, sums.seen - seen)
        return mine.all_reduce(self.info)

    def forward_backward(
        self, micro_batches: list[Any], parts: TrainingParts, sums: EpochSums
    ) -> bool:
        """Gradients of the mean loss over the micro-batches, added to ``sums``; True if a
        loss was not finite. Unreadable images are skipped with a warning and counted."""
        parts.optimizer.zero_grad(set_to_none=True)
        nonfinite = False
        for k, batch in enumerate(micro_batches):
            for path in batch.bad:
                print(f"warning: skipped unreadable image {path}", file=sys.stderr, flush=True)
            sums.skipped += len(batch.bad)
            self.skipped.update(dict.fromkeys(batch.bad))
            if batch.images is None:
                continue
            last = k == len(micro_batches) - 1
            sync = self.net.no_sync() if self.info.enabled and not last else None
            with sync or contextlib.nullcontext():
                loss, logits, y = self._backward(batch, parts.scaler)
            value = float(loss.detach())
            nonfinite |= not math.isfinite(value)
            sums.loss += value * y.shape[0]
            sums.correct += int((logits.detach().argmax(1) == y).sum())
            sums.seen += y.shape[0]
        return nonfinite

    def _backward(
        self, batch: Any, scaler: torch.amp.GradScaler
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        device = self.info.device
        x = to_device(batch.images, device, self.channels_last)
        y = batch.labels.to(device)
        target: torch.Tensor = y
        if self.mixer is not None:
            x, target = self.mixer(x, y)
        with autocast(device, self.precision):
            logits, aux = self.net(x)
        loss = F.cross_entropy(logits.float(), target, label_smoothing=self.label_smoothing)
        for w, a in zip(self.aux_weights, aux, strict=False):
            loss = loss + w * F.cross_entropy(
                a.float(), target, label_smoothing=self.label_smoothing
            )
        # each micro-batch's share of this process's batch, so the gradient is the mean
        scaler.scale(loss * (x.shape[0] / self.per_process_batch)).backward()
        return loss, logits, y


def apply_update(parts: TrainingParts, grad_clip_norm: float | None) -> None:
    """Clip, step the optimizer through the grad scaler, update the average."""
    clip_gradients(parts.model, grad_clip_norm)
    parts.scaler.step(parts.optimizer)
    parts.scaler.update()
    if parts.ema is not None:
        parts.ema.update(parts.model)
