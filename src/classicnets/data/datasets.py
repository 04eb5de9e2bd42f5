"""The datasets: scikit-learn's digits (embedded), CIFAR-10/100 and ImageNet-style folders.

Every dataset here returns ``(image, label)`` where ``image`` is a PIL image or a uint8 tensor
shaped (C, H, W), before any transform. A file that cannot be read as an image comes back as a
:class:`BadSample` (the loader drops it, warns and counts it) or, with ``strict=True``, raises
:class:`BadImageError` naming the file. :meth:`ImageFolderDataset.unreadable` finds such files
ahead (their headers checked), so that a split can leave them out before it is used.

The digits split (fixed, documented): scikit-learn's ``load_digits`` gives 1,797 8x8 images with
values 0-16, in a fixed order. Within each class, in that order, every fifth image (positions 4,
9, 14, ...) is a test image: 1,442 training and 355 test images (34-36 per class). Pixels are
scaled to 0-255 so that digits go through the same uint8 pipeline as photographs.

A data folder given without a dataset selects one by what it holds (:func:`inspect_data_dir`):
class folders, a CIFAR release or an archive of either.
"""

from __future__ import annotations

import os
import tarfile
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from ..errors import ClassicNetsError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm")
CACHE_DIR = Path(os.environ.get("CLASSICNETS_CACHE", Path.home() / ".cache" / "classicnets"))


class DataError(ClassicNetsError, ValueError):
    """A data folder or dataset that is missing, empty or laid out differently than expected.

    ``problem`` says what is wrong; ``fix``, when there is one, what to do about it in the words
    of the commands that name the data themselves (train's and eval's ``--data-dir``). A caller
    that reaches the data another way (``quantize``, from what a run records) keeps the
    ``problem`` and gives its own fix, in its own flags.
    """

    def __init__(self, problem: str, fix: str | None = None) -> None:
        super().__init__(f"{problem}; {fix}" if fix else problem)
        self.problem = problem
        self.fix = fix


class BadImageError(ClassicNetsError, OSError):
    """An image file that cannot be decoded (raised with --strict)."""


@dataclass(frozen=True)
class BadSample:
    """Stands in for an image that could not be read; the collate function drops it."""

    path: str
    reason: str


# -- digits ------------------------------------------------------------------------------------


class DigitsDataset(Dataset):
    """scikit-learn's handwritten digits, as uint8 tensors (1, 8, 8), split as the module says."""

    classes = tuple(str(d) for d in range(10))
    in_chans = 1
    native_size = 8

    def __init__(self, split: str) -> None:
        if split not in ("train", "test"):
            raise ValueError(f"digits split must be 'train' or 'test', got {split!r}")
        images, labels = load_digits_arrays()  # (1797, 8, 8) values 0..16, (1797,)
        test = digits_test_mask(labels)
        keep = test if split == "test" else ~test
        self.images = (images[keep] * (255 / 16)).round().to(torch.uint8).unsqueeze(1)
        self.targets = labels[keep].tolist()

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.images[index], self.targets[index]


def load_digits_arrays() -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's digits file, read directly (importing sklearn.datasets takes seconds)."""
    import importlib.util

    import numpy as np

    spec = importlib.util.find_spec("sklearn")
    if spec is None or spec.origin is None:
        raise DataError("the digits dataset ships with scikit-learn: pip install scikit-learn")
    csv = Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz"
    if csv.is_file():
        data = np.loadtxt(csv, delimiter=",")  # 1797 rows: 64 pixels, then the label
        images, target = data[:, :-1].reshape(-1, 8, 8), data[:, -1]
    else:  # a future layout: go through the public loader
        from sklearn.datasets import load_digits

        bunch = load_digits()
        images, target = bunch.images, bunch.target
    return torch.from_numpy(images).float(), torch.from_numpy(target).long()


def digits_test_mask(labels: torch.Tensor) -> torch.Tensor:
    """True for every fifth image of each class (positions 4, 9, ... within the class)."""
    mask = torch.zeros(len(labels), dtype=torch.bool)
    for c in labels.unique().tolist():
        idx = (labels == c).nonzero().flatten()
        mask[idx[4::5]] = True
    return mask


# -- image folders -----------------------------------------------------------------------------


