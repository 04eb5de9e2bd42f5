"""``create_model``: the public entry that builds a registered model, with pretrained weights
and as a feature extractor.

It sits above the registry, the families and ``weights`` (which it uses to load pretrained
files), so that none of those needs to import anything above itself.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Sequence
from typing import Any

from torch import nn

from . import models  # noqa: F401  (importing registers every family)
from .errors import UnknownModelError
from .models import registry
from .models.features import FeatureExtractor
from .models.registry import model_info
from .weights import (
    WeightsMetadata,
    WeightSpec,
    get_weights,
    list_weights,
    load_pretrained,
    weights_for,
)
from .weights.data_config import default_preprocessing, pretrained_cfg
from .weights.files import read_metadata_of
from .weights.load import is_weights_path, resolve_pretrained

__all__ = ["create_model", "list_models"]

Pretrained = bool | str | os.PathLike[str] | None


def create_model(
    name: str,
    *,
    num_classes: int | None = None,
    in_chans: int | None = None,
    features_only: bool = False,
    out_indices: Sequence[int] | None = None,
    pretrained: Pretrained = False,
    **options: Any,
) -> nn.Module:
    """Build a registered model.

    ``name`` is a registered model, or ``arch.tag`` (timm's spelling: ``"resnet50_v1_5.tv_in1k"``)
    naming the weights ``pretrained=True`` loads. ``num_classes`` defaults to the model's own
    (1000 for ImageNet networks, 10 for the CIFAR ones), ``in_chans`` to 3. Further options
    (``drop_rate``, ``shortcut``, ``zero_init_last``...) go to the model's keyword-only
    constructor; ``model_info(name).options()`` lists them. With ``features_only=True`` the
    result returns the feature maps of the stages in ``out_indices`` (default: all) instead of
    logits.

    ``pretrained``: ``True`` loads the model's default registered weights, a tag (``"tv_in1k"``)
    or a full name (``"resnet18.tv_in1k"``) those weights, a path a local file (no network).
    A file we wrote (a run's ``model.safetensors``, ``save_weights``') builds the model it
    records: its classes, input channels and options, unless given here. Registered weights are
    downloaded into the torch hub cache and their SHA-256 verified; see
    :func:`classicnets.load_weights` for what happens when ``num_classes`` or ``in_chans`` differ
    from the checkpoint's.

    Every model gets ``model.pretrained_cfg`` (timm's spelling: input size, interpolation, crop,
    mean, std, and the label names when known), so ``timm.data.resolve_model_data_config(model)``
    finds how to feed it.
    """
    arch, pretrained, tagged = _split_tag(name, pretrained)
    recorded = _recorded(pretrained)
    model = model_info(arch).build(
        num_classes=num_classes if num_classes is not None else recorded.num_classes,
        in_chans=in_chans if in_chans is not None else recorded.in_chans or 3,
        **{**recorded.options, **options},
    )
    cfg = pretrained_cfg(tagged.preprocessing, tag=tagged.tag) if tagged else None
    if pretrained is not False and pretrained is not None:
        source = resolve_pretrained(arch, pretrained)
        spec = get_weights(source) if source in list_weights() else None
        new_head = num_classes is not None and num_classes != recorded.num_classes
        head = "unused" if features_only else "new" if new_head else "pretrained"
        report = load_pretrained(model, source, head=head)
        pre = report.preprocessing or (spec.preprocessing if spec else None)
        if pre is not None:
            classes = () if new_head else report.classes
            cfg = pretrained_cfg(pre, classes, tag=spec.tag if spec else "")
    model.pretrained_cfg = cfg or pretrained_cfg(default_preprocessing(arch))
    if features_only:
        return FeatureExtractor(model, out_indices=out_indices)  # type: ignore[arg-type]
    if out_indices is not None:
        raise ValueError("out_indices only applies with features_only=True")
    return model


def list_models(
    pattern: str = "*",
    *,
    family: str | None = None,
    pretrained: bool = False,
    include_tags: bool | None = None,
) -> list[str]:
    """Registered model names matching a glob (``"resnet*"``), sorted naturally.

    As timm's: ``pretrained=True`` keeps the models with registered weights and, unless
    ``include_tags=False``, lists their weights as ``arch.tag`` (each a name ``create_model``
    takes); the pattern then matches either form.
    """
    names = registry.list_models("*", family=family)
    if not pretrained:
        return [n for n in names if fnmatch.fnmatchcase(n, pattern)]
    tags = include_tags if include_tags is not None else pretrained
    out = []
    for arch in names:
        specs = weights_for(arch)
        if not specs:
            continue
        wanted = [s.name for s in specs] if tags else [arch]
        out += [n for n in wanted if fnmatch.fnmatchcase(n, pattern) or
                fnmatch.fnmatchcase(arch, pattern)]  # fmt: skip
    return out


def _split_tag(name: str, pretrained: Pretrained) -> tuple[str, Pretrained, WeightSpec | None]:
    """``arch.tag`` -> the architecture, what to load, and the weights the name picks (whose
    preprocessing describes the model even when ``pretrained`` is False, as in timm)."""
    if name in registry.list_models() or "." not in name:
        return name, pretrained, None
    arch, tag = name.split(".", 1)
    if arch not in registry.list_models():
        raise UnknownModelError(f"unknown model {name!r}: {arch!r} is not registered")
    spec = get_weights(name)  # an unknown tag: the close names in the message
    if pretrained is True:
        return arch, name, spec
    if pretrained not in (False, None, tag, name):
        raise ValueError(
            f"create_model({name!r}) names the weights {name}; "
            f"pretrained={pretrained!r} names others"
        )
    return arch, name if pretrained else False, spec


def _recorded(pretrained: Pretrained) -> WeightsMetadata:
    """What a local weight file records about its model (empty for anything else)."""
    if isinstance(pretrained, str | os.PathLike) and is_weights_path(pretrained):
        return read_metadata_of(pretrained)
    return WeightsMetadata()
