"""Datasets, transforms and deterministic loaders for training, evaluation and prediction.

:func:`build_data` takes a :class:`DataConfig`: only what the data side needs (the training
config builds one in ``TrainConfig.data_config``; evaluation builds its own).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torch.utils.data import Dataset, Subset

from ..preprocessing import Preprocessing
from .datasets import BadImageError, BadSample, DataError, load_image, open_split
from .loader import SeededDataset
from .transforms import Augmentation, train_transform

__all__ = [
    "Augmentation",
    "BadImageError",
    "BadSample",
    "DataBundle",
    "DataConfig",
    "DataError",
    "build_data",
    "class_counts",
    "dataset_in_chans",
    "load_image",
]


def dataset_in_chans(dataset: str) -> int:
    """The digits are grayscale; every other dataset is read as RGB."""
    return 1 if dataset == "digits" else 3


@dataclass(frozen=True)
class DataConfig:
    """Which images, how they are prepared, and how training augments them."""

    dataset: str
    preprocessing: Preprocessing
    data_dir: str | None = None
    strict: bool = False  # fail on the first unreadable image instead of skipping it
    train_subset: int | None = None  # N images spread evenly over the split (quick runs)
    test_subset: int | None = None
    seed: int = 0  # seeds each sample's augmentation, with the epoch and the index
    augmentation: Augmentation = field(default_factory=Augmentation)

    @property
    def in_chans(self) -> int:
        return dataset_in_chans(self.dataset)


@dataclass
class DataBundle:
    train: SeededDataset | None  # None when built with include_train=False
    test: SeededDataset
    classes: tuple[str, ...]
    in_chans: int
    preprocessing: Preprocessing


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


def class_counts(ds: Dataset) -> dict[str, int] | None:
    """Images per class of a split as :func:`build_data` returns it (seeded, maybe a subset);
    None when the dataset does not list its labels."""
    base = getattr(ds, "base", ds)
    indices = None
    if isinstance(base, Subset):
        indices, base = base.indices, base.dataset
    targets = getattr(base, "targets", None)
    if targets is None:
        return None
    counts = dict.fromkeys(base.classes, 0)
    for i in indices if indices is not None else range(len(targets)):
        counts[base.classes[targets[i]]] += 1
    return counts


def build_data(dc: DataConfig, *, include_train: bool = True) -> DataBundle:
    """The transformed train and test splits ``dc`` describes."""

    def split(name: str) -> Dataset:
        return open_split(dc.dataset, name, dc.data_dir, in_chans=dc.in_chans, strict=dc.strict)

    test = split("test")
    train = split("train") if include_train else test
    if tuple(train.classes) != tuple(test.classes):
        raise DataError(
            f"the train and test folders have different classes: train has "
            f"{len(train.classes)} ({', '.join(train.classes[:5])}, ...), test has "
            f"{len(test.classes)} ({', '.join(test.classes[:5])}, ...); both need the same "
            "class sub-folders"
        )
    train, test = _subset(train, dc.train_subset), _subset(test, dc.test_subset)
    pre = dc.preprocessing
    augmented = train_transform(dc.augmentation, pre, getattr(train, "native_size", None))
    return DataBundle(
        train=SeededDataset(train, augmented, dc.seed) if include_train else None,
        test=SeededDataset(test, pre.eval_transform(), dc.seed),
        classes=tuple(train.classes),
        in_chans=dc.in_chans,
        preprocessing=pre,
    )
