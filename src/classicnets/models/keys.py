"""Checkpoint key layouts as data: renaming rules, converters, and the rule engine.

A family file (``models/<family>.py``) declares how torchvision's or timm's checkpoints of its
models become ours as a :class:`CheckpointFormats` value and hands it to ``@register_model``;
``classicnets.weights`` reads it back through ``model_info(name).checkpoints``. This module sits
below both, so a family can build its converters from :func:`remap_keys` without importing the
weights package.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial

import torch

__all__ = ["CheckpointFormats", "Converter", "KeyLayout", "KeyRules", "remap_keys"]

#: ``(regex, replacement)`` pairs that rename *their* keys to ours; the first match wins.
KeyRules = tuple[tuple[str, str], ...]
#: A whole state dict in, a whole state dict out (for conversions that are more than renaming).
Converter = Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]]


def remap_keys(
    state_dict: Mapping[str, torch.Tensor], rules: Iterable[tuple[str, str]]
) -> dict[str, torch.Tensor]:
    """Rename state-dict keys with ``(regex, replacement)`` rules, the first match winning."""
    compiled = [(re.compile(p), r) for p, r in rules]
    out: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        new = key
        for pattern, repl in compiled:
            if pattern.search(key):
                new = pattern.sub(repl, key)
                break
        out[new] = value
    return out


@dataclass(frozen=True)
class KeyLayout:
    """How checkpoints in one foreign layout (torchvision's, timm's) become ours.

    ``rules`` is enough when the conversion only renames keys. A layout whose conversion
    recognises a variant or reshapes tensors gives ``convert`` (theirs -> ours) instead, and
    ``export`` (ours -> theirs) when export cannot invert the renaming on its own.
    """

    rules: KeyRules = ()
    convert: Converter | None = None
    export: Converter | None = None

    def importer(self) -> Converter | None:
        """Theirs -> ours: the converter, else the renaming rules, else nothing."""
        if self.convert is not None:
            return self.convert
        return partial(remap_keys, rules=self.rules) if self.rules else None


@dataclass(frozen=True)
class CheckpointFormats:
    """The foreign checkpoint layouts a family converts, handed to ``@register_model``.

    ``family`` names the family file that declares them (``models/<family>.py``): models
    registered with the same one are compared with each other when a checkpoint's architecture
    is identified. ``aux_head_prefixes`` are our key prefixes of auxiliary classifiers
    (``("aux1.", "aux2.")``), so that checkpoints load with or without those heads.
    """

    family: str
    layouts: Mapping[str, KeyLayout] = field(default_factory=dict)
    aux_head_prefixes: tuple[str, ...] = ()
