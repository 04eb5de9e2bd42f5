"""Data: the digits split, image folders with bad files, modes, layouts, the sampler."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from classicnets.data import BadImageError, DataError, build_data
from classicnets.data.datasets import DigitsDataset, ImageFolderDataset, open_split
from classicnets.data.loader import SeededDataset, StepBatchSampler, collate
from classicnets.training.config import TrainConfig, apply


def test_digits_split_is_fixed_and_stratified() -> None:
    train, test = DigitsDataset("train"), DigitsDataset("test")
    assert (len(train), len(test)) == (1442, 355)
    assert train.images.dtype == torch.uint8 and tuple(train.images.shape[1:]) == (1, 8, 8)
    assert sorted(set(test.targets)) == list(range(10))
    assert int(train.images.max()) == 255


def test_digits_file_read_directly_equals_sklearn_loader() -> None:
    from sklearn.datasets import load_digits

    from classicnets.data.datasets import load_digits_arrays

    images, labels = load_digits_arrays()
    bunch = load_digits()
    assert torch.equal(images, torch.from_numpy(bunch.images).float())
    assert torch.equal(labels, torch.from_numpy(bunch.target).long())


def _folder(root: Path, n_per_class: int = 3) -> Path:
    modes = {"L": 128, "RGBA": (10, 20, 30, 100), "P": 3, "CMYK": (0, 50, 100, 0), "RGB": (1, 2, 3)}
    for c in ("cat", "dog"):
        (root / c).mkdir(parents=True)
        for i, (mode, color) in enumerate(list(modes.items())[:n_per_class]):
            Image.new(mode, (12, 10), color).save(
                root / c / f"{i}.{'tif' if mode == 'CMYK' else 'png'}"
            )
    return root


def test_image_modes_are_converted(tmp_path: Path) -> None:
    root = _folder(tmp_path / "imgs", n_per_class=5)
    ds = ImageFolderDataset(root)
    assert ds.classes == ("cat", "dog") and len(ds) == 10
    for i in range(len(ds)):
        img, _ = ds[i]
        assert img.mode == "RGB" and img.size == (12, 10)
    gray = ImageFolderDataset(root, in_chans=1)
    assert all(gray[i][0].mode == "L" for i in range(len(gray)))


def test_bad_images_are_skipped_and_counted_or_fail_in_strict_mode(tmp_path: Path) -> None:
    root = _folder(tmp_path / "imgs")
    (root / "cat" / "broken.jpg").write_bytes(b"not an image at all")
    good = root / "dog" / "0.png"
    (root / "dog" / "truncated.png").write_bytes(good.read_bytes()[:40])
    ds = SeededDataset(ImageFolderDataset(root), lambda im: torch.zeros(1), seed=0)
    batch = collate([ds[(i, 0)] for i in range(len(ds))])
    assert batch.images.shape[0] == 6 and len(batch.bad) == 2
    assert any("broken.jpg" in b for b in batch.bad) and any(
        "truncated.png" in b for b in batch.bad
    )
    strict = ImageFolderDataset(root, strict=True)
    idx = next(i for i, (p, _) in enumerate(strict.samples) if p.endswith("broken.jpg"))
    with pytest.raises(BadImageError, match=r"broken\.jpg"):
        strict[idx]


def test_training_skips_and_counts_bad_images_or_stops_in_strict_mode(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """End to end: the bad files are found when the folder is opened, named in the opening
    lines, left out, and listed in summary.json; with strict = true the run stops with an error
    naming the file."""
    import json

    from classicnets.training.loop import train

    root = tmp_path / "data"
    for split in ("train", "val"):
        _folder(root / split)
    (root / "train" / "cat" / "broken.jpg").write_bytes(b"not an image at all")
    good = (root / "train" / "dog" / "0.png").read_bytes()
    (root / "train" / "dog" / "truncated.png").write_bytes(good[:40])
    cfg = apply(
        TrainConfig(),
        {"dataset": "imagefolder", "data_dir": str(root), "model": "resnet20", "input_size": 8,
         "batch_size": 4, "epochs": 1, "quiet": True, "tensorboard": False, "threads": 1,
         "run_dir": str(tmp_path / "run")},
        source="test",
    )  # fmt: skip
    train(cfg)
    out = capsys.readouterr().out
    assert "left out, 2 unreadable training images:" in out
    assert "broken.jpg" in out and "truncated.png" in out
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["skipped_images"] == 0  # none left to meet in an epoch
    assert len(summary["skipped_files"]) == 2
    assert "skipped_images" in (tmp_path / "run" / "metrics.csv").read_text().splitlines()[0]
    strict = apply(cfg, {"strict": True, "run_dir": str(tmp_path / "strict")}, source="test")
    with pytest.raises(BadImageError, match=r"cannot read image .*(broken\.jpg|truncated\.png)"):
        train(strict)


def test_empty_or_wrong_folders_say_what_was_expected(tmp_path: Path) -> None:
    (tmp_path / "empty" / "cat").mkdir(parents=True)
    with pytest.raises(DataError, match=r"no images found.*one sub-folder per class"):
        ImageFolderDataset(tmp_path / "empty")
    with pytest.raises(DataError, match="does not exist"):
        ImageFolderDataset(tmp_path / "missing")
    (tmp_path / "flat").mkdir()
    with pytest.raises(DataError, match=r"no train/ folder.*ImageNet layout"):
        open_split("imagefolder", "train", str(tmp_path / "flat"))
    with pytest.raises(DataError, match=r"needs a folder.*--data-dir"):
        open_split("imagefolder", "train", None)


def test_cifar_offline_gives_a_clear_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from torchvision import datasets

    def offline(*args: object, **kwargs: object) -> None:
        if kwargs.get("download"):
            raise OSError("network is unreachable")
        raise RuntimeError("Dataset not found")

    monkeypatch.setattr(datasets.CIFAR10, "__init__", offline)
    with pytest.raises(DataError, match=r"could not be downloaded.*cifar10-jpg.tar.gz"):
        open_split("cifar10", "train", str(tmp_path))


def test_imagefolder_training_data_from_a_tarball(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tarfile

    for split in ("train", "val"):
        _folder(tmp_path / "src" / split)
    archive = tmp_path / "tiny.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "src", arcname="tiny")
    monkeypatch.setattr("classicnets.data.datasets.CACHE_DIR", tmp_path / "cache")
    cfg = apply(
        TrainConfig(),
        {"dataset": "imagefolder", "data_dir": str(archive), "train_crop": "random_resized_crop",
         "hflip": True, "color_jitter": 0.4, "lighting": 0.1},
        source="test",
    )  # fmt: skip
    data = build_data(cfg.data_config(8))
    assert (tmp_path / "cache" / "tiny" / "tiny" / "train" / "cat").is_dir()
    assert data.classes == ("cat", "dog") and len(data.train) == 6 and len(data.test) == 6
    x, _ = data.train[(0, 0)]
    assert x.shape == (3, 8, 8) and x.dtype == torch.float32
    assert torch.equal(x, data.train[(0, 0)][0])  # same (index, epoch): same augmentation
    x_eval, _ = data.test[(0, 0)]
    assert x_eval.shape == (3, 8, 8)


def test_what_a_data_folder_holds_selects_the_dataset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rules of inspect_data_dir: class folders (CIFAR's own classes: that CIFAR, also in an
    archive), torchvision's CIFAR release (beside it or the folder itself), an empty folder,
    anything else; and the configuration a folder selects when nothing else chose a dataset."""
    import tarfile

    from classicnets.data.datasets import CIFAR_CLASSES, _folder_root, inspect_data_dir
    from classicnets.training.config import resolve

    monkeypatch.setattr("classicnets.data.datasets.CACHE_DIR", tmp_path / "cache")
    assert [len(set(c)) for c in CIFAR_CLASSES.values()] == [10, 100]
    own = tmp_path / "own"
    for split in ("train", "val"):
        _folder(own / split)
    assert inspect_data_dir(own).dataset == "imagefolder"
    assert inspect_data_dir(own).readable_as("imagefolder")
    assert not inspect_data_dir(own).readable_as("cifar10")
    assert not inspect_data_dir(own).readable_as("digits")
    copy = tmp_path / "copy"
    for split in ("train", "test"):
        for c in CIFAR_CLASSES["cifar10"]:
            (copy / split / c).mkdir(parents=True)
    archive = tmp_path / "copy.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(copy, arcname="copy")
    held = inspect_data_dir(archive)
    assert held.dataset == "cifar10" and held.readable_as("imagefolder")
    cfg = resolve(None, {"data_dir": str(archive)})
    assert (cfg.dataset, cfg.recipe, cfg.input_size) == ("cifar10", "defaults", None)
    assert "cifar10, inferred from --data-dir" in cfg.description
    release = tmp_path / "torchvision"
    (release / "cifar-100-python").mkdir(parents=True)
    assert _folder_root(str(release)) == release  # not unwrapped into the batches folder
    for path in (release, release / "cifar-100-python"):
        held = inspect_data_dir(path)
        assert held.dataset == "cifar100" and not held.readable_as("imagefolder")
    (tmp_path / "empty").mkdir()
    empty = inspect_data_dir(tmp_path / "empty")
    assert empty.dataset is None and empty.readable_as("cifar10")  # downloaded into it
    assert inspect_data_dir(own / "train").dataset is None  # class folders without train/
    (tmp_path / "notes.txt").write_text("not data")
    with pytest.raises(DataError, match="is a file, not a folder"):
        inspect_data_dir(tmp_path / "notes.txt")


