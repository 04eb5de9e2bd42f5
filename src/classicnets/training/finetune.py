"""Fine-tuning controls that work for every registered model through its stage description.

Every model describes its stages (``ClassicNet.set_stages``: the stem first, then each
resolution stage) and has a ``head``. From that alone:

* :func:`freeze` stops training the stem and the first N stages, or the whole backbone (a linear
  probe): their parameters get ``requires_grad=False`` and their batch norms keep their running
  statistics (they stay in eval mode even when the model is put in training mode);
* :func:`freeze_batchnorm_stats` fixes every batch norm's statistics while its weights still
  train (``freeze_bn``: fine-tuning with small batches);
* :func:`param_groups` gives the optimizer its groups: layer-wise learning-rate decay from the
  head down through the stages (``layer_decay``, BEiT/ConvNeXt fine-tuning practice), a separate
  scale for the head (``head_lr_scale``) and a weight decay for biases and normalization weights
  (``norm_weight_decay``, commonly 0 when fine-tuning). Each group carries ``lr_scale``: the
  schedule sets ``lr = base_lr * lr_scale`` per group.

None of this is in the papers, which train from scratch; it is the common transfer-learning
practice these options are named after.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from torch import nn

from ..errors import ClassicNetsError

__all__ = [
    "FreezeError",
    "FreezeReport",
    "freeze",
    "freeze_batchnorm_stats",
    "layer_ids",
    "param_groups",
    "parse_freeze",
]


class FreezeError(ClassicNetsError, ValueError):
    """A ``freeze`` setting the model cannot honour."""


@dataclass(frozen=True)
class FreezeReport:
    """What :func:`freeze` froze: module names, parameter count and frozen batch norms."""

    modules: tuple[str, ...]
    params: int
    batchnorms: int

    def describe(self) -> str:
        if not self.modules:
            return "nothing frozen"
        return (
            f"frozen: {', '.join(self.modules)} ({self.params:,} parameters, "
            f"{self.batchnorms} batch norms with fixed statistics)"
        )


class _FrozenStats:
    """Mixin of a batch norm whose running statistics stay fixed: always in eval mode."""

    def train(self, mode: bool = True) -> nn.Module:
        return super().train(False)  # type: ignore[misc]


@cache
def _frozen_class(cls: type[nn.Module]) -> type[nn.Module]:
    return type(f"FrozenStats{cls.__name__}", (_FrozenStats, cls), {})


def _stage_modules(model: nn.Module) -> tuple[tuple[str, ...], ...]:
    stages = getattr(model, "_stage_modules", ())
    if not stages or not hasattr(model, "head"):
        raise FreezeError(
            f"{type(model).__name__} has no stage description; freezing and layer-wise learning "
            "rates need a registered classicnets model (create_model)"
        )
    return stages


def freeze_batchnorm_stats(module: nn.Module) -> int:
    """Keep every batch norm under ``module`` in eval mode (statistics fixed); returns how many.

    The module's class is swapped for a subclass that ignores ``train(True)``, so state-dict
    keys, checkpoints and copies (EMA) are unchanged.
    """
    count = 0
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and not isinstance(m, _FrozenStats):
            m.__class__ = _frozen_class(type(m))
            m.eval()
            count += 1
    return count


def parse_freeze(value: str | int, model: nn.Module) -> int:
    """How many stages ``freeze`` covers: 0 nothing, 1 the stem, 1 + N the stem and N stages,
    all stages for ``"backbone"`` (the head alone trains)."""
    stages = _stage_modules(model)
    text = str(value).strip().lower()
    if text in ("", "none", "0", "false"):
        return 0
    if text == "stem":
        return 1
    if text in ("backbone", "all"):
        return len(stages)
    n_after_stem = len(stages) - 1
    if text.isdigit() and int(text) <= n_after_stem:
        return 1 + int(text)
    names = ", ".join("+".join(s) for s in stages[1:])
    raise FreezeError(
        f"freeze={value!r}: {getattr(model, 'model_name', type(model).__name__)} has a stem and "
        f"{n_after_stem} stages after it ({names}); use none, stem, a number of stages after the "
        f"stem from 0 to {n_after_stem}, or backbone (only the classifier trains)"
    )


def freeze(model: nn.Module, value: str | int) -> FreezeReport:
    """Freeze the stem and the first stages (or the whole backbone), see :func:`parse_freeze`.

    Frozen parameters get ``requires_grad=False``; batch norms inside frozen modules keep their
    statistics. With ``"backbone"`` every module but the head is frozen, auxiliary classifiers
    included (they only serve the backbone's training).
    """
    count = parse_freeze(value, model)
    stages = _stage_modules(model)
    names = [n for stage in stages[:count] for n in stage]
    if count == len(stages):
        names += [n for n, _ in model.named_children() if n != "head" and n not in names]
    params = batchnorms = 0
    for name in names:
        module = model.get_submodule(name)
        for p in module.parameters():
            if p.requires_grad:
                p.requires_grad_(False)
                params += p.numel()
        batchnorms += freeze_batchnorm_stats(module)
    return FreezeReport(tuple(names), params, batchnorms)


def layer_ids(model: nn.Module) -> tuple[dict[str, int], int]:
    """``({parameter name: layer id}, number of layers)``: the stem is 0, stage i is i, the head
    is the last id; modules outside the stages and head (auxiliary classifiers) share the last
    stage's id."""
    stages = _stage_modules(model)
    owner = {n: i for i, stage in enumerate(stages) for n in stage}
    head_id = len(stages)
    ids: dict[str, int] = {}
    for name, _ in model.named_parameters():
        top = name.split(".", 1)[0]
        ids[name] = head_id if top == "head" else owner.get(top, head_id - 1)
    return ids, head_id + 1


def _is_norm_or_bias(name: str, param: nn.Parameter) -> bool:
    return param.ndim <= 1 or name.endswith(".bias")


def param_groups(
    model: nn.Module,
    *,
    weight_decay: float,
    head_lr_scale: float = 1.0,
    layer_decay: float = 1.0,
    norm_weight_decay: float | None = None,
) -> list[dict[str, Any]]:
    """Optimizer parameter groups, each with ``lr_scale`` and ``weight_decay``.

    The head's scale is ``head_lr_scale``; stage ``i`` of ``L`` layers gets
    ``layer_decay ** (L - 1 - i)`` (the layer below the head ``layer_decay``, the stem the
    smallest). Biases and 1-d weights (normalization) get ``norm_weight_decay`` when it is set.
    Frozen parameters are left out. With every option at its default there is one group per
    weight-decay value, in parameter order, and scale 1: the plain paper setting.
    """
    ids, num_layers = layer_ids(model)
    groups: dict[tuple[float, float], dict[str, Any]] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        layer = ids[name]
        scale = layer_decay ** (num_layers - 1 - layer)
        if layer == num_layers - 1:
            scale *= head_lr_scale
        decay = (
            norm_weight_decay
            if norm_weight_decay is not None and _is_norm_or_bias(name, p)
            else weight_decay
        )
        group = groups.setdefault(
            (scale, decay), {"params": [], "lr_scale": scale, "weight_decay": decay}
        )
        group["params"].append(p)
    return list(groups.values())
