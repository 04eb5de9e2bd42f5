"""The papers' multi-view test protocols: the views of one image, and evaluation over them.

Protocols (``--protocol``, named in :data:`classicnets.evaluation.PROTOCOLS`), for a network
whose training crop is ``S`` (224 for ImageNet models); scales given for S = 224 are scaled by
S / 224:

* ``center``: resize the shorter side to S / crop_pct, one centre S x S crop (the default, and
  the single-view test of the CIFAR papers when the images are already S x S).
* ``ten_crop``: the four corners and the centre of that image, and their mirrors; softmax
  averaged (ResNet Table 3, DenseNet Table 3).
* ``googlenet_144``: GoogLeNet Sec. 6: the shorter side resized to 256, 288, 320 and 352; the
  left, centre and right (or top, centre, bottom) squares; from each square the four corners,
  the centre S crop and the square resized to S; and their mirrors: 4 x 3 x 6 x 2 = 144 views.
* ``vgg_dense``: VGG Sec. 3.2: the network applied fully-convolutionally to the whole image
  with the shorter side at Q = 256, 384 and 512, and to its mirror; class scores averaged. A
  model with ``as_fully_convolutional()`` (VGG: the FC layers as 7x7 and 1x1 convolutions, the
  score map averaged) is evaluated in that form; the other families' heads pool globally, so
  their whole-image application already is the dense evaluation.
* ``resnet_fcn``: ResNet Sec. 3.4: fully-convolutional on the whole image with the shorter side
  at 224, 256, 384, 480 and 640, scores averaged.

Multi-view protocols average softmax probabilities over the views of one image.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.transforms import v2

from ..runtime.device import autocast
from ..runtime.metrics import EvalResult
from . import PROTOCOLS

#: The protocols that average mirrored views too.
MIRRORED_PROTOCOLS = ("ten_crop", "googlenet_144", "vgg_dense")


def _scaled(sizes: Sequence[int], input_size: int) -> list[int]:
    return [round(s * input_size / 224) for s in sizes]


def _resize_short(img: torch.Tensor, size: int) -> torch.Tensor:
    return v2.functional.resize(img, size, antialias=True)


def _with_flips(views: list[torch.Tensor], mirror: bool = True) -> list[torch.Tensor]:
    return views + [v.flip(-1) for v in views] if mirror else views


def ten_crop_views(
    img: torch.Tensor, input_size: int, crop_pct: float, mirror: bool = True
) -> list[torch.Tensor]:
    img = _resize_short(img, round(input_size / crop_pct))
    if not mirror:  # the five crops alone
        return list(v2.functional.five_crop(img, [input_size, input_size]))
    return list(v2.functional.ten_crop(img, [input_size, input_size]))


def googlenet_144_views(
    img: torch.Tensor, input_size: int, mirror: bool = True
) -> list[torch.Tensor]:
    views: list[torch.Tensor] = []
    for short in _scaled((256, 288, 320, 352), input_size):
        im = _resize_short(img, short)
        h, w = im.shape[-2:]
        side = min(h, w)
        long_len = max(h, w)
        for off in (0, (long_len - side) // 2, long_len - side):
            square = im[..., off : off + side, :] if h > w else im[..., :, off : off + side]
            views += list(v2.functional.five_crop(square, [input_size, input_size]))
            views.append(v2.functional.resize(square, [input_size, input_size], antialias=True))
    return _with_flips(views, mirror)


def full_image_views(img: torch.Tensor, scales: Sequence[int], flip: bool) -> list[torch.Tensor]:
    views = [_resize_short(img, s) for s in scales]
    return _with_flips(views) if flip else views


def protocol_views(
    protocol: str, input_size: int, crop_pct: float, mirror: bool = True
) -> Callable[[torch.Tensor], list[torch.Tensor]]:
    """A function from a uint8 image tensor (C, H, W) to the protocol's views (uint8).

    ``mirror=False`` leaves out the protocol's mirrored views: for a network trained without
    horizontal flips, which has never seen a mirrored image (digits)."""
    if protocol == "ten_crop":
        return lambda im: ten_crop_views(im, input_size, crop_pct, mirror)
    if protocol == "googlenet_144":
        return lambda im: googlenet_144_views(im, input_size, mirror)
    if protocol == "vgg_dense":
        scales = _scaled((256, 384, 512), input_size)
        return lambda im: full_image_views(im, scales, flip=mirror)
    if protocol == "resnet_fcn":
        scales = _scaled((224, 256, 384, 480, 640), input_size)
        return lambda im: full_image_views(im, scales, flip=False)
    raise ValueError(f"unknown protocol {protocol!r}; use one of {', '.join(PROTOCOLS)}")


@torch.no_grad()
def evaluate_multiview(
    model: nn.Module,
    dataset: Any,
    *,
    protocol: str,
    input_size: int,
    crop_pct: float,
    mean: Sequence[float],
    std: Sequence[float],
    num_classes: int,
    device: torch.device,
    precision: str = "fp32",
    limit: int | None = None,
    on_image: Callable[[int], None] | None = None,
    mirror: bool = True,
) -> EvalResult:
    """Average the softmax over the protocol's views, one image at a time."""
    from ..data import BadSample

    model.eval()
    if protocol == "vgg_dense" and hasattr(model, "as_fully_convolutional"):
        model = model.as_fully_convolutional().eval()  # the paper's dense form (VGG)
    make_views = protocol_views(protocol, input_size, crop_pct, mirror)
    norm = v2.Compose([v2.ToDtype(torch.float32, scale=True), v2.Normalize(mean, std)])
    result = EvalResult(num_classes)
    n = len(dataset) if limit is None else min(limit, len(dataset))
    for i in range(n):
        item = dataset[i]
        if isinstance(item, BadSample):
            continue
        image, label = item
        img = v2.functional.to_image(image)
        views = [norm(v) for v in make_views(img)]
        probs = torch.zeros(num_classes)
        # views of one size go through together
        by_shape: dict[tuple[int, ...], list[torch.Tensor]] = {}
        for v in views:
            by_shape.setdefault(tuple(v.shape), []).append(v)
        for group in by_shape.values():
            x = torch.stack(group).to(device)
            with autocast(device, precision):
                logits = model(x).float()
            probs += logits.softmax(dim=1).sum(dim=0).cpu()
        probs /= len(views)
        target = torch.tensor([label])
        loss = float(F.nll_loss(probs.clamp_min(1e-12).log().unsqueeze(0), target, reduction="sum"))
        result.add(probs.unsqueeze(0), target, loss)
        if on_image is not None:
            on_image(i)
    return result