def _pil_to_mode(img: Any, in_chans: int) -> Any:
    """Grayscale, palette, RGBA (composited on white) and CMYK images to L or RGB."""
    from PIL import Image

    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba)
    target = "L" if in_chans == 1 else "RGB"
    return img if img.mode == target else img.convert(target)


def load_image(path: str | Path, in_chans: int = 3) -> Any:
    """Open, fully decode and convert an image; OSError/ValueError for an unreadable file."""
    from PIL import Image

    with Image.open(path) as img:
        img.load()  # decode now: a truncated file fails here, not later in a transform
        return _pil_to_mode(img, in_chans)


def _unreadable_errors() -> tuple[type[BaseException], ...]:
    """What PIL raises for a file it cannot or will not decode: OSError, ValueError and
    SyntaxError for bad files, DecompressionBombError for an image whose header claims more
    pixels than ``Image.MAX_IMAGE_PIXELS`` x 2 (a bomb, or a real image far too large)."""
    from PIL import Image

    return (OSError, ValueError, SyntaxError, Image.DecompressionBombError)


_UNREADABLE = _unreadable_errors()


def unreadable_reason(error: BaseException) -> str:
    """Why a file could not be read, without its path (messages name the file once)."""
    from PIL import UnidentifiedImageError

    if isinstance(error, UnidentifiedImageError):
        return "not an image file PIL recognises"
    if isinstance(error, OSError) and error.filename is not None and error.strerror:
        return f"{type(error).__name__}: {error.strerror}"  # e.g. no such file
    return f"{type(error).__name__}: {error}"


def check_image(path: str | Path) -> None:
    """Open ``path`` and check what can be checked without decoding it (the header; a PNG's
    chunks): the unreadable errors for a file that is not an image, empty, cut short in its
    header, or a decompression bomb. A JPEG cut short in its pixels passes: it fails when
    decoded."""
    from PIL import Image

    with Image.open(path) as img:
        img.verify()


class ImageFolderDataset(Dataset):
    """``root/<class>/<image>`` files, classes sorted by name (the ImageNet/torchvision layout).

    ``labelled=False`` where the labels go unused (int8 calibration): an empty class folder is
    then no concern, and not warned about."""

    def __init__(
        self, root: str | Path, *, in_chans: int = 3, strict: bool = False, labelled: bool = True
    ) -> None:
        self.root = Path(root)
        self.in_chans = in_chans
        self.strict = strict
        self.native_size = None
        if not self.root.is_dir():
            raise DataError(
                f"data folder {self.root} does not exist; expected one sub-folder per class "
                f"with the images inside ({self.root}/<class>/<image>.jpg)"
            )
        class_dirs = sorted(d for d in self.root.iterdir() if d.is_dir())
        self.classes = tuple(d.name for d in class_dirs)
        self.samples: list[tuple[str, int]] = []
        for label, d in enumerate(class_dirs):
            for dirpath, _, files in os.walk(d, followlinks=True):
                for f in sorted(files):
                    if f.lower().endswith(IMAGE_EXTENSIONS):
                        self.samples.append((os.path.join(dirpath, f), label))
        if not self.samples:
            found = ", ".join(sorted(p.name for p in self.root.iterdir())[:8]) or "nothing"
            raise DataError(
                f"no images found in {self.root}: expected one sub-folder per class with image "
                f"files ({', '.join(IMAGE_EXTENSIONS[:4])}, ...) inside, e.g. "
                f"{self.root}/cat/0001.jpg; found: {found}"
            )
        self.targets = [label for _, label in self.samples]
        if labelled:
            self._check_empty_classes()

    def _check_empty_classes(self) -> None:
        """A class folder without images is a label the model can never learn: an error with
        ``strict``, else a warning (its class index is kept, so labels stay those of the names)."""
        counts = self.class_counts()
        empty = [c for c, n in counts.items() if n == 0]
        if not empty:
            return
        msg = (
            f"{self.root}: class folder(s) without images: {', '.join(empty)}; remove them or "
            "add images"
        )
        if self.strict:
            raise DataError(msg + " (--strict)")
        warnings.warn(msg + "; training goes on with them (--strict stops here)", stacklevel=3)

    def class_counts(self) -> dict[str, int]:
        """Images per class, in class order."""
        counts = dict.fromkeys(self.classes, 0)
        for label in self.targets:
            counts[self.classes[label]] += 1
        return counts

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[Any, int] | BadSample:
        path, label = self.samples[index]
        try:
            return load_image(path, self.in_chans), label
        except _UNREADABLE as e:
            if self.strict:
                raise BadImageError(f"cannot read image {path}: {unreadable_reason(e)}") from e
            return BadSample(path, unreadable_reason(e))

    def unreadable(self, indices: Sequence[int] | None = None) -> dict[int, str]:
        """The images (all, or those at ``indices``) that :func:`check_image` refuses, by
        index, with the reason; with ``strict``, :class:`BadImageError` for the first. Checked
        on a few threads; a progress bar on a terminal for large folders."""
        import sys
        from concurrent.futures import ThreadPoolExecutor

        from tqdm.auto import tqdm

        def check(index: int) -> str | None:
            try:
                check_image(self.samples[index][0])
            except _UNREADABLE as e:
                return unreadable_reason(e)
            return None

        order = list(range(len(self))) if indices is None else list(indices)
        with ThreadPoolExecutor(min(8, os.cpu_count() or 1)) as pool:
            results = tqdm(
                pool.map(check, order, chunksize=64),
                total=len(order),
                desc=f"checking {self.root.name}",
                unit="img",
                leave=False,
                disable=len(order) < 2000 or not sys.stderr.isatty(),
            )
            bad = {i: reason for i, reason in zip(order, results, strict=True) if reason}
        if bad and self.strict:
            i, reason = next(iter(bad.items()))
            raise BadImageError(f"cannot read image {self.samples[i][0]}: {reason}")
        return bad


