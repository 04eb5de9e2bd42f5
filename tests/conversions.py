"""State-dict conversions that only the tests use: torchvision's keys renamed to ours for the
families whose checkpoints ``classicnets.weights`` converts through their key rules, and the
weight mapping between ResNeXt's three equivalent block forms (Fig. 3)."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from classicnets.models import densenet, googlenet, resnet
from classicnets.models.keys import remap_keys


def resnet_from_torchvision(state_dict: dict[str, Tensor]) -> dict[str, Tensor]:
    """Rename a torchvision/timm ResNet (or ResNeXt) state dict's keys to ours."""
    return remap_keys(state_dict, resnet.TORCHVISION_KEY_RULES)


def densenet_from_torchvision(state_dict: dict[str, Tensor]) -> dict[str, Tensor]:
    """Rename a torchvision/timm DenseNet state dict's keys to ours."""
    return remap_keys(state_dict, densenet.TORCHVISION_KEY_RULES)


def googlenet_from_torchvision(
    state_dict: dict[str, Tensor], *, aux_logits: bool = True
) -> dict[str, Tensor]:
    """Rename a torchvision GoogLeNet state dict for ``googlenet_torchvision``.

    torchvision's released checkpoint includes (untrained) auxiliary heads; ``aux_logits=False``
    drops them, for a model built with ``aux_logits=False``.
    """
    if not aux_logits:
        state_dict = {k: v for k, v in state_dict.items() if not k.startswith(("aux1.", "aux2."))}
    return remap_keys(state_dict, googlenet.TORCHVISION_KEY_RULES)


def _slice(t: Tensor, i: int, d: int, dim: int = 0) -> Tensor:
    return t.narrow(dim, i * d, d).clone() if t.dim() else t.clone()


def grouped_to_paths(
    state: dict[str, Tensor], *, cardinality: int, form: Literal["a", "b"]
) -> dict[str, Tensor]:
    """Map a form-(c) bottleneck's state dict onto form (a) or (b): the same function.

    Path i takes output channels ``[i*d, (i+1)*d)`` of the first 1x1 and of the grouped 3x3 (its
    group i), with their BN entries; in form (a) it also takes input channels ``[i*d, (i+1)*d)``
    of the last 1x1. Keys outside conv1/conv2/conv3 (shortcut, SE) are unchanged.
    """
    d = state["conv2.conv.weight"].shape[0] // cardinality
    out: dict[str, Tensor] = {}
    for key, value in state.items():
        layer, _, rest = key.partition(".")
        if layer in ("conv1", "conv2"):
            for i in range(cardinality):
                out[f"paths.{i}.{layer}.{rest}"] = _slice(value, i, d)
        elif layer == "conv3" and form == "a":
            if rest == "conv.weight":
                for i in range(cardinality):
                    out[f"paths.{i}.conv3.weight"] = _slice(value, i, d, dim=1)
            else:
                out[f"bn3.{rest.removeprefix('bn.')}"] = value.clone()
        else:
            out[key] = value.clone()
    return out


def paths_to_grouped(state: dict[str, Tensor], *, cardinality: int) -> dict[str, Tensor]:
    """The inverse of :func:`grouped_to_paths`: a form-(a) or (b) state dict in form (c)."""
    out: dict[str, Tensor] = {}
    pieces: dict[tuple[str, int], Tensor] = {}
    for key, value in state.items():
        if key.startswith("paths."):
            _, i, rest = key.split(".", 2)
            if rest == "conv3.weight":
                pieces[("conv3.conv.weight", int(i))] = value
            elif rest.endswith("num_batches_tracked"):
                out[rest] = value.clone()
            else:
                pieces[(rest, int(i))] = value
        elif key.startswith("bn3."):
            out[f"conv3.bn.{key.removeprefix('bn3.')}"] = value.clone()
        else:
            out[key] = value.clone()
    for name in sorted({n for n, _ in pieces}):
        dim = 1 if name == "conv3.conv.weight" else 0
        out[name] = torch.cat([pieces[(name, i)] for i in range(cardinality)], dim=dim)
    return out
