"""Train and eval transforms from the model's input size and the recipe (torchvision v2).

* Small-image datasets (digits 8x8, CIFAR 32x32) are resized to the network's input size when
  it differs, then: ``pad_crop`` = zero-pad ``crop_padding`` pixels and take a random crop (the
  ResNet/DenseNet CIFAR augmentation), optional horizontal flip.
* Photographs (ImageFolder): ``random_resized_crop`` (GoogLeNet/Inception: 8-100% of the area,
  aspect 3/4-4/3), ``scale_jitter`` (ResNet/VGG: shorter side uniform in [256, 480] at 224,
  then a random crop), or a plain resize and centre crop; flip; optional colour jitter and the
  AlexNet PCA lighting noise the ResNet and VGG papers use. Evaluation resizes the shorter side
  to input_size / eval_crop_pct and takes the centre crop.
"""

from __future__ import annotations

from typing import Any

import torch
from torchvision.transforms import v2

from ..config import TrainConfig

DATASET_STATS: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
    "imagefolder": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),  # ImageNet
    # digits: computed over the training split (see datasets.DigitsDataset), pixels 0-255 -> 0-1
    "digits": ((0.3052,), (0.3760,)),
}

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


def _finish(mean: tuple[float, ...], std: tuple[float, ...]) -> list[Any]:
    return [v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(mean), list(std))]


def build_transforms(
    cfg: TrainConfig,
    *,
    input_size: int,
    native_size: int | None,
    mean: tuple[float, ...],
    std: tuple[float, ...],
) -> tuple[v2.Compose, v2.Compose]:
    """``(train_transform, eval_transform)`` for PIL images or uint8 tensors."""
    start: list[Any] = [v2.ToImage()]
    if native_size is not None:  # a small-image dataset: resize to the network, no crop
        if native_size != input_size:
            start.append(v2.Resize((input_size, input_size), antialias=True))
        evaluation = v2.Compose([*start, *_finish(mean, std)])
        train: list[Any] = list(start)
        if cfg.train_crop == "pad_crop":
            pad = round(cfg.crop_padding * input_size / native_size)
            train.append(v2.RandomCrop(input_size, padding=pad))
        elif cfg.train_crop == "random_resized_crop":
            train.append(v2.RandomResizedCrop(input_size, scale=cfg.rrc_scale, ratio=cfg.rrc_ratio))
    else:
        resize = round(input_size / cfg.eval_crop_pct)
        evaluation = v2.Compose(
            [
                *start,
                v2.Resize(resize, antialias=True),
                v2.CenterCrop(input_size),
                *_finish(mean, std),
            ]
        )
        train = list(start)
        if cfg.train_crop == "random_resized_crop":
            train.append(
                v2.RandomResizedCrop(
                    input_size, scale=cfg.rrc_scale, ratio=cfg.rrc_ratio, antialias=True
                )
            )
        elif cfg.train_crop == "scale_jitter":
            low, high = (round(s * input_size / 224) for s in cfg.scale_jitter)
            train += [RandomShorterSide(low, high), v2.RandomCrop(input_size)]
        else:
            train += [v2.Resize(resize, antialias=True), v2.CenterCrop(input_size)]
    if cfg.hflip:
        train.append(v2.RandomHorizontalFlip())
    if cfg.color_jitter > 0:
        s = cfg.color_jitter
        train.append(v2.ColorJitter(brightness=s, contrast=s, saturation=s))
    train.append(v2.ToDtype(torch.float32, scale=True))
    if cfg.lighting > 0:
        train.append(Lighting(cfg.lighting))
    train.append(v2.Normalize(list(mean), list(std)))
    return v2.Compose(train), evaluation
