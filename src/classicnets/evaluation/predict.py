"""``classicnets predict IMAGE|FOLDER...``: the top-k classes of each image, as a table or JSON.

A folder stands for the images under it, at any depth; an image that does not read (or is far
too small to classify) is skipped with a line where the caller asks for that, and the others
are still predicted."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from ..data import BadImageError, load_image
from ..data.datasets import IMAGE_EXTENSIONS
from ..runtime.table import format_table
from .loading import LoadedModel


def image_files(paths: Sequence[str | Path]) -> list[Path]:
    """The images ``paths`` name: a file as it is, a folder as the image files under it at any
    depth (by extension, sorted). A path that does not exist, or a folder without images, is
    refused."""
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found = sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
            )
            if not found:
                raise BadImageError(
                    f"no image files in {path} ({', '.join(IMAGE_EXTENSIONS[:4])}, ... at any "
                    "depth)"
                )
            files += found
        elif path.exists():
            files.append(path)
        else:
            raise BadImageError(f"no such image file or folder: {path}")
    return files


@torch.no_grad()
def predict(
    lm: LoadedModel,
    images: Sequence[str | Path],
    *,
    top_k: int = 5,
    crop_pct: float | None = None,
    device: str = "cpu",
    on_skip: Callable[[Path, str], None] | None = None,
) -> list[dict[str, Any]]:
    """For each image: ``{"image", "top": [{"class", "index", "prob"}, ...]}``, the image
    prepared as the model's preprocessing says; ``crop_pct``: another crop fraction.

    An image much smaller than the network's input (a side under a quarter of it) is refused:
    upsampled that far it holds nothing to classify, and a confident answer would mislead.
    An unreadable or refused image raises :class:`BadImageError`; with ``on_skip`` it is
    passed to ``on_skip(path, reason)`` instead and left out of the results."""
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
            img = _readable(path, lm.in_chans, pre.input_size)
        except BadImageError as e:
            if on_skip is None:
                raise
            on_skip(Path(path), str(e))
            continue
        probs = model(tf(img).unsqueeze(0).to(dev)).float().softmax(dim=1)[0].cpu()
        p, idx = probs.topk(k)
        top = [
            {"class": lm.classes[i], "index": int(i), "prob": float(q)}
            for q, i in zip(p.tolist(), idx.tolist(), strict=True)
        ]
        out.append({"image": str(path), "top": top})
    return out


def _readable(path: str | Path, in_chans: int, input_size: int) -> Any:
    """The image at ``path``, or :class:`BadImageError` saying why it cannot be classified."""
    try:
        img = load_image(path, in_chans)
    except (OSError, ValueError, SyntaxError) as e:
        raise BadImageError(f"cannot read image {path}: {e}") from e
    _check_size(path, img.size, input_size)
    return img


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
