"""Training transforms: a recipe's augmentation around the model's :class:`Preprocessing`.

* Small-image datasets (digits 8x8, CIFAR 32x32; ``"whole"`` geometry) are resized to the
  network's input size when it differs, then: ``pad_crop`` = zero-pad ``crop_padding`` pixels
  and take a random crop (the ResNet/DenseNet CIFAR augmentation), optional horizontal flip.
  :class:`PadCrop` and :class:`HFlip` draw their parameters through :func:`draw_pad_crop_flip`,
  which :mod:`classicnets.data.batched` calls too: a whole batch is then augmented at once on
  tensors with exactly the crops and flips the per-image pipeline would take.
* Photographs (ImageFolder; ``"shorter"`` geometry): ``random_resized_crop``
  (GoogLeNet/Inception: 8-100% of the area, aspect 3/4-4/3), ``scale_jitter`` (ResNet/VGG:
  shorter side uniform in [256, 480] at 224, then a random crop), or the evaluation's resize and
  centre crop; flip; optional colour jitter and the AlexNet PCA lighting noise the ResNet and
  VGG papers use.

Evaluation is :meth:`Preprocessing.eval_transform`; training ends with the same
:meth:`Preprocessing.normalize_transforms`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
from torchvision.transforms import v2

from ..preprocessing import Preprocessing

CropKind = Literal["none", "pad_crop", "random_resized_crop", "scale_jitter"]


@dataclass(frozen=True)
class Augmentation:
    """A recipe's training augmentation (the fields of the same names in the training config)."""

    train_crop: CropKind = "none"
    crop_padding: int = 4  # pad_crop: pixels of zero padding at the native size
    rrc_scale: tuple[float, float] = (0.08, 1.0)  # random_resized_crop: area fraction
    rrc_ratio: tuple[float, float] = (0.75, 4 / 3)
    scale_jitter: tuple[int, int] = (256, 480)  # shorter side range at input size 224
    hflip: bool = False
    color_jitter: float = 0.0  # brightness/contrast/saturation strength (0: off)
    lighting: float = 0.0  # AlexNet PCA colour noise std (0: off)


# AlexNet's PCA of ImageNet RGB pixels (eigenvalues, eigenvectors as columns).
_EIGVAL = torch.tensor([0.2175, 0.0188, 0.0045])
_EIGVEC = torch.tensor(
    [[-0.5675, 0.7192, 0.4009], [-0.5808, -0.0045, -0.8140], [-0.5836, -0.6948, 0.4203]]
)


class Lighting(torch.nn.Module):
    """AlexNet-style PCA colour noise on a float RGB image in [0, 1]."""

    def __init__(self, std: float) -> None:
        super().__init__()
        self.std = std

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        if self.std <= 0 or img.shape[0] != 3:
            return img
        alpha = torch.randn(3) * self.std
        rgb = (_EIGVEC * alpha * _EIGVAL).sum(dim=1)
        return img + rgb.view(3, 1, 1)


class RandomShorterSide(torch.nn.Module):
    """Resize so that the shorter side is uniform in [low, high] (ResNet/VGG scale jitter)."""

    def __init__(self, low: int, high: int) -> None:
        super().__init__()
        self.low, self.high = low, high

    def forward(self, img: Any) -> Any:
        size = int(torch.randint(self.low, self.high + 1, (1,)))
        return v2.functional.resize(img, size, antialias=True)


def draw_pad_crop_flip(
    pad: int, hflip: bool, generator: torch.Generator | None = None
) -> tuple[int, int, bool]:
    """One image's pad-and-crop offsets (top, left in the padded image) and flip: the draws
    :class:`PadCrop` then :class:`HFlip` make, in that order, from ``generator`` (the default
    generator, which :class:`~classicnets.data.loader.SeededDataset` seeds per image)."""
    top = left = 0
    if pad > 0:
        top, left = torch.randint(0, 2 * pad + 1, (2,), generator=generator).tolist()
    flip = bool(torch.rand((), generator=generator) < 0.5) if hflip else False
    return top, left, flip


class PadCrop(torch.nn.Module):
    """Zero-pad ``pad`` pixels on every side of a uint8 (C, H, W) tensor, then crop H x W at a
    random offset (the ResNet/DenseNet CIFAR augmentation)."""

    def __init__(self, pad: int) -> None:
        super().__init__()
        self.pad = pad

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        top, left, _ = draw_pad_crop_flip(self.pad, hflip=False)
        h, w = img.shape[-2:]
        padded = torch.nn.functional.pad(img, (self.pad,) * 4)
        return padded[..., top : top + h, left : left + w]


class HFlip(torch.nn.Module):
    """Mirror left-right with probability 1/2."""

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        _, _, flip = draw_pad_crop_flip(0, hflip=True)
        return img.flip(-1) if flip else img


def _crop(aug: Augmentation, pre: Preprocessing, native_size: int | None) -> list[Any]:
    """The geometric part: resizing and the random crop the recipe asks for."""
    size = pre.input_size
    if pre.geometry == "whole":  # a small-image dataset: resize to the network, no crop
        steps = pre.geometry_transforms()
        if aug.train_crop == "pad_crop":
            steps.append(PadCrop(pad_pixels(aug, pre, native_size)))
        elif aug.train_crop == "random_resized_crop":
            steps.append(v2.RandomResizedCrop(size, scale=aug.rrc_scale, ratio=aug.rrc_ratio))
        return steps
    if aug.train_crop == "random_resized_crop":
        return [
            v2.RandomResizedCrop(size, scale=aug.rrc_scale, ratio=aug.rrc_ratio, antialias=True)
        ]
    if aug.train_crop == "scale_jitter":
        low, high = (round(s * size / 224) for s in aug.scale_jitter)
        return [RandomShorterSide(low, high), v2.RandomCrop(size)]
    return pre.geometry_transforms()


def pad_pixels(aug: Augmentation, pre: Preprocessing, native_size: int | None) -> int:
    """``crop_padding`` (given at the images' native size) at the network's input size."""
    size = pre.input_size
    return round(aug.crop_padding * size / (native_size or size))


def train_transform(
    aug: Augmentation, pre: Preprocessing, native_size: int | None = None
) -> v2.Compose:
    """PIL image or uint8 tensor -> an augmented, normalized float tensor. ``native_size``:
    the images' side for small-image datasets (the padding is given at that size)."""
    steps: list[Any] = [v2.ToImage(), *_crop(aug, pre, native_size)]
    if aug.hflip:
        steps.append(HFlip())
    if aug.color_jitter > 0:
        s = aug.color_jitter
        steps.append(v2.ColorJitter(brightness=s, contrast=s, saturation=s))
    to_float, *normalize = pre.normalize_transforms()
    steps.append(to_float)
    if aug.lighting > 0:  # defined on 0-1 values: after the conversion, before normalizing
        steps.append(Lighting(aug.lighting))
    return v2.Compose([*steps, *normalize])