class TorchvisionCifar(Dataset):
    """torchvision's CIFAR-10/100 (pickled batches), returning PIL images."""

    native_size = 32
    in_chans = 3

    def __init__(self, name: str, root: Path, split: str) -> None:
        from torchvision import datasets

        cls = datasets.CIFAR10 if name == "cifar10" else datasets.CIFAR100
        try:
            self.ds = cls(str(root), train=split == "train", download=False)
        except RuntimeError:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    self.ds = cls(str(root), train=split == "train", download=True)
            except Exception as e:  # URLError, socket errors, HTTP errors
                raise DataError(
                    f"{name} is not in {root} and could not be downloaded ({e})",
                    "offline, either put torchvision's extracted release there, or pass "
                    "--data-dir with an ImageFolder copy (train/<class>/*.jpg and "
                    "test/<class>/*.jpg) or a .tar.gz of one, e.g. "
                    "--data-dir ../shared/datasets/cifar10-jpg.tar.gz",
                ) from None
        self.classes = tuple(self.ds.classes)
        self.targets = list(self.ds.targets)

    def __len__(self) -> int:
        return len(self.ds)

    def __getitem__(self, index: int) -> tuple[Any, int]:
        return self.ds[index]


def extract_archive(archive: Path, cache_dir: Path | None = None) -> Path:
    """Extract a .tar.gz once into the cache (outside the repository); return the folder.

    The archive is extracted into a temporary folder that is then renamed into place, so
    several processes (torchrun ranks) may call this at once and an interrupted extraction
    leaves nothing half-done behind.
    """
    cache_dir = CACHE_DIR if cache_dir is None else cache_dir
    name = archive.name.removesuffix(".tar.gz").removesuffix(".tgz").removesuffix(".tar")
    target = cache_dir / name
    if target.is_dir():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = cache_dir / f".{name}.{os.getpid()}.tmp"
    print(f"extracting {archive} to {target} (once)", flush=True)
    try:
        with tarfile.open(archive) as tar:
            if hasattr(tarfile, "data_filter"):  # refuses absolute paths, links out, devices
                tar.extractall(tmp, filter="data")
            else:  # pragma: no cover (Python < 3.10.12 / 3.11.4)
                tar.extractall(tmp)
        os.rename(tmp, target)
    except OSError:
        if not target.is_dir():  # not a lost race with another process: a real failure
            raise
    finally:
        if tmp.exists():
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
    return target


def _split_folder(root: Path, split: str) -> Path:
    """root/train for training; root/val or root/test for testing."""
    names = ("train",) if split == "train" else ("val", "test")
    for n in names:
        if (root / n).is_dir():
            return root / n
    subs = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    raise DataError(
        f"{root} has no {' or '.join(names)}/ folder (found: {', '.join(subs) or 'nothing'}); "
        "expected the ImageNet layout: train/<class>/<image> and val/<class>/<image>"
    )


