"""Weight files and key layouts."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import torch


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
