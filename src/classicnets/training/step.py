"""What the loop calls inside one optimizer step: the module it trains (with auxiliary heads,
DDP and compile), a process's micro-batches with their gradient-sync context, and the forward
pass and loss of one micro-batch. The step itself (zero_grad, backward, clipping, the update,
the average) is written out in :mod:`classicnets.training.loop`."""

from __future__ import annotations

import contextlib
import math
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..runtime import distributed
from ..runtime.device import autocast, to_device
from .checkpoint import EpochSums
from .mix import Mixer


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
    """How this process computes its share of a step: the wrapped module, the loss and the
    precision."""

    net: nn.Module
    info: distributed.DistInfo
    per_process_batch: int
    precision: str = "fp32"
    channels_last: bool = False
    label_smoothing: float = 0.0
    aux_weights: tuple[float, ...] = ()
    mixer: Mixer | None = None
    #: the unreadable images met so far, "path (reason)", in order (each warned about once)
    skipped: dict[str, None] = field(default_factory=dict)

    def readable(
        self, micro_batches: list[Any], sums: EpochSums
    ) -> Iterator[tuple[Any, AbstractContextManager[Any]]]:
        """The micro-batches that hold images, each with the context its forward and backward
        run in: DDP's ``no_sync`` for all but the step's last micro-batch, so that gradients are
        all-reduced once per step. Unreadable images (those that the opening of the data did
        not find) are skipped and counted, with a warning the first time each is met."""
        for k, batch in enumerate(micro_batches):
            for path in batch.bad:
                if path not in self.skipped:
                    print(f"warning: skipped unreadable image {path}", file=sys.stderr, flush=True)
                    self.skipped[path] = None
            sums.skipped += len(batch.bad)
            if batch.images is None:
                continue
            last = k == len(micro_batches) - 1
            sync = self.net.no_sync() if self.info.enabled and not last else None
            yield batch, sync or contextlib.nullcontext()

    def forward_loss(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
        """Forward of one micro-batch (mixed when MixUp/CutMix is on): its loss with the
        auxiliary heads' weighted losses, the logits, the labels, and the micro-batch's share
        of this process's batch, which scales its gradient so that the sum is the mean's."""
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
        return loss, logits, y, x.shape[0] / self.per_process_batch


def tally(sums: EpochSums, loss: torch.Tensor, logits: torch.Tensor, y: torch.Tensor) -> bool:
    """Add a micro-batch's loss and hits to the epoch's ``sums``; False if the loss is not
    finite."""
    value = float(loss.detach())
    sums.loss += value * y.shape[0]
    sums.correct += int((logits.detach().argmax(1) == y).sum())
    sums.seen += y.shape[0]
    return math.isfinite(value)