def _folder_root(data_dir: str) -> Path:
    """The folder ``data_dir`` names: an archive extracted (once, into the cache), and a lone
    top-level folder stepped into (archives often hold one), unless it is a CIFAR release."""
    p = Path(data_dir).expanduser()
    if p.is_file() and p.name.endswith((".tar.gz", ".tgz", ".tar")):
        p = extract_archive(p)
    if not p.exists():
        raise DataError(f"data folder {p} does not exist", "check --data-dir")
    if not p.is_dir():
        raise DataError(
            f"data folder {p} is a file, not a folder or a .tar.gz of one; expected {LAYOUTS}",
            "check --data-dir",
        )
    if not any((p / s).is_dir() for s in ("train", "val", "test")) and cifar_release(p) is None:
        inner = [d for d in p.iterdir() if d.is_dir()]
        if len(inner) == 1:
            p = inner[0]
    return p


# -- what a data folder holds ------------------------------------------------------------------

#: The classes of the CIFAR releases, sorted as torchvision lists them (and as an ImageFolder
#: copy such as ../shared/datasets/cifar10-jpg.tar.gz names its class folders).
CIFAR_CLASSES: dict[str, tuple[str, ...]] = {
    "cifar10": (
        "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
    ),
    "cifar100": (
        "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle",
        "bottle", "bowl", "boy", "bridge", "bus", "butterfly", "camel", "can", "castle",
        "caterpillar", "cattle", "chair", "chimpanzee", "clock", "cloud", "cockroach", "couch",
        "crab", "crocodile", "cup", "dinosaur", "dolphin", "elephant", "flatfish", "forest",
        "fox", "girl", "hamster", "house", "kangaroo", "keyboard", "lamp", "lawn_mower",
        "leopard", "lion", "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain",
        "mouse", "mushroom", "oak_tree", "orange", "orchid", "otter", "palm_tree", "pear",
        "pickup_truck", "pine_tree", "plain", "plate", "poppy", "porcupine", "possum", "rabbit",
        "raccoon", "ray", "road", "rocket", "rose", "sea", "seal", "shark", "shrew", "skunk",
        "skyscraper", "snail", "snake", "spider", "squirrel", "streetcar", "sunflower",
        "sweet_pepper", "table", "tank", "telephone", "television", "tiger", "tractor", "train",
        "trout", "tulip", "turtle", "wardrobe", "whale", "willow_tree", "wolf", "woman", "worm",
    ),
}  # fmt: skip
#: torchvision's release of each CIFAR: the folder of its pickled batches, and its archive.
CIFAR_RELEASES = {
    "cifar10": ("cifar-10-batches-py", "cifar-10-python.tar.gz"),
    "cifar100": ("cifar-100-python", "cifar-100-python.tar.gz"),
}
_CIFAR_NAMES = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100"}
#: The layouts a data folder may have (for messages).
LAYOUTS = (
    "train/ and val/ (or test/) with one folder of images per class, torchvision's "
    "CIFAR-10/100 release (cifar-10-batches-py/ or cifar-100-python/), or a .tar.gz of either"
)


@dataclass(frozen=True)
class FolderContents:
    """What a data folder holds, as far as the dataset that reads it goes.

    ``dataset``: the dataset it is, or None when nothing is recognised (or it is empty);
    ``class_folders``: train/ holds one folder per class, which ``imagefolder`` reads whatever
    the images are; ``description``: what it holds, in words, for messages.
    """

    dataset: str | None
    description: str
    class_folders: bool = False
    empty: bool = False

    def readable_as(self, dataset: str) -> bool:
        """Whether ``dataset`` reads this folder as what it is: imagefolder any class folders, a
        CIFAR its own release or copy (or an empty folder, which it downloads into), the
        built-in digits no folder at all."""
        if dataset == "imagefolder":
            return self.class_folders
        if dataset in CIFAR_CLASSES:
            return self.dataset == dataset or self.empty
        return False


def cifar_release(root: Path) -> str | None:
    """The CIFAR whose torchvision release ``root`` holds (batches folder or archive) or is."""
    for name, (folder, archive) in CIFAR_RELEASES.items():
        if root.name == folder or (root / folder).is_dir() or (root / archive).is_file():
            return name
    return None


