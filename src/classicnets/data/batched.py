"""Whole batches built at once on tensors: the fast path for splits decoded in memory.

When a split is held in memory (:mod:`classicnets.data.memory`) with images of one size, and
its transform is the small-image one (resize to the network, ``pad_crop``, flip, normalize),
:class:`BatchedLoader` builds each batch with a handful of tensor operations on the whole batch
instead of one transform pipeline per image, in the training process (no workers needed):

* the resize to the network's input size is done once for the whole split, when it is set up
  (per image, with the same transform as the per-image pipeline);
* each image's crop offsets and flip are drawn with
  :func:`~classicnets.data.transforms.draw_pad_crop_flip` from a generator seeded with
  :func:`~classicnets.runtime.device.sample_seed` ``(seed, epoch, index)``: the draws
  :class:`~classicnets.data.loader.SeededDataset` makes for that image;
* the batch is zero-padded once, the crops (mirrored where drawn) are gathered with one
  indexing operation, and the conversion to float and the normalization run on the batch.

Integer copies and element-wise arithmetic give the same values on a batch as on one image, so
the batches are bit-identical to the per-image pipeline's for the same seed, epoch and indices
(tests/test_data_memory.py): determinism, resumption and the results of a run do not depend on
which path built its batches. Any other augmentation (random resized crop, scale jitter, colour)
runs per image on the decoded tensors, through the usual loader and its workers.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch.utils.data import Sampler
from torchvision.transforms import v2

from ..preprocessing import Preprocessing
from ..runtime.device import sample_seed
from .loader import Batch
from .memory import DecodedImages
from .transforms import Augmentation, draw_pad_crop_flip, pad_pixels

#: a split resized to the network is kept in memory only up to this size
MAX_BATCHED_BYTES = 4 << 30


class BatchedAugment:
    """A split's images at the network's input size, and how its batches are augmented."""

    def __init__(
        self,
        images: torch.Tensor,
        decoded: DecodedImages,
        *,
        pad: int,
        hflip: bool,
        normalize: Sequence[Any],
    ) -> None:
        self.images = images  # (N, C, H, W) uint8 at the input size
        self.targets = torch.tensor(decoded.targets, dtype=torch.long)
        self.decoded = decoded
        self.pad, self.hflip = pad, hflip
        self.normalize = v2.Compose(list(normalize))

    def loader(self, dataset: Any, sampler: Sampler[Any]) -> BatchedLoader:
        return BatchedLoader(self, sampler, dataset.seed)

    def batch(self, keys: Sequence[tuple[int, int]], seed: int) -> Batch:
        """The batch of ``(index, epoch)`` keys, unreadable images left out and named."""
        known = self.decoded.bad
        bad = [f"{self.decoded.path(i)} ({known[i]})" for i, _ in keys if i in known]
        good = [(i, e) for i, e in keys if i not in known]
        if not good:
            return Batch(None, None, bad)
        index = torch.tensor([i for i, _ in good])
        x = self.images[index]
        if self.pad or self.hflip:
            x = self._augment(x, good, seed)
        return Batch(self.normalize(x), self.targets[index], bad)

    def _augment(self, x: torch.Tensor, keys: Sequence[tuple[int, int]], seed: int) -> torch.Tensor:
        gen = torch.Generator()
        draws = []
        for i, epoch in keys:
            gen.manual_seed(sample_seed(seed, epoch, i))
            draws.append(draw_pad_crop_flip(self.pad, self.hflip, gen))
        top, left, flip = (torch.tensor(col) for col in zip(*draws, strict=True))
        h, w = x.shape[-2:]
        if self.pad:
            x = torch.nn.functional.pad(x, (self.pad,) * 4)
        rows = top[:, None] + torch.arange(h)  # (B, H)
        cols = torch.where(flip[:, None], torch.arange(w - 1, -1, -1), torch.arange(w))
        cols = left[:, None] + cols  # (B, W)
        b = torch.arange(len(keys))[:, None, None]
        # (B, H, W, C): the advanced indices, split by the channel slice, come first
        return x[b, :, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2).contiguous()


class BatchedLoader:
    """Iterates like the loader of :func:`~classicnets.data.loader.make_loader`: one
    :class:`~classicnets.data.loader.Batch` per list of keys the sampler yields."""

    def __init__(self, augment: BatchedAugment, sampler: Sampler[Any], seed: int) -> None:
        self.augment, self.sampler, self.seed = augment, sampler, seed

    def __len__(self) -> int:
        return len(self.sampler)  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[Batch]:
        for keys in self.sampler:
            yield self.augment.batch(keys, self.seed)


def batched_augment(
    decoded: DecodedImages,
    pre: Preprocessing,
    aug: Augmentation | None,
) -> BatchedAugment | None:
    """The batched form of a split's transform (``aug`` None: evaluation's), or None when
    the images differ in size, the geometry is not the small-image one, the augmentation has
    steps beyond pad-and-crop and flip, or the resized split would not fit the budget."""
    stacked = decoded.stacked
    if stacked is None or pre.geometry != "whole":
        return None
    if aug is not None and (
        aug.train_crop not in ("none", "pad_crop") or aug.color_jitter > 0 or aug.lighting > 0
    ):
        return None
    size = pre.input_size
    if stacked.shape[0] * stacked.shape[1] * size * size > MAX_BATCHED_BYTES:
        return None
    if tuple(stacked.shape[-2:]) != (size, size):
        resize = v2.Compose(pre.geometry_transforms())
        stacked = torch.stack([resize(img).as_subclass(torch.Tensor) for img in stacked])
    pad = pad_pixels(aug, pre, decoded.native_size) if aug and aug.train_crop == "pad_crop" else 0
    return BatchedAugment(
        stacked,
        decoded,
        pad=pad,
        hflip=bool(aug and aug.hflip),
        normalize=pre.normalize_transforms(),
    )