def test_sampler_shards_the_global_batch_like_accumulation() -> None:
    one = list(StepBatchSampler(40, global_batch=8, seed=3, grad_accum=2))
    two = [
        list(StepBatchSampler(40, global_batch=8, seed=3, rank=r, world_size=2)) for r in range(2)
    ]
    # step s: process r's batch == micro-batch r of the single process
    for s in range(5):
        assert one[2 * s] == two[0][s] and one[2 * s + 1] == two[1][s]
    flat = [i for mb in one for i, _ in mb]
    assert sorted(flat) == list(range(40))
    resumed = StepBatchSampler(40, global_batch=8, seed=3, grad_accum=2)
    resumed.set_epoch(0, start_step=3)
    assert list(resumed) == one[6:]
    with pytest.raises(ValueError, match="divisible"):
        StepBatchSampler(40, global_batch=6, seed=0, world_size=4)


def _pets(root: Path) -> Path:
    """train/ with 9 images per class and val/ with 4, 16x16 PNGs; and train/dog/broken.png,
    not an image."""
    g = torch.Generator().manual_seed(0)
    for split, n in (("train", 9), ("val", 4)):
        for c in ("cat", "dog"):
            (root / split / c).mkdir(parents=True)
            for i in range(n):
                px = torch.randint(0, 256, (16, 16, 3), generator=g, dtype=torch.uint8)
                Image.fromarray(px.numpy()).save(root / split / c / f"{i}.png")
    (root / "train" / "dog" / "broken.png").write_bytes(b"not an image")
    return root


