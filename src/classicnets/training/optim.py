"""Optimizers the papers use, and parameter averaging.

* SGD with momentum, optionally Nesterov (DenseNet), with L2 weight decay on every parameter as
  in the papers' Caffe/Torch setups.
* :class:`RMSpropTF`: RMSProp as TensorFlow implements it (Inception-v3/v4: decay 0.9, epsilon
  1.0). TensorFlow adds epsilon *inside* the square root, starts the mean square at 1, and folds
  the learning rate into the momentum buffer; ``torch.optim.RMSprop`` adds epsilon outside the
  root, which with epsilon = 1.0 is a different optimizer altogether.
* AdamW.
* :class:`ModelEma`: an exponential moving average of the weights (the Polyak averaging of
  GoogLeNet and the "running average of the parameters" of Inception-v3), used for evaluation.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal, get_args

import torch
from torch import nn

#: The optimizers :func:`build_optimizer` builds (``optimizer = ...``).
OptimizerName = Literal["sgd", "rmsprop", "adamw"]


class RMSpropTF(torch.optim.Optimizer):
    """RMSProp with TensorFlow's update rule.

    ms <- decay * ms + (1 - decay) * g^2          (ms starts at 1)
    mom <- momentum * mom + lr * g / sqrt(ms + eps)
    p <- p - mom
    Weight decay is added to the gradient (L2), as in the papers.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float,
        *,
        decay: float = 0.9,
        momentum: float = 0.9,
        eps: float = 1.0,
        weight_decay: float = 0.0,
    ) -> None:
        defaults = {
            "lr": lr,
            "decay": decay,
            "momentum": momentum,
            "eps": eps,
            "weight_decay": weight_decay,
        }
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad
                if group["weight_decay"]:
                    grad = grad.add(p, alpha=group["weight_decay"])
                state = self.state[p]
                if not state:
                    state["square_avg"] = torch.ones_like(p)
                    state["momentum_buffer"] = torch.zeros_like(p)
                ms = state["square_avg"]
                ms.mul_(group["decay"]).addcmul_(grad, grad, value=1 - group["decay"])
                update = grad / (ms + group["eps"]).sqrt()
                buf = state["momentum_buffer"]
                buf.mul_(group["momentum"]).add_(update, alpha=group["lr"])
                p.sub_(buf)
        return loss


@dataclass(frozen=True)
class OptimizerConfig:
    """The optimizer and its settings; the training config's fields of the same names say
    what each means and hold the defaults."""

    optimizer: OptimizerName
    lr: float
    momentum: float
    nesterov: bool
    weight_decay: float
    rmsprop_decay: float
    rmsprop_eps: float
    adamw_betas: tuple[float, float]


def build_optimizer(
    params: nn.Module | list[dict[str, Any]], cfg: OptimizerConfig
) -> torch.optim.Optimizer:
    """The optimizer ``cfg`` names over a model's trainable parameters, or over parameter groups
    (:func:`~classicnets.training.finetune.param_groups`: each with its ``lr_scale`` and
    ``weight_decay``). The groups' ``lr_scale`` is kept in the optimizer (and its checkpoints),
    where :func:`set_lr` reads it."""
    if isinstance(params, nn.Module):
        params = [{"params": [p for p in params.parameters() if p.requires_grad]}]
    groups = [{"lr_scale": 1.0, **g} for g in params]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(
            groups,
            lr=cfg.lr,
            momentum=cfg.momentum,
            nesterov=cfg.nesterov and cfg.momentum > 0,
            weight_decay=cfg.weight_decay,
        )
    if cfg.optimizer == "rmsprop":
        return RMSpropTF(
            groups,
            lr=cfg.lr,
            decay=cfg.rmsprop_decay,
            momentum=cfg.momentum,
            eps=cfg.rmsprop_eps,
            weight_decay=cfg.weight_decay,
        )
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(
            groups, lr=cfg.lr, betas=cfg.adamw_betas, weight_decay=cfg.weight_decay
        )
    *others, last = get_args(OptimizerName)
    raise ValueError(f"unknown optimizer {cfg.optimizer!r}: use {', '.join(others)} or {last}")


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """The schedule's ``lr`` times each group's ``lr_scale`` (1 unless fine-tuning options say)."""
    for group in optimizer.param_groups:
        group["lr"] = lr * group.get("lr_scale", 1.0)


def clip_gradients(model: nn.Module, max_norm: float | None) -> float | None:
    """Clip the global gradient norm; returns the norm before clipping (None when off)."""
    if not max_norm:
        return None
    return float(nn.utils.clip_grad_norm_(model.parameters(), max_norm))


class ModelEma:
    """Exponential moving average of a model's parameters; buffers (BN statistics) are copied.

    ``decay`` close to 1 averages over about 1 / (1 - decay) steps. The first steps use
    ``min(decay, (1 + n) / (10 + n))`` so that the average is not dominated by the random
    initialisation (TensorFlow's ExponentialMovingAverage with num_updates).
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.updates = 0
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        ema_params = dict(self.module.named_parameters())
        for name, p in model.named_parameters():
            ema_params[name].lerp_(p.detach(), 1 - d)
        ema_buffers = dict(self.module.named_buffers())
        for name, b in model.named_buffers():
            ema_buffers[name].copy_(b)

    def state_dict(self) -> dict[str, Any]:
        return {"module": self.module.state_dict(), "updates": self.updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.module.load_state_dict(state["module"])
        self.updates = int(state["updates"])