def inspect_data_dir(data_dir: str | Path) -> FolderContents:
    """What ``data_dir`` (a folder, or a .tar.gz of one, extracted once into the cache) holds.

    The rules, in order: train/ with class folders is ``cifar10`` or ``cifar100`` when its class
    names are exactly that release's, else ``imagefolder``; torchvision's CIFAR release beside
    it (or the folder itself) is that CIFAR; an empty folder and anything else are no dataset.
    Class names, not image sizes or counts, decide: they are what a model's outputs mean.
    """
    root = _folder_root(str(data_dir))
    if (root / "train").is_dir():
        return _class_folders(root)
    release = cifar_release(root)
    if release is not None:
        release_name = CIFAR_RELEASES[release][0]
        return FolderContents(release, f"torchvision's {_CIFAR_NAMES[release]} ({release_name}/)")
    visible = [p for p in root.iterdir() if not p.name.startswith(".")]
    found = sorted(f"{p.name}/" if p.is_dir() else p.name for p in visible)
    if not found:
        return FolderContents(None, "nothing (an empty folder)", empty=True)
    shown = ", ".join(found[:8]) + (", ..." if len(found) > 8 else "")
    return FolderContents(None, f"no train/ folder and no CIFAR release (found: {shown})")


def _class_folders(root: Path) -> FolderContents:
    """train/ (and val/ or test/) of class folders: which dataset their names say it is."""
    classes = tuple(sorted(d.name for d in (root / "train").iterdir() if d.is_dir()))
    test = next((n for n in ("val", "test") if (root / n).is_dir()), None)
    splits = f"train/ and {test}/" if test else "train/ (no val/ or test/)"
    for name, names in CIFAR_CLASSES.items():
        if classes == tuple(sorted(names)):
            described = f"{splits} with {_CIFAR_NAMES[name]}'s {len(names)} class folders"
            return FolderContents(name, described, class_folders=True)
    shown = ", ".join(classes[:5]) + (", ..." if len(classes) > 5 else "")
    described = f"{splits} with {len(classes)} class folders ({shown or 'none'})"
    return FolderContents("imagefolder", described, class_folders=True)


def open_split(
    dataset: str,
    split: str,
    data_dir: str | None,
    *,
    in_chans: int = 3,
    strict: bool = False,
    labelled: bool = True,
) -> Dataset:
    """The raw (untransformed) split of a named dataset (``labelled``: as
    :class:`ImageFolderDataset` says)."""
    if dataset == "digits":
        if data_dir is not None:  # reading the digits would ignore the folder without a word
            raise DataError(
                f"the digits are built in and read no folder, but a data folder was given "
                f"({data_dir})",
                "name the dataset that reads it (--dataset imagefolder, cifar10 or cifar100), "
                "or give no folder for the digits",
            )
        return DigitsDataset(split)
    if dataset in ("cifar10", "cifar100"):
        if data_dir is None:  # an ImageFolder copy already in the cache
            for name in (dataset, f"{dataset}-jpg"):
                if (CACHE_DIR / name / "train").is_dir():
                    data_dir = str(CACHE_DIR / name)
                    break
        if data_dir is not None:
            root = _folder_root(data_dir)
            if (root / "train").is_dir():
                ds = ImageFolderDataset(
                    _split_folder(root, split), in_chans=in_chans, strict=strict, labelled=labelled
                )
                ds.native_size = 32
                return ds
            if root.name == CIFAR_RELEASES[dataset][0]:  # the batches folder itself
                root = root.parent
            return TorchvisionCifar(dataset, root, split)
        return TorchvisionCifar(dataset, CACHE_DIR / "torchvision", split)
    if dataset == "imagefolder":
        if data_dir is None:
            raise DataError(
                "dataset 'imagefolder' needs a folder with train/<class>/<image> and "
                "val/<class>/<image>, and none was given",
                "give it with --data-dir",
            )
        root = _folder_root(data_dir)
        return ImageFolderDataset(
            _split_folder(root, split), in_chans=in_chans, strict=strict, labelled=labelled
        )
    raise DataError(f"unknown dataset {dataset!r}; use digits, cifar10, cifar100 or imagefolder")
