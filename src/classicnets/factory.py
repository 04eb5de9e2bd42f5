"""``create_model``: the public entry that builds a registered model, with pretrained weights
and as a feature extractor.

It sits above the registry, the families and ``weights`` (which it uses to load pretrained
files), so that none of those needs to import anything above itself.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from torch import nn

from .features import FeatureExtractor
from .registry import model_info
from .weights import load_pretrained

__all__ = ["create_model"]


def create_model(
    name: str,
    *,
    num_classes: int | None = None,
    in_chans: int = 3,
    features_only: bool = False,
    out_indices: Sequence[int] | None = None,
    pretrained: bool | str | os.PathLike[str] | None = False,
    **options: Any,
) -> nn.Module:
    """Build a registered model.

    ``num_classes`` defaults to the model's own (1000 for ImageNet networks, 10 for the CIFAR
    ones). Further options (``drop_rate``, ``shortcut``, ``zero_init_last``...) go to the model's
    keyword-only constructor; ``model_info(name).options()`` lists them. With
    ``features_only=True`` the result returns the feature maps of the stages in
    ``out_indices`` (default: all) instead of logits.

    ``pretrained``: ``True`` loads the model's default registered weights, a tag (``"tv_in1k"``)
    or a full name (``"resnet18.tv_in1k"``) those weights, a path a local file (no network).
    Registered weights are downloaded into the torch hub cache and their SHA-256 verified; see
    :func:`classicnets.load_weights` for what happens when ``num_classes`` or ``in_chans`` differ
    from the checkpoint's.
    """
    model = model_info(name).build(num_classes=num_classes, in_chans=in_chans, **options)
    if pretrained is not False and pretrained is not None:
        head = "unused" if features_only else "pretrained" if num_classes is None else "new"
        load_pretrained(model, pretrained, head=head)
    if features_only:
        return FeatureExtractor(model, out_indices=out_indices)  # type: ignore[arg-type]
    if out_indices is not None:
        raise ValueError("out_indices only applies with features_only=True")
    return model
