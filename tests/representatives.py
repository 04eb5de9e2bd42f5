"""One model per family for the tests too costly to run over the whole registry by default."""

from __future__ import annotations

import functools

import torch

import classicnets
from classicnets.models.registry import model_info


@functools.cache
def smallest_per_family() -> list[str]:
    """Each family's registered model with the fewest parameters (counted on 'meta')."""
    best: dict[str, tuple[int, str]] = {}
    for name in classicnets.list_models():
        family = model_info(name).family
        with torch.device("meta"):
            params = classicnets.count_params(classicnets.create_model(name))
        if family not in best or params < best[family][0]:
            best[family] = (params, name)
    return sorted(name for _, name in best.values())
