"""Datasets, transforms and deterministic loaders for training, evaluation and prediction.

:func:`build_data` takes a :class:`DataConfig`: only what the data side needs (the training
config builds one in ``TrainConfig.data_config``; evaluation builds its own).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch.utils.data import Dataset, Subset

from ..preprocessing import Preprocessing
from .batched import batched_augment
from .datasets import (
    LAYOUTS,
    BadImageError,
    BadSample,
    DataError,
    FolderContents,
    ImageFolderDataset,
    inspect_data_dir,
    load_image,
    open_split,
)
from .loader import SeededDataset
from .memory import CacheMode, DecodedImages, describe, in_memory
from .transforms import Augmentation, train_transform

__all__ = [
    "LAYOUTS",
    "Augmentation",
    "BadImageError",
    "BadSample",
    "CacheMode",
    "DataBundle",
    "DataConfig",
    "DataError",
    "FolderContents",
    "build_data",
    "class_counts",
    "data_path_lines",
    "dataset_in_chans",
    "inspect_data_dir",
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
    # decode once and keep in memory: "auto" (digits, CIFAR, folders that fit), "memory", "off"
    cache: CacheMode = "auto"

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
    #: the unreadable images found when the splits were opened and left out of them: split
    #: ("train", "test") -> {path: reason}. One met later (a file that changed, or whose damage
    #: only decoding shows) comes as a :class:`BadSample` in its batch.
    unreadable: dict[str, dict[str, str]] = field(default_factory=dict)


def _spread(total: int, n: int | None) -> list[int] | None:
    """``n`` indices spread evenly over ``total`` (folders are sorted by class: the first
    ``n`` would be a few classes only); None for all."""
    if n is None or n >= total:
        return None
    return [i * total // n for i in range(n)]


def _subset(ds: Dataset, indices: list[int] | None) -> Dataset:
    if indices is None:
        return ds
    sub = Subset(ds, indices)
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
    pre = dc.preprocessing
    augmented = train_transform(dc.augmentation, pre, getattr(train, "native_size", None))
    unreadable: dict[str, dict[str, str]] = {}
    return DataBundle(
        train=_prepared(train, dc, dc.train_subset, augmented, dc.augmentation, unreadable, "train")
        if include_train
        else None,
        test=_prepared(test, dc, dc.test_subset, pre.eval_transform(), None, unreadable, "test"),
        classes=tuple(train.classes),
        in_chans=dc.in_chans,
        preprocessing=pre,
        unreadable=unreadable,
    )


def _prepared(
    raw: Dataset,
    dc: DataConfig,
    subset: int | None,
    transform: Any,
    augmentation: Augmentation | None,
    unreadable: dict[str, dict[str, str]],
    name: str,
) -> SeededDataset:
    """A split as training or evaluation reads it: decoded in memory (with its batched
    transform) when ``dc.cache`` allows it, else streamed from the files; without the images
    found unreadable on the way (decoding finds them; a streamed folder's are checked here),
    which go into ``unreadable[name]``."""
    indices = _spread(len(raw), subset)  # type: ignore[arg-type]
    decoded = in_memory(raw, dc.cache, indices)
    if decoded is not None:
        unreadable[name] = {decoded.path(i): reason for i, reason in decoded.bad.items()}
        if decoded.bad:
            decoded = decoded.subset([i for i in range(len(decoded)) if i not in decoded.bad])
        base: Dataset = decoded
    elif isinstance(raw, ImageFolderDataset):
        chosen = list(range(len(raw))) if indices is None else indices
        bad = raw.unreadable(chosen)
        unreadable[name] = {raw.samples[i][0]: reason for i, reason in bad.items()}
        base = _subset(raw, [i for i in chosen if i not in bad] if bad else indices)
    else:
        base = _subset(raw, indices)
    ds = SeededDataset(base, transform, dc.seed)
    if decoded is not None:
        ds.batched = batched_augment(decoded, dc.preprocessing, augmentation)
    return ds


#: unreadable images named one by one in the opening lines, per split (the rest are counted)
SHOWN_UNREADABLE = 20


def data_path_lines(data: DataBundle) -> list[str]:
    """How each split is read (decoded in memory, batched, or streamed), and the unreadable
    images left out of it: the one place a run names them (summary.json records them)."""
    lines = []
    for split, name, ds in (("train", "training", data.train), ("test", "test", data.test)):
        if ds is None:
            continue
        base = ds.base
        if not isinstance(base, DecodedImages):
            lines.append(f"{name} images: read from the files each epoch")
        else:
            if ds.batched is None:
                how = "transformed per image"
            elif name == "training":
                how = "augmented in whole batches"
            else:
                how = "prepared in whole batches"
            lines.append(f"{name} images: {describe(base)}, {how}")
        bad = data.unreadable.get(split, {})
        if bad:
            many = f"{len(bad)} unreadable {name} images" if len(bad) > 1 else None
            lines.append(f"  left out, {many or f'unreadable {name} image'}:")
            lines += [f"    {path} ({why})" for path, why in list(bad.items())[:SHOWN_UNREADABLE]]
            if len(bad) > SHOWN_UNREADABLE:
                rest = len(bad) - SHOWN_UNREADABLE
                lines.append(f"    ... {rest} more (summary.json lists every one)")
    return lines
