"""Datasets decoded once and held in memory as uint8 tensors, with a checked cache on disk.

A CIFAR-sized folder (60,000 JPEGs) takes a few seconds per epoch to decode, which on a small
CPU is a large share of a ResNet-20 epoch. :func:`in_memory` decodes a split once into
:class:`DecodedImages`: each image a uint8 (C, H, W) tensor, exactly the tensor the streaming
pipeline's first step (``v2.ToImage``) makes of it, so every later transform sees the same
values. An image that cannot be read stays a :class:`BadSample` with its reason, as when
streaming.

The decoded split of an image folder is written to ``DECODED_DIR/<id>.safetensors``
(``$CLASSICNETS_CACHE/decoded``, by default ``~/.cache/classicnets/decoded``; safetensors: no
pickle; written to a temporary file, then renamed), together with:

* a fingerprint of the folder (every image's path, label, size and modification time): a
  folder that changed since makes the cache stale, and it is rebuilt;
* a BLAKE2 digest of the pixels: a cache file that was truncated or altered is detected when
  read, reported, and rebuilt. A cache is never used without both checks passing.

``auto`` (the training config's ``data_cache``) decodes digits and CIFAR, and an image folder
when its decoded size, estimated from the headers of a sample of its images, stays under a
quarter of the memory available (at most 8 GiB); larger folders keep streaming.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Literal

import torch
from torch.utils.data import Dataset

from .datasets import (
    CACHE_DIR,
    BadImageError,
    BadSample,
    DigitsDataset,
    ImageFolderDataset,
    TorchvisionCifar,
)

CacheMode = Literal["auto", "memory", "off"]
_FORMAT = "classicnets-decoded-images/2"  # 2: unreadable images' reasons without their path
_MAX_AUTO_BYTES = 8 << 30
#: where decoded splits are cached (one file per folder)
DECODED_DIR = CACHE_DIR / "decoded"


class DecodedImages(Dataset):
    """Decoded images of one split: ``(uint8 (C, H, W) tensor, label)`` or :class:`BadSample`.

    ``images`` is one (N, C, H, W) tensor when every image has the same size (:attr:`stacked`),
    else a list of tensors. ``bad`` maps the index of each unreadable image to its reason.
    """

    def __init__(
        self,
        images: torch.Tensor | list[torch.Tensor],
        targets: Sequence[int],
        classes: Sequence[str],
        *,
        paths: Sequence[str] | None = None,
        bad: dict[int, str] | None = None,
        native_size: int | None = None,
    ) -> None:
        self.images = images
        self.targets = list(targets)
        self.classes = tuple(classes)
        self.paths = list(paths) if paths is not None else None
        self.bad = dict(bad or {})
        self.native_size = native_size

    @property
    def stacked(self) -> torch.Tensor | None:
        return self.images if isinstance(self.images, torch.Tensor) else None

    def __len__(self) -> int:
        return len(self.targets)

    def path(self, index: int) -> str:
        return self.paths[index] if self.paths is not None else f"image {index}"

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int] | BadSample:
        if index in self.bad:
            return BadSample(self.path(index), self.bad[index])
        return self.images[index], self.targets[index]

    def subset(self, indices: Sequence[int]) -> DecodedImages:
        """The images at ``indices``, in that order."""
        if isinstance(self.images, torch.Tensor):
            images: torch.Tensor | list[torch.Tensor] = self.images[torch.as_tensor(indices)]
        else:
            images = [self.images[i] for i in indices]
        position = {old: new for new, old in enumerate(indices)}
        return DecodedImages(
            images,
            [self.targets[i] for i in indices],
            self.classes,
            paths=[self.path(i) for i in indices] if self.paths is not None else None,
            bad={position[i]: r for i, r in self.bad.items() if i in position},
            native_size=self.native_size,
        )

    def nbytes(self) -> int:
        if isinstance(self.images, torch.Tensor):
            return self.images.numel()
        return sum(t.numel() for t in self.images)


# -- decoding ------------------------------------------------------------------------------------


def _decode_one(ds: ImageFolderDataset, index: int) -> torch.Tensor | BadSample:
    from torchvision.transforms.v2.functional import pil_to_tensor

    item = ds[index]  # BadSample, or raises BadImageError with strict
    return item if isinstance(item, BadSample) else pil_to_tensor(item[0])


def decode_folder(ds: ImageFolderDataset, indices: Sequence[int] | None = None) -> DecodedImages:
    """Decode the images of ``ds`` (all, or those at ``indices``) on a few threads (PIL
    releases the GIL while it decodes)."""
    from tqdm.auto import tqdm

    order = list(range(len(ds))) if indices is None else list(indices)
    decoded: list[torch.Tensor | BadSample] = []
    threads = min(8, os.cpu_count() or 1)
    with ThreadPoolExecutor(threads) as pool:
        results = pool.map(lambda i: _decode_one(ds, i), order, chunksize=64)
        bar = tqdm(
            results,
            total=len(order),
            desc=f"decoding {ds.root.name} (once)",
            unit="img",
            leave=False,
            disable=len(order) < 2000 or not sys.stderr.isatty(),
        )
        decoded.extend(bar)
    bad = {i: d.reason for i, d in enumerate(decoded) if isinstance(d, BadSample)}
    tensors = [d for d in decoded if isinstance(d, torch.Tensor)]
    shapes = {tuple(t.shape) for t in tensors}
    images: torch.Tensor | list[torch.Tensor]
    if len(shapes) <= 1:
        shape = next(iter(shapes), (ds.in_chans, 1, 1))
        images = torch.zeros((len(decoded), *shape), dtype=torch.uint8)
        for i, d in enumerate(decoded):
            if isinstance(d, torch.Tensor):
                images[i] = d
    else:
        empty = torch.zeros((ds.in_chans, 1, 1), dtype=torch.uint8)
        images = [d if isinstance(d, torch.Tensor) else empty for d in decoded]
    return DecodedImages(
        images,
        [ds.targets[i] for i in order],
        ds.classes,
        paths=[ds.samples[i][0] for i in order],
        bad=bad,
        native_size=ds.native_size,
    )


# -- the cache on disk -----------------------------------------------------------------------------


def folder_fingerprint(ds: ImageFolderDataset) -> str:
    """Changes when an image is added, removed, relabelled, rewritten or touched."""
    h = hashlib.sha256(f"{ds.in_chans}\n".encode())
    for path, label in ds.samples:
        st = os.stat(path)
        rel = os.path.relpath(path, ds.root)
        h.update(f"{rel}\0{label}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def cache_path(ds: ImageFolderDataset, cache_dir: Path | None = None) -> Path:
    """``cache_dir`` (default :data:`DECODED_DIR`) / an id of the folder and channels."""
    key = hashlib.sha256(f"{ds.root.resolve()}\0{ds.in_chans}".encode()).hexdigest()[:20]
    return (DECODED_DIR if cache_dir is None else cache_dir) / f"{key}.safetensors"


def _digest(pixels: torch.Tensor) -> str:
    return hashlib.blake2b(pixels.numpy().data, digest_size=16).hexdigest()


def _flat(images: torch.Tensor | list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    if isinstance(images, torch.Tensor):
        shapes = torch.tensor([images.shape[1:]] * images.shape[0], dtype=torch.int64)
        return images.reshape(-1), shapes.reshape(-1, 3)
    shapes = torch.tensor([t.shape for t in images], dtype=torch.int64).reshape(-1, 3)
    return torch.cat([t.reshape(-1) for t in images]), shapes


def write_cache(decoded: DecodedImages, fingerprint: str, path: Path) -> None:
    """Write ``decoded`` to ``path`` atomically (a temporary file renamed into place)."""
    from safetensors.torch import save_file

    pixels, shapes = _flat(decoded.images)
    meta = {
        "format": _FORMAT,
        "fingerprint": fingerprint,
        "digest": _digest(pixels),
        "bad": json.dumps({str(i): r for i, r in decoded.bad.items()}),
        "classes": json.dumps(list(decoded.classes)),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        save_file(
            {"pixels": pixels, "shapes": shapes, "targets": torch.tensor(decoded.targets)},
            str(tmp),
            metadata=meta,
        )
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class StaleCacheError(Exception):
    """A cache file that does not hold the folder as it is now (the reason is the message)."""


def read_cache(path: Path, ds: ImageFolderDataset, fingerprint: str) -> DecodedImages:
    """The decoded split in ``path``; :class:`StaleCacheError` when it is missing, unreadable,
    altered, or made from another state of the folder."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not path.is_file():
        raise StaleCacheError("no cache yet")
    try:
        from safetensors import safe_open

        with safe_open(str(path), "pt") as f:
            meta = f.metadata() or {}
        if meta.get("format") != _FORMAT:
            raise StaleCacheError(f"not a {_FORMAT} file")
        if meta.get("fingerprint") != fingerprint:
            raise StaleCacheError("the folder changed since the cache was written")
        tensors = load_file(str(path))
        pixels, shapes, targets = tensors["pixels"], tensors["shapes"], tensors["targets"]
    except (SafetensorError, OSError, KeyError, ValueError, RuntimeError) as e:
        raise StaleCacheError(f"unreadable ({type(e).__name__}: {e})") from None
    if _digest(pixels) != meta.get("digest"):
        raise StaleCacheError("its pixels do not match their recorded digest (corrupt)")
    if targets.tolist() != ds.targets or len(shapes) != len(ds):
        raise StaleCacheError("its labels do not match the folder's")
    sizes = shapes.prod(dim=1).tolist()
    if sum(sizes) != pixels.numel():
        raise StaleCacheError("its image sizes do not add up (corrupt)")
    images: torch.Tensor | list[torch.Tensor]
    if len(shapes) and bool((shapes == shapes[0]).all()):
        images = pixels.view(len(shapes), *shapes[0].tolist())
    else:
        images = [p.view(*s) for p, s in zip(pixels.split(sizes), shapes.tolist(), strict=True)]
    return DecodedImages(
        images,
        ds.targets,
        ds.classes,
        paths=[p for p, _ in ds.samples],
        bad={int(i): r for i, r in json.loads(meta.get("bad", "{}")).items()},
        native_size=ds.native_size,
    )


