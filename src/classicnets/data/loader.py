"""Deterministic, resumable and shardable loading.

Three pieces make a run reproducible to the bit and resumable mid-epoch, with any number of
processes and workers:

* :class:`StepBatchSampler` draws the epoch's order from ``(seed, epoch)`` alone and yields, for
  each optimizer step from ``start_step`` on, this process's share of the global batch, split
  into ``grad_accum`` micro-batches. Process ``r`` of ``W`` takes chunks ``r*A .. r*A+A-1`` of
  the global batch cut into ``W*A`` equal chunks, so one process with accumulation ``W`` sees
  exactly what ``W`` processes see. The last incomplete global batch is dropped.
* :class:`SeededDataset` seeds the augmentation of each sample from ``(seed, epoch, index)``, so
  a sample's crop and flip do not depend on worker count, process count or resumption.
* :func:`collate` drops unreadable images (:class:`BadSample`) and reports their paths.

:func:`make_loader` hands a split held in memory with a batched transform to
:class:`~classicnets.data.batched.BatchedLoader` (same batches, built whole on tensors).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from ..runtime.device import sample_seed
from .datasets import BadSample, DataError, DigitsDataset
from .memory import DecodedImages


class SeededDataset(Dataset):
    """Applies ``transform`` under a per-sample seed; keys are ``(index, epoch)`` pairs."""

    def __init__(self, base: Dataset, transform: Callable[[Any], torch.Tensor], seed: int) -> None:
        self.base = base
        self.transform = transform
        self.seed = seed
        # the same transform applied to whole batches, when the split allows it
        # (:class:`classicnets.data.batched.BatchedAugment`; set by build_data)
        self.batched: Any = None

    def __len__(self) -> int:
        return len(self.base)  # type: ignore[arg-type]

    def __getitem__(self, key: tuple[int, int]) -> tuple[torch.Tensor, int] | BadSample:
        index, epoch = key
        item = self.base[index]
        if isinstance(item, BadSample):
            return item
        image, label = item
        # seed the CPU generator for this sample only (torch.manual_seed would also reseed
        # every accelerator, at a far higher cost), then put the caller's state back
        gen = torch.default_generator
        saved = gen.get_state()
        gen.manual_seed(sample_seed(self.seed, epoch, index))
        try:
            return self.transform(image), label
        finally:
            gen.set_state(saved)


def epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(sample_seed(seed, epoch, 2**40))
    return torch.randperm(n, generator=g)


class StepBatchSampler(Sampler[list[tuple[int, int]]]):
    """Micro-batches of ``(index, epoch)`` keys for one process, from ``start_step`` on."""

    def __init__(
        self,
        n: int,
        *,
        global_batch: int,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
        grad_accum: int = 1,
    ) -> None:
        parts = world_size * grad_accum
        if global_batch % parts:
            raise DataError(
                f"batch_size {global_batch} must be divisible by processes x grad_accum = {parts}"
            )
        if n < global_batch:
            raise DataError(
                f"the training set has {n} images, fewer than one batch of {global_batch}; "
                "lower batch_size"
            )
        self.n, self.global_batch, self.seed = n, global_batch, seed
        self.rank, self.world_size, self.grad_accum = rank, world_size, grad_accum
        self.chunk = global_batch // parts
        self.epoch = 0
        self.start_step = 0

    @property
    def steps_per_epoch(self) -> int:
        return self.n // self.global_batch

    def set_epoch(self, epoch: int, start_step: int = 0) -> None:
        self.epoch, self.start_step = epoch, start_step

    def __len__(self) -> int:
        return (self.steps_per_epoch - self.start_step) * self.grad_accum

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        order = epoch_order(self.n, self.seed, self.epoch).tolist()
        for step in range(self.start_step, self.steps_per_epoch):
            batch = order[step * self.global_batch : (step + 1) * self.global_batch]
            for k in range(self.grad_accum):
                start = (self.rank * self.grad_accum + k) * self.chunk
                yield [(i, self.epoch) for i in batch[start : start + self.chunk]]


class ShardSampler(Sampler[list[tuple[int, int]]]):
    """Evaluation: indices ``rank, rank + W, ...`` in batches; every image seen once in total."""

    def __init__(self, n: int, batch_size: int, rank: int = 0, world_size: int = 1) -> None:
        self.indices = list(range(rank, n, world_size))
        self.batch_size = batch_size

    def __len__(self) -> int:
        return -(-len(self.indices) // self.batch_size)

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        for s in range(0, len(self.indices), self.batch_size):
            yield [(i, 0) for i in self.indices[s : s + self.batch_size]]


class Batch:
    """Collated images and labels, and the paths of the images that could not be read."""

    def __init__(self, images: torch.Tensor | None, labels: torch.Tensor | None, bad: list[str]):
        self.images, self.labels, self.bad = images, labels, bad


def collate(items: Sequence[tuple[torch.Tensor, int] | BadSample]) -> Batch:
    good = [it for it in items if not isinstance(it, BadSample)]
    bad = [f"{it.path} ({it.reason})" for it in items if isinstance(it, BadSample)]
    if not good:
        return Batch(None, None, bad)
    images = torch.stack([im for im, _ in good])
    labels = torch.tensor([lab for _, lab in good], dtype=torch.long)
    return Batch(images, labels, bad)


def default_workers(dataset: Dataset) -> int:
    """Worker processes for ``dataset`` when the configuration leaves them unset: none when
    its images are already in memory (the digits, a decoded split), else half the CPU cores
    (at most 8), so that decoding the files runs beside the training step."""
    base = getattr(dataset, "base", dataset)
    base = getattr(base, "dataset", base)  # a Subset
    if isinstance(base, (DecodedImages, DigitsDataset)):
        return 0
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover (not Linux)
        cores = os.cpu_count() or 1
    return min(8, max(1, cores // 2))


def make_loader(
    dataset: Dataset, sampler: Sampler[Any], workers: int | None = None
) -> Iterable[Batch]:
    """Batches of ``dataset`` in the order ``sampler`` gives: built whole on tensors in this
    process when the dataset has a batched form, else by a DataLoader with ``workers``
    processes (None: :func:`default_workers`). The batches are the same for any count."""
    batched = getattr(dataset, "batched", None)
    if batched is not None:
        return batched.loader(dataset, sampler)
    return DataLoader(
        dataset,
        batch_sampler=sampler,
        num_workers=default_workers(dataset) if workers is None else workers,
        collate_fn=collate,
        persistent_workers=False,
    )


def grouped(it: Iterator[Any], n: int) -> Iterator[list[Any]]:
    """Lists of ``n`` consecutive items (one optimizer step's micro-batches); a last group
    with fewer is dropped."""
    while True:
        group = []
        for _ in range(n):
            try:
                group.append(next(it))
            except StopIteration:
                return
        yield group