def _run_text(run: Path) -> str:
    """Every text file a run wrote but summary.json (its record of each skipped file)."""
    names = ("*.csv", "*.toml", "*.html", "*.log", "*.txt", "*.md")
    return "".join(p.read_text() for pattern in names for p in sorted(run.rglob(pattern)))


@pytest.mark.parametrize("cache", ["auto", "off"])
def test_unreadable_images_are_left_out_of_the_counts_and_named_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], cache: str
) -> None:
    """An own-folder run finds its unreadable images when it opens the folder (decoded in
    memory, or streamed: headers checked), leaves them out of the split and of the banner's
    counts, and names each one once in all it prints and writes; summary.json records it
    (issue 29, item 12)."""
    import json

    from classicnets.cli import main

    root = _pets(tmp_path / "pets")
    run = tmp_path / "run"
    args = ["train", "--data-dir", str(root), "--model", "resnet20", "--input-size", "16",
            "--batch-size", "4", "--epochs", "2", "--quiet", "--threads", "1",
            "--set", f"data_cache={cache}", "--set", "tensorboard=false",
            "--run-dir", str(run)]  # fmt: skip
    assert main(args) == 0
    captured = capsys.readouterr()
    out = captured.out + captured.err
    assert "(18 train / 8 test images" in out and "training images per class: cat 9, dog 9" in out
    assert out.count("broken.png") == 1, out
    assert "broken.png" not in _run_text(run)
    summary = json.loads((run / "summary.json").read_text())
    assert [f for f in summary["skipped_files"] if "broken.png" in f] == [
        f"{root / 'train' / 'dog' / 'broken.png'} (not an image file PIL recognises)"
    ]


def test_an_image_found_unreadable_while_training_is_named_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A file that passes the check on opening the folder (a truncated JPEG: its header is
    whole) but fails to decode in an epoch is named once, however many epochs meet it."""
    import io
    import json

    import numpy as np

    from classicnets.cli import main

    root = _pets(tmp_path / "pets")
    buffer = io.BytesIO()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buffer, "JPEG")
    whole = buffer.getvalue()
    (root / "train" / "cat" / "cut.jpg").write_bytes(whole[: len(whole) * 7 // 10])
    run = tmp_path / "run"
    args = ["train", "--data-dir", str(root), "--model", "resnet20", "--input-size", "16",
            "--batch-size", "19", "--epochs", "3", "--quiet", "--threads", "1", "--workers", "0",
            "--set", "data_cache=off", "--set", "tensorboard=false",
            "--run-dir", str(run)]  # fmt: skip
    assert main(args) == 0
    captured = capsys.readouterr()
    out = captured.out + captured.err
    assert "training images per class: cat 10, dog 9" in out  # cut.jpg: not known yet
    assert out.count("broken.png") == 1 and out.count("cut.jpg") == 1, out
    assert "cut.jpg" not in _run_text(run)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["skipped_images"] == 3  # one step of all 19 images per epoch, 3 epochs
    assert sum("cut.jpg" in f for f in summary["skipped_files"]) == 1