def cached_folder(ds: ImageFolderDataset, cache_dir: Path | None = None) -> DecodedImages:
    """The whole split decoded: from the cache when it is valid, else decoded and cached."""
    path = cache_path(ds, cache_dir)
    fingerprint = folder_fingerprint(ds)
    try:
        cached = read_cache(path, ds, fingerprint)
        if ds.strict and cached.bad:  # recorded by a run that skipped it: strict stops here
            i, reason = next(iter(cached.bad.items()))
            raise BadImageError(f"cannot read image {cached.path(i)}: {reason}")
        return cached
    except StaleCacheError as e:
        if path.exists():
            print(f"decoded-image cache {path}: {e}; rebuilding it", file=sys.stderr, flush=True)
    decoded = decode_folder(ds)
    try:
        write_cache(decoded, fingerprint, path)
    except OSError as e:  # a read-only or full cache folder: train from memory all the same
        print(f"note: could not write the decoded-image cache {path} ({e})", file=sys.stderr)
    return decoded


# -- choosing --------------------------------------------------------------------------------------


def _available_memory() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 4 << 30


def estimated_bytes(ds: ImageFolderDataset, samples: int = 32) -> int:
    """The decoded size of a folder, from the headers of ``samples`` images spread over it."""
    from PIL import Image

    n = len(ds)
    picks = sorted({i * n // samples for i in range(min(samples, n))})
    pixels = []
    for i in picks:
        try:
            with Image.open(ds.samples[i][0]) as img:
                pixels.append(img.size[0] * img.size[1])
        except Exception:  # an unreadable header: decoding will report it
            continue
    mean = sum(pixels) / max(len(pixels), 1)
    return int(mean * ds.in_chans * n)


def in_memory(
    ds: Dataset,
    mode: CacheMode,
    indices: Sequence[int] | None = None,
    cache_dir: Path | None = None,
) -> DecodedImages | None:
    """``ds`` (restricted to ``indices``) decoded into memory, or None to keep streaming it."""
    if mode == "off":
        return None
    if isinstance(ds, DigitsDataset):
        full = DecodedImages(ds.images, ds.targets, ds.classes, native_size=ds.native_size)
    elif isinstance(ds, TorchvisionCifar):
        data = torch.from_numpy(ds.ds.data).permute(0, 3, 1, 2).contiguous()
        full = DecodedImages(data, ds.targets, ds.classes, native_size=ds.native_size)
    elif isinstance(ds, ImageFolderDataset):
        if mode == "auto" and ds.native_size is None:
            budget = min(_MAX_AUTO_BYTES, _available_memory() // 4)
            if estimated_bytes(ds) > budget:
                return None
        if indices is not None and not cache_path(ds, cache_dir).is_file():
            return decode_folder(ds, indices)  # a quick subset run: decode only what it uses
        full = cached_folder(ds, cache_dir)
    else:
        return None
    return full if indices is None else full.subset(indices)


def describe(decoded: DecodedImages) -> str:
    """``10,000 images, 29.3 MiB``: for the run's data lines."""
    return f"{len(decoded):,} images decoded in memory ({decoded.nbytes() / 2**20:.1f} MiB)"


__all__ = [
    "CacheMode",
    "DecodedImages",
    "StaleCacheError",
    "cached_folder",
    "decode_folder",
    "in_memory",
    "read_cache",
    "write_cache",
]
