"""Splits decoded in memory: the same batches as streaming from the files, a cache on disk that
is checked before use, resumption with the cache on, and images PIL refuses for their size."""

from __future__ import annotations

import dataclasses
import json
import struct
import zlib
from pathlib import Path

import pytest
import torch
from PIL import Image

from classicnets.data import BadImageError, DataConfig, build_data, memory
from classicnets.data.batched import BatchedLoader
from classicnets.data.datasets import ImageFolderDataset
from classicnets.data.loader import ShardSampler, StepBatchSampler, make_loader
from classicnets.training.config import TrainConfig, apply


def _cifar_like(root: Path, per_class: int = 6, size: int = 32) -> Path:
    """A tiny CIFAR-style folder (train/ and test/, 3 classes of random RGB images), with one
    unreadable file among the training images."""
    g = torch.Generator().manual_seed(0)
    for split in ("train", "test"):
        for c in ("bird", "cat", "ship"):
            (root / split / c).mkdir(parents=True)
            for i in range(per_class):
                px = torch.randint(0, 256, (size, size, 3), generator=g, dtype=torch.uint8)
                ext = "png" if i % 2 else "jpg"
                Image.fromarray(px.numpy()).save(root / split / c / f"{i}.{ext}")
    (root / "train" / "cat" / "zz_broken.jpg").write_bytes(b"not an image")
    return root


def _config(root: Path, cache: str, **changes: object) -> DataConfig:
    cfg = apply(
        TrainConfig(),
        {"dataset": "cifar10", "data_dir": str(root), "train_crop": "pad_crop", "hflip": True,
         "data_cache": cache, **changes},
        source="test",
    )  # fmt: skip
    return cfg.data_config(32)


def _batches(loader: object) -> list[tuple[torch.Tensor | None, torch.Tensor | None, list[str]]]:
    return [(b.images, b.labels, b.bad) for b in loader]  # type: ignore[attr-defined]


def _same(a: list, b: list) -> None:
    assert len(a) == len(b) and a
    for (xa, ya, ba), (xb, yb, bb) in zip(a, b, strict=True):
        assert torch.equal(xa, xb) and torch.equal(ya, yb) and ba == bb


def test_memory_batches_equal_streaming_ones(tmp_path: Path) -> None:
    """Images, labels, crops, flips and skipped files: identical, for several epochs and a
    mid-epoch start, and for the test split."""
    root = _cifar_like(tmp_path / "data")
    streamed = build_data(_config(root, "off"))
    held = build_data(_config(root, "memory"))
    assert held.train.batched is not None and held.test.batched is not None
    assert streamed.train.batched is None
    for epoch, start in ((0, 0), (1, 0), (5, 2)):
        loaders = []
        for data in (streamed, held):
            sampler = StepBatchSampler(len(data.train), global_batch=4, seed=0)
            sampler.set_epoch(epoch, start)
            loaders.append(make_loader(data.train, sampler, 0))
        assert isinstance(loaders[1], BatchedLoader)
        _same(_batches(loaders[0]), _batches(loaders[1]))
    # the unreadable file: found when the split is opened, either way, and left out of it
    assert streamed.unreadable == held.unreadable
    assert [Path(p).name for p in held.unreadable["train"]] == ["zz_broken.jpg"]
    assert not [b for _, _, bs in _batches(loaders[1]) for b in bs]
    test = [make_loader(d.test, ShardSampler(len(d.test), 5), 0) for d in (streamed, held)]
    _same(_batches(test[0]), _batches(test[1]))
    # the per-image transforms on the decoded tensors give the same images too
    held.train.batched = None
    sampler = StepBatchSampler(len(held.train), global_batch=4, seed=0)
    sampler.set_epoch(5, 2)
    per_image = _batches(make_loader(held.train, sampler, 0))
    sampler.set_epoch(5, 2)
    _same(per_image, _batches(make_loader(streamed.train, sampler, 0)))


def test_digits_resized_in_memory_equal_streaming() -> None:
    """The digits (8x8) resized to 32 once for the batched path, padded at the input size."""
    cfg = apply(
        TrainConfig(),
        {"dataset": "digits", "train_crop": "pad_crop", "hflip": True, "train_subset": 64},
        source="test",
    )
    dc = cfg.data_config(32)
    data = {m: build_data(dataclasses.replace(dc, cache=m)) for m in ("off", "memory")}
    assert data["memory"].train.batched is not None
    assert data["memory"].train.batched.pad == 16  # 4 pixels at 8x8 are 16 at 32x32
    runs = []
    for d in data.values():
        sampler = StepBatchSampler(len(d.train), global_batch=16, seed=3)
        sampler.set_epoch(2)
        runs.append(_batches(make_loader(d.train, sampler, 0)))
    _same(*runs)


