"""A model's data configuration in timm's ``pretrained_cfg`` spelling, from our Preprocessing.

``create_model`` attaches it to every model as ``model.pretrained_cfg``, so that timm's
``resolve_model_data_config(model)`` (which reads that attribute, and otherwise assumes 224 px
and the ImageNet statistics) and code written for timm find the input size, interpolation,
crop, mean and std the weights were made for. The one description stays
:class:`~classicnets.preprocessing.Preprocessing`; this is a view of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..models.registry import model_info
from ..preprocessing import IMAGENET_MEAN, IMAGENET_STD, Preprocessing, for_dataset
from .catalog import default_weights

__all__ = ["default_preprocessing", "pretrained_cfg"]


def default_preprocessing(arch: str) -> Preprocessing:
    """How ``arch`` is fed when nothing else says: its default registered weights'
    preprocessing, else the paper's input size and data geometry (CIFAR's whole images, or
    photographs) with the ImageNet statistics torchvision's and timm's weights use."""
    spec = default_weights(arch)
    if spec is not None:
        return spec.preprocessing
    info = model_info(arch)
    cifar = any(e.dataset.startswith("CIFAR") for e in info.figures.errors)
    dataset = "cifar10" if cifar else "imagefolder"
    return for_dataset(dataset, info.input_size, mean=IMAGENET_MEAN, std=IMAGENET_STD)


def pretrained_cfg(
    preprocessing: Preprocessing, classes: Sequence[str] = (), *, tag: str = ""
) -> dict[str, Any]:
    """timm's ``pretrained_cfg`` keys for this preprocessing (``crop_mode`` "squash": the whole
    image resized to the input square), plus ``classes`` (label names) when known."""
    pre = preprocessing
    whole = pre.geometry == "whole"
    cfg: dict[str, Any] = {
        "input_size": (pre.in_chans, pre.input_size, pre.input_size),
        "interpolation": pre.interpolation,
        "mean": tuple(pre.mean),
        "std": tuple(pre.std),
        "crop_pct": 1.0 if whole else round(pre.crop_fraction, 4),
        "crop_mode": "squash" if whole else "center",
    }
    if tag:
        cfg["tag"] = tag
    if classes:
        cfg["num_classes"] = len(classes)
        cfg["label_names"] = tuple(classes)
    return cfg
