"""How an image becomes a network's input: the one description shared by training, evaluation,
prediction, the weights catalog and every file we write.

A :class:`Preprocessing` is built once per model + dataset (``for_dataset``) or per set of
published weights (the catalog) and turned into the evaluation transform with
:meth:`Preprocessing.eval_transform`. Training adds its augmentations in ``data/transforms.py``
around the same geometry and normalization.

Two geometries:

* ``"shorter"``: resize the shorter side to ``resize_size`` and centre-crop ``input_size``
  (photographs; ``crop_fraction`` = input / resize, timm's ``crop_pct``);
* ``"whole"``: resize the whole image to ``input_size`` x ``input_size`` (small-image datasets
  such as the digits and CIFAR, whose images are the object and are never cropped). The single
  view uses no ``resize_size``; it still records the crop fraction the multi-view protocols
  (ten-crop: resize to ``resize_size``, crop ``input_size``) take.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

import torch
from torchvision.transforms import v2

__all__ = [
    "DATASET_STATS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "SMALL_IMAGE_DATASETS",
    "Preprocessing",
    "for_dataset",
]

IMAGENET_MEAN: tuple[float, ...] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, ...] = (0.229, 0.224, 0.225)

#: Per-channel mean and std of each built-in dataset's training images (values in 0-1).
DATASET_STATS: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
    "imagefolder": (IMAGENET_MEAN, IMAGENET_STD),
    # digits: computed over the training split (see datasets.DigitsDataset), pixels 0-255 -> 0-1
    "digits": ((0.3052,), (0.3760,)),
}

#: Datasets of small whole-object images: resized to the network's input, never cropped.
SMALL_IMAGE_DATASETS: tuple[str, ...] = ("digits", "cifar10", "cifar100")

Geometry = Literal["shorter", "whole"]


@dataclass(frozen=True)
class Preprocessing:
    """Exactly how evaluation images are prepared for a network.

    ``"shorter"`` geometry: resize the shorter side to ``resize_size`` with ``interpolation``,
    centre-crop ``input_size``; ``"whole"``: resize the image to ``input_size`` square. Then
    convert to ``channel_order`` with values in ``value_range`` ("0-1": 8-bit values / 255) and
    apply ``(x - mean) / std`` per channel, mean and std given in that range. That is the input
    of the network as registered (no transform inside the model); ``note`` says how a publisher
    feeds it where that differs (torchvision's ``transform_input``).
    """

    input_size: int = 224
    resize_size: int = 256
    interpolation: str = "bilinear"
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    channel_order: Literal["RGB", "BGR"] = "RGB"
    value_range: Literal["0-1", "0-255"] = "0-1"
    geometry: Geometry = "shorter"
    note: str = ""

    def __post_init__(self) -> None:
        if self.input_size < 1 or self.resize_size < 1:
            raise ValueError(f"sizes must be positive, got {self.input_size}/{self.resize_size}")
        if len(self.mean) != len(self.std):
            raise ValueError(f"mean {self.mean} and std {self.std} differ in channels")
        if self.interpolation not in _INTERPOLATION:
            raise ValueError(
                f"unknown interpolation {self.interpolation!r}; use one of "
                f"{', '.join(sorted(_INTERPOLATION))}"
            )

    @classmethod
    def from_crop_fraction(
        cls, input_size: int, crop_fraction: float, **kwargs: Any
    ) -> Preprocessing:
        """Resize the shorter side to ``input_size / crop_fraction`` (timm's ``crop_pct``)."""
        return cls(input_size=input_size, resize_size=round(input_size / crop_fraction), **kwargs)

    @property
    def crop_fraction(self) -> float:
        return self.input_size / self.resize_size

    @property
    def in_chans(self) -> int:
        return len(self.mean)

    def describe(self) -> str:
        geometry = (
            f"resize to {self.input_size}x{self.input_size} ({self.interpolation}), no crop"
            if self.geometry == "whole"
            else f"resize {self.resize_size} ({self.interpolation}), center crop "
            f"{self.input_size} (fraction {self.crop_fraction:.3f})"
        )
        channels = "grayscale" if len(self.mean) == 1 else self.channel_order
        return f"{geometry}, {channels} {self.value_range}, mean {self.mean}, std {self.std}" + (
            f". {self.note}" if self.note else ""
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form (file metadata); ``from_dict`` reads it back."""
        out: dict[str, Any] = asdict(self)
        out["mean"], out["std"] = list(self.mean), list(self.std)
        out["crop_fraction"] = round(self.crop_fraction, 6)
        if not self.note:
            del out["note"]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Preprocessing:
        """Inverse of :meth:`as_dict`; ignores keys it does not know (``crop_fraction``)."""
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in known}
        for key in ("mean", "std"):
            if key in kwargs:
                kwargs[key] = tuple(float(v) for v in kwargs[key])
        if "resize_size" not in kwargs and "crop_fraction" in data and "input_size" in data:
            kwargs["resize_size"] = round(data["input_size"] / data["crop_fraction"])
        return cls(**kwargs)

    def geometry_transforms(self) -> list[Any]:
        """The resize (and crop) steps, on PIL images or uint8 tensors."""
        mode = _INTERPOLATION[self.interpolation]
        if self.geometry == "whole":
            return [v2.Resize((self.input_size, self.input_size), mode, antialias=True)]
        return [v2.Resize(self.resize_size, mode, antialias=True), v2.CenterCrop(self.input_size)]

    def normalize_transforms(self) -> list[Any]:
        """uint8 image -> float tensor in the network's value range, order and normalization."""
        steps: list[Any] = [v2.ToDtype(torch.float32, scale=True)]
        if self.value_range == "0-255":
            steps.append(_Scale(255.0))
        if self.channel_order == "BGR":
            steps.append(_FlipChannels())
        steps.append(v2.Normalize(list(self.mean), list(self.std)))
        return steps

    def eval_transform(self) -> v2.Compose:
        """PIL image or uint8 tensor -> the normalized float tensor the network takes."""
        return v2.Compose([v2.ToImage(), *self.geometry_transforms(), *self.normalize_transforms()])

    # torchvision's spelling (``weights.transforms()``)
    transforms = eval_transform


class _Scale(torch.nn.Module):
    """Multiply by a constant (0-1 -> 0-255 values); a module so that transforms pickle."""

    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.factor


class _FlipChannels(torch.nn.Module):
    """RGB -> BGR on a CHW (or NCHW) tensor."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flip(-3)


_INTERPOLATION: dict[str, v2.InterpolationMode] = {
    "nearest": v2.InterpolationMode.NEAREST,
    "bilinear": v2.InterpolationMode.BILINEAR,
    "bicubic": v2.InterpolationMode.BICUBIC,
}


def for_dataset(
    dataset: str,
    input_size: int,
    *,
    crop_fraction: float = 0.875,
    mean: tuple[float, ...] | None = None,
    std: tuple[float, ...] | None = None,
    interpolation: str = "bilinear",
) -> Preprocessing:
    """The evaluation preprocessing of a network trained at ``input_size`` on ``dataset``.

    Small-image datasets resize the whole image; photographs resize the shorter side to
    ``input_size / crop_fraction`` and centre-crop. ``mean``/``std`` default to the dataset's.
    """
    stats_mean, stats_std = DATASET_STATS.get(dataset, DATASET_STATS["imagefolder"])
    geometry: Geometry = "whole" if dataset in SMALL_IMAGE_DATASETS else "shorter"
    return Preprocessing(
        input_size=input_size,
        resize_size=round(input_size / crop_fraction),  # "whole": for the multi-view protocols
        interpolation=interpolation,
        mean=tuple(mean or stats_mean),
        std=tuple(std or stats_std),
        geometry=geometry,
    )