def test_cache_is_reused_then_rebuilt_when_stale_or_corrupt(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _cifar_like(tmp_path / "data", per_class=2)
    folder = ImageFolderDataset(root / "train")
    cache_dir = tmp_path / "cache"
    first = memory.cached_folder(folder, cache_dir)
    path = memory.cache_path(folder, cache_dir)
    assert path.is_file() and len(first) == 7 and list(first.bad) == [4]

    decodes: list[int] = []
    real = memory.decode_folder
    monkeypatch.setattr(memory, "decode_folder", lambda ds, *a: decodes.append(1) or real(ds, *a))
    again = memory.cached_folder(folder, cache_dir)
    assert not decodes  # read back, not decoded
    assert torch.equal(again.images, first.images) and again.bad == first.bad
    assert again.paths == first.paths

    # a changed folder: the cache is stale and rebuilt with the new image
    Image.new("RGB", (32, 32), (9, 9, 9)).save(root / "train" / "ship" / "new.png")
    changed = ImageFolderDataset(root / "train")
    rebuilt = memory.cached_folder(changed, cache_dir)
    assert decodes and len(rebuilt) == 8
    assert "the folder changed" in capsys.readouterr().err

    # a corrupt cache (a flipped pixel byte, then a truncated file): detected, rebuilt
    raw = bytearray(path.read_bytes())
    raw[-5] ^= 0xFF
    path.write_bytes(bytes(raw))
    fixed = memory.cached_folder(changed, cache_dir)
    assert "digest" in capsys.readouterr().err and torch.equal(fixed.images, rebuilt.images)
    path.write_bytes(path.read_bytes()[:100])
    fixed = memory.cached_folder(changed, cache_dir)
    assert "unreadable" in capsys.readouterr().err and torch.equal(fixed.images, rebuilt.images)
    with pytest.raises(memory.StaleCacheError):  # never silently used: the check itself
        path.write_bytes(b"\0" * 64)
        memory.read_cache(path, changed, memory.folder_fingerprint(changed))


def _bomb_png(path: Path, side: int = 100_000) -> None:
    """A valid PNG whose header claims side x side pixels (PIL refuses it unopened)."""
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    body = struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))
    idat = zlib.compress(b"\0" * 16)
    idat_chunk = b"IDAT" + idat
    body += struct.pack(">I", len(idat)) + idat_chunk + struct.pack(">I", zlib.crc32(idat_chunk))
    body += struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND"))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body)


@pytest.mark.parametrize("cache", ["off", "memory"])
def test_decompression_bomb_is_skipped_and_counted(tmp_path: Path, cache: str) -> None:
    from classicnets.training.loop import train

    root = _cifar_like(tmp_path / "data", per_class=4)
    _bomb_png(root / "train" / "bird" / "zz_bomb.png")
    (root / "train" / "ship" / "zz_empty.jpg").write_bytes(b"")  # zero bytes: skipped
    png = (root / "train" / "ship" / "1.png").read_bytes()
    (root / "train" / "ship" / "zz_png_named.jpg").write_bytes(png)  # read by content: kept
    with pytest.raises(Image.DecompressionBombError):
        Image.open(root / "train" / "bird" / "zz_bomb.png")
    cfg = apply(
        TrainConfig(),
        {"dataset": "cifar10", "data_dir": str(root), "model": "resnet20", "input_size": 8,
         "train_crop": "pad_crop", "batch_size": 13, "epochs": 1, "data_cache": cache,
         "quiet": True, "tensorboard": False, "threads": 1, "report": False,
         "run_dir": str(tmp_path / f"run-{cache}")},
        source="test",
    )  # fmt: skip
    train(cfg)
    summary = json.loads((tmp_path / f"run-{cache}" / "summary.json").read_text())
    assert summary["skipped_images"] == 0  # the 3 were left out when the folder was opened
    named = " ".join(summary["skipped_files"])
    assert "zz_bomb.png (DecompressionBombError" in named and "zz_broken.jpg" in named
    assert "zz_empty.jpg" in named and "zz_png_named" not in named
    strict = apply(cfg, {"strict": True, "run_dir": str(tmp_path / "strict")}, source="test")
    with pytest.raises(BadImageError, match=r"zz_(bomb|broken|empty)"):
        train(strict)


def test_resume_mid_epoch_is_bit_exact_with_the_cache_on(tmp_path: Path) -> None:
    from classicnets.runtime.checkpoint_io import load
    from classicnets.training.loop import train

    root = _cifar_like(tmp_path / "data", per_class=8)

    def run(name: str, **changes: object) -> TrainConfig:
        return apply(
            TrainConfig(),
            {"dataset": "cifar10", "data_dir": str(root), "model": "resnet20", "input_size": 8,
             "train_crop": "pad_crop", "crop_padding": 1, "hflip": True, "batch_size": 6,
             "epochs": 2, "data_cache": "memory", "lr": 0.05, "quiet": True,
             "tensorboard": False, "threads": 1, "report": False,
             "run_dir": str(tmp_path / name), **changes},
            source="test",
        )  # fmt: skip

    assert train(run("full")).step == 8
    assert train(run("split", stop_after=5)).status == "stopped"
    assert train(run("split")).step == 8
    a, b = load(tmp_path / "full" / "last.pt"), load(tmp_path / "split" / "last.pt")
    for k, v in a["model"].items():
        assert torch.equal(v, b["model"][k]), k
    # and the streaming run trains to the same weights
    train(run("streamed", data_cache="off"))
    c = load(tmp_path / "streamed" / "last.pt")
    for k, v in a["model"].items():
        assert torch.equal(v, c["model"][k]), k


def test_workers_default_to_none_in_memory_and_some_when_streaming(tmp_path: Path) -> None:
    from classicnets.data.loader import default_workers

    root = _cifar_like(tmp_path / "data", per_class=2)
    held, streamed = build_data(_config(root, "memory")), build_data(_config(root, "off"))
    assert default_workers(held.train) == 0 and default_workers(held.test) == 0
    assert 1 <= default_workers(streamed.train) <= 8  # decoding beside the training step
    assert TrainConfig().workers is None
