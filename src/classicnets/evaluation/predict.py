"""``classicnets predict IMAGE...``: the top-k classes of each image, as a table or JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from ..data import BadImageError, load_image
from ..runtime.table import format_table
from .loading import LoadedModel


@torch.no_grad()
def predict(
    lm: LoadedModel,
    images: Sequence[str | Path],
    *,
    top_k: int = 5,
    crop_pct: float | None = None,
    device: str = "cpu",
) -> list[dict[str, Any]]:
    """For each image: ``{"image", "top": [{"class", "index", "prob"}, ...]}``, the image
    prepared as the model's preprocessing says; ``crop_pct``: another crop fraction.

    An image much smaller than the network's input (a side under a quarter of it) is refused:
    upsampled that far it holds nothing to classify, and a confident answer would mislead."""
    from ..runtime.distributed import resolve_device

    dev = resolve_device(device)
    model = lm.model.to(dev)
    pre = lm.preprocessing
    if crop_pct is not None:
        pre = replace(pre, resize_size=round(pre.input_size / crop_pct))
    tf = pre.eval_transform()
    k = min(top_k, len(lm.classes))
    out = []
    for path in images:
        try:
            img = load_image(path, lm.in_chans)
        except (OSError, ValueError, SyntaxError) as e:
            raise BadImageError(f"cannot read image {path}: {e}") from e
        _check_size(path, img.size, pre.input_size)
        probs = model(tf(img).unsqueeze(0).to(dev)).float().softmax(dim=1)[0].cpu()
        p, idx = probs.topk(k)
        top = [
            {"class": lm.classes[i], "index": int(i), "prob": float(q)}
            for q, i in zip(p.tolist(), idx.tolist(), strict=True)
        ]
        out.append({"image": str(path), "top": top})
    return out


def _check_size(path: str | Path, size: tuple[int, int], input_size: int) -> None:
    smallest = max(1, input_size // 4)
    if min(size) < smallest:
        raise BadImageError(
            f"image {path} is {size[0]}x{size[1]} pixels, far below the model's "
            f"{input_size}x{input_size} input (at least {smallest} pixels a side): give a larger "
            "image"
        )


def render(results: list[dict[str, Any]], as_json: bool) -> str:
    if as_json:
        return json.dumps(results, indent=2)
    rows = []
    for r in results:
        for rank, t in enumerate(r["top"], 1):
            rows.append(
                [r["image"] if rank == 1 else "", str(rank), t["class"], f"{t['prob']:.2%}"]
            )
    return format_table(["image", "rank", "class", "probability"], rows, right={1, 3})
