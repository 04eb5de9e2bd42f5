"""``classicnets predict IMAGE...``: the top-k classes of each image, as a table or JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torchvision.transforms import v2

from .data import BadImageError, load_image
from .evaluate import LoadedModel
from .table import format_table

SMALL_IMAGE_DATASETS = ("digits", "cifar10", "cifar100")  # a native size (data.transforms)


def eval_transform(lm: LoadedModel, crop_pct: float) -> v2.Compose:
    """The evaluation transform of ``classicnets eval``: small-image datasets (digits, CIFAR)
    resize the whole image, others resize the shorter side to size / crop_pct and crop."""
    size = lm.input_size
    dataset = lm.config.get("dataset")
    small = dataset in SMALL_IMAGE_DATASETS or (dataset is None and size <= 64)
    geometry: list[Any] = (
        [v2.Resize((size, size), antialias=True)]
        if small
        else [v2.Resize(round(size / crop_pct), antialias=True), v2.CenterCrop(size)]
    )
    return v2.Compose(
        [
            v2.ToImage(),
            *geometry,
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(list(lm.mean), list(lm.std)),
        ]
    )


@torch.no_grad()
def predict(
    lm: LoadedModel,
    images: Sequence[str | Path],
    *,
    top_k: int = 5,
    crop_pct: float | None = None,
) -> list[dict[str, Any]]:
    """For each image: ``{"image", "top": [{"class", "index", "prob"}, ...]}``; ``crop_pct``
    None: the model's (its training config's, or its registered weights')."""
    tf = eval_transform(lm, lm.crop_pct if crop_pct is None else crop_pct)
    k = min(top_k, len(lm.classes))
    out = []
    for path in images:
        try:
            img = load_image(path, lm.in_chans)
        except (OSError, ValueError, SyntaxError) as e:
            raise BadImageError(f"cannot read image {path}: {e}") from e
        probs = lm.model(tf(img).unsqueeze(0)).float().softmax(dim=1)[0]
        p, idx = probs.topk(k)
        top = [
            {"class": lm.classes[i], "index": int(i), "prob": float(q)}
            for q, i in zip(p.tolist(), idx.tolist(), strict=True)
        ]
        out.append({"image": str(path), "top": top})
    return out


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
