"""Datasets, transforms and deterministic loaders for training, evaluation and prediction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch.utils.data import Dataset

from ..config import TrainConfig
from .datasets import BadImageError, BadSample, DataError, load_image, open_split
from .loader import SeededDataset
from .transforms import DATASET_STATS, build_transforms

__all__ = [
    "BadImageError",
    "BadSample",
    "DataBundle",
    "DataError",
    "build_data",
    "load_image",
]


@dataclass
class DataBundle:
    train: SeededDataset | None  # None when built with include_train=False
    test: SeededDataset
    classes: tuple[str, ...]
    in_chans: int
    input_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    eval_transform: Any


def _subset(ds: Dataset, n: int | None) -> Dataset:
    """``n`` images spread evenly over the dataset (folders are sorted by class: the first ``n``
    would be a few classes only)."""
    total = len(ds)  # type: ignore[arg-type]
    if n is None or n >= total:
        return ds
    from torch.utils.data import Subset

    sub = Subset(ds, [i * total // n for i in range(n)])
    sub.classes = ds.classes  # type: ignore[attr-defined]
    sub.native_size = getattr(ds, "native_size", None)  # type: ignore[attr-defined]
    return sub


def build_data(cfg: TrainConfig, *, input_size: int, include_train: bool = True) -> DataBundle:
    """The transformed train and test splits the config describes."""
    in_chans = 1 if cfg.dataset == "digits" else 3
    test = open_split(cfg.dataset, "test", cfg.data_dir, in_chans=in_chans, strict=cfg.strict)
    train = (
        open_split(cfg.dataset, "train", cfg.data_dir, in_chans=in_chans, strict=cfg.strict)
        if include_train
        else test
    )
    if tuple(train.classes) != tuple(test.classes):
        raise DataError(
            f"the train and test folders have different classes: train has "
            f"{len(train.classes)} ({', '.join(train.classes[:5])}, ...), test has "
            f"{len(test.classes)} ({', '.join(test.classes[:5])}, ...); both need the same "
            "class sub-folders"
        )
    train, test = _subset(train, cfg.train_subset), _subset(test, cfg.test_subset)
    mean, std = DATASET_STATS[cfg.dataset]
    mean, std = cfg.mean or mean, cfg.std or std
    train_tf, eval_tf = build_transforms(
        cfg,
        input_size=input_size,
        native_size=getattr(train, "native_size", None),
        mean=mean,
        std=std,
    )
    return DataBundle(
        train=SeededDataset(train, train_tf, cfg.seed) if include_train else None,
        test=SeededDataset(test, eval_tf, cfg.seed),
        classes=tuple(train.classes),
        in_chans=in_chans,
        input_size=input_size,
        mean=tuple(mean),
        std=tuple(std),
        eval_transform=eval_tf,
    )
