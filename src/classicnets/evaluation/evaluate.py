"""Evaluation: top-1/top-5, per-class accuracy, confusion matrix, under the papers' protocols.

Protocols (``--protocol``), for a network whose training crop is ``S`` (224 for ImageNet
models); scales given for S = 224 are scaled by S / 224:

* ``center``: resize the shorter side to S / crop_pct, one centre S x S crop (the default, and
  the single-view test of the CIFAR papers when the images are already S x S).
* ``ten_crop``: the four corners and the centre of that image, and their mirrors; softmax
  averaged (ResNet Table 3, DenseNet Table 3).
* ``googlenet_144``: GoogLeNet Sec. 6: the shorter side resized to 256, 288, 320 and 352; the
  left, centre and right (or top, centre, bottom) squares; from each square the four corners,
  the centre S crop and the square resized to S; and their mirrors: 4 x 3 x 6 x 2 = 144 views.
* ``vgg_dense``: VGG Sec. 3.2: the network applied fully-convolutionally to the whole image
  with the shorter side at Q = 256, 384 and 512, and to its mirror; class scores averaged. A
  model with ``as_fully_convolutional()`` (VGG: the FC layers as 7x7 and 1x1 convolutions, the
  score map averaged) is evaluated in that form; the other families' heads pool globally, so
  their whole-image application already is the dense evaluation.
* ``resnet_fcn``: ResNet Sec. 3.4: fully-convolutional on the whole image with the shorter side
  at 224, 256, 384, 480 and 640, scores averaged.

Multi-view protocols average softmax probabilities over the views of one image.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader
from torchvision.transforms import v2

from ..errors import WeightsFileError
from ..preprocessing import Preprocessing
from ..runtime import distributed
from ..runtime.checkpoint_io import CheckpointError
from ..runtime.device import autocast, to_device
from ..runtime.metrics import EvalResult

if TYPE_CHECKING:
    from ..weights.metadata import WeightsMetadata

if TYPE_CHECKING:
    from ..data import DataConfig

PROTOCOLS = ("center", "ten_crop", "googlenet_144", "vgg_dense", "resnet_fcn")
#: The protocols that average mirrored views too.
MIRRORED_PROTOCOLS = ("ten_crop", "googlenet_144", "vgg_dense")


@torch.no_grad()
def evaluate_loader(
    model: nn.Module,
    loader: DataLoader,
    *,
    num_classes: int,
    device: torch.device,
    precision: str = "fp32",
    channels_last: bool = False,
    dist_info: distributed.DistInfo | None = None,
) -> EvalResult:
    """Single-view evaluation over a loader of :class:`~classicnets.data.loader.Batch`."""
    model.eval()
    result = EvalResult(num_classes)
    for batch in loader:
        if batch.images is None:
            continue
        x = to_device(batch.images, device, channels_last)
        y = batch.labels.to(device)
        with autocast(device, precision):
            logits = model(x)
        loss = F.cross_entropy(logits.float(), y, reduction="sum")
        result.add(logits, y, float(loss))
    if dist_info is not None and dist_info.enabled:
        total = distributed.all_reduce_sum(result.as_tensor(), dist_info)
        result = EvalResult.from_tensor(total, num_classes)
    return result


# -- multi-view protocols ------------------------------------------------------------------------


def _scaled(sizes: Sequence[int], input_size: int) -> list[int]:
    return [round(s * input_size / 224) for s in sizes]


def _resize_short(img: torch.Tensor, size: int) -> torch.Tensor:
    return v2.functional.resize(img, size, antialias=True)


def _with_flips(views: list[torch.Tensor], mirror: bool = True) -> list[torch.Tensor]:
    return views + [v.flip(-1) for v in views] if mirror else views


def ten_crop_views(
    img: torch.Tensor, input_size: int, crop_pct: float, mirror: bool = True
) -> list[torch.Tensor]:
    img = _resize_short(img, round(input_size / crop_pct))
    if not mirror:  # the five crops alone
        return list(v2.functional.five_crop(img, [input_size, input_size]))
    return list(v2.functional.ten_crop(img, [input_size, input_size]))


def googlenet_144_views(
    img: torch.Tensor, input_size: int, mirror: bool = True
) -> list[torch.Tensor]:
    views: list[torch.Tensor] = []
    for short in _scaled((256, 288, 320, 352), input_size):
        im = _resize_short(img, short)
        h, w = im.shape[-2:]
        side = min(h, w)
        long_len = max(h, w)
        for off in (0, (long_len - side) // 2, long_len - side):
            square = im[..., off : off + side, :] if h > w else im[..., :, off : off + side]
            views += list(v2.functional.five_crop(square, [input_size, input_size]))
            views.append(v2.functional.resize(square, [input_size, input_size], antialias=True))
    return _with_flips(views, mirror)


def full_image_views(img: torch.Tensor, scales: Sequence[int], flip: bool) -> list[torch.Tensor]:
    views = [_resize_short(img, s) for s in scales]
    return _with_flips(views) if flip else views


def protocol_views(
    protocol: str, input_size: int, crop_pct: float, mirror: bool = True
) -> Callable[[torch.Tensor], list[torch.Tensor]]:
    """A function from a uint8 image tensor (C, H, W) to the protocol's views (uint8).

    ``mirror=False`` leaves out the protocol's mirrored views: for a network trained without
    horizontal flips, which has never seen a mirrored image (digits)."""
    if protocol == "ten_crop":
        return lambda im: ten_crop_views(im, input_size, crop_pct, mirror)
    if protocol == "googlenet_144":
        return lambda im: googlenet_144_views(im, input_size, mirror)
    if protocol == "vgg_dense":
        scales = _scaled((256, 384, 512), input_size)
        return lambda im: full_image_views(im, scales, flip=mirror)
    if protocol == "resnet_fcn":
        scales = _scaled((224, 256, 384, 480, 640), input_size)
        return lambda im: full_image_views(im, scales, flip=False)
    raise ValueError(f"unknown protocol {protocol!r}; use one of {', '.join(PROTOCOLS)}")


@torch.no_grad()
def evaluate_multiview(
    model: nn.Module,
    dataset: Any,
    *,
    protocol: str,
    input_size: int,
    crop_pct: float,
    mean: Sequence[float],
    std: Sequence[float],
    num_classes: int,
    device: torch.device,
    precision: str = "fp32",
    limit: int | None = None,
    on_image: Callable[[int], None] | None = None,
    mirror: bool = True,
) -> EvalResult:
    """Average the softmax over the protocol's views, one image at a time."""
    from ..data import BadSample

    model.eval()
    if protocol == "vgg_dense" and hasattr(model, "as_fully_convolutional"):
        model = model.as_fully_convolutional().eval()  # the paper's dense form (VGG)
    make_views = protocol_views(protocol, input_size, crop_pct, mirror)
    norm = v2.Compose([v2.ToDtype(torch.float32, scale=True), v2.Normalize(mean, std)])
    result = EvalResult(num_classes)
    n = len(dataset) if limit is None else min(limit, len(dataset))
    for i in range(n):
        item = dataset[i]
        if isinstance(item, BadSample):
            continue
        image, label = item
        img = v2.functional.to_image(image)
        views = [norm(v) for v in make_views(img)]
        probs = torch.zeros(num_classes)
        # views of one size go through together
        by_shape: dict[tuple[int, ...], list[torch.Tensor]] = {}
        for v in views:
            by_shape.setdefault(tuple(v.shape), []).append(v)
        for group in by_shape.values():
            x = torch.stack(group).to(device)
            with autocast(device, precision):
                logits = model(x).float()
            probs += logits.softmax(dim=1).sum(dim=0).cpu()
        probs /= len(views)
        target = torch.tensor([label])
        loss = float(F.nll_loss(probs.clamp_min(1e-12).log().unsqueeze(0), target, reduction="sum"))
        result.add(probs.unsqueeze(0), target, loss)
        if on_image is not None:
            on_image(i)
    return result


# -- loading a trained model ---------------------------------------------------------------------


@dataclass
class LoadedModel:
    """A model ready for inference, and what is needed to feed it: one :class:`Preprocessing`,
    from the weights' file or catalog entry. ``config``: the training configuration (its
    ``dataset`` and ``data_dir`` are eval's defaults)."""

    model: nn.Module
    name: str
    classes: tuple[str, ...]
    in_chans: int
    preprocessing: Preprocessing
    config: dict[str, Any]
    #: The file the weights came from (None for registered weights).
    source: Path | None = None

    def transforms(self) -> Any:
        """The evaluation transform of a PIL image or uint8 tensor (torchvision's spelling)."""
        return self.preprocessing.eval_transform()

    @property
    def input_size(self) -> int:
        return self.preprocessing.input_size

    @property
    def crop_pct(self) -> float:
        """Eval resizes the shorter side to ``input_size / crop_pct`` and takes the centre crop."""
        return self.preprocessing.crop_fraction

    @property
    def mean(self) -> tuple[float, ...]:
        return self.preprocessing.mean

    @property
    def std(self) -> tuple[float, ...]:
        return self.preprocessing.std


def load_registered(name: str, model_name: str | None = None) -> LoadedModel:
    """Registered weights (``arch.tag``, see ``classicnets weights``), downloaded or cached,
    with their classes and their catalog entry's evaluation preprocessing."""
    from ..factory import create_model
    from ..weights import get_weights, load_weights
    from ..weights.data_config import pretrained_cfg

    spec = get_weights(name)
    if model_name is not None and model_name != spec.arch:
        raise CheckpointError(
            f"the weights {name} are for {spec.arch}, not {model_name}; leave --model out or "
            f"give --model {spec.arch}"
        )
    pre = spec.preprocessing
    if pre.channel_order != "RGB" or pre.value_range != "0-1":
        raise CheckpointError(
            f"{name} expects {pre.channel_order} input in {pre.value_range}; eval and predict "
            "feed RGB images scaled to 0-1 only"
        )
    try:
        classes = tuple(spec.class_names())
    except ValueError:  # categories without known names: the indices
        classes = tuple(str(i) for i in range(spec.num_classes))
    model = create_model(spec.arch, num_classes=spec.num_classes)
    load_weights(model, name)
    model.pretrained_cfg = pretrained_cfg(pre, classes, tag=spec.tag)
    model.eval()
    return LoadedModel(
        model=model,
        name=spec.arch,
        classes=classes,
        in_chans=pre.in_chans,
        preprocessing=pre,
        # ImageNet-style folders (train/ and val/)
        config={"dataset": "imagefolder", "mean": list(pre.mean), "std": list(pre.std)},
    )


#: In a run directory, the weights eval/predict/export take, best first: the final weights
#: (the EMA when the run kept one; written when the run completes), else the best epoch's
#: checkpoint, else the last (a run still going or interrupted).
RUN_WEIGHTS = ("model.safetensors", "best.pt", "last.pt")


def run_weights_file(path: str | Path) -> Path:
    """The file that stands for ``path``: itself, or a run directory's first of
    :data:`RUN_WEIGHTS` that exists."""
    p = Path(path)
    if not p.is_dir():
        return p
    for name in RUN_WEIGHTS:
        if (p / name).is_file():
            return p / name
    raise CheckpointError(
        f"{p} is a directory without {', '.join(RUN_WEIGHTS)}: not a training run's directory"
    )


def load_trained(
    checkpoint: str | Path | None = None,
    *,
    model_name: str | None = None,
    weights: str | Path | None = None,
    use_ema: bool = True,
) -> LoadedModel:
    """From a run directory (see :data:`RUN_WEIGHTS`), any weight file we wrote, a foreign state
    dict with ``model_name``, or registered weights (``weights="resnet50_v1_5.tv_in1k"``,
    :func:`load_registered`).

    Files are read by ``weights.files.read_weights`` (any layout we wrote, our training states,
    foreign state dicts); the model is built as the file records (architecture, options,
    classes, input channels) and fed as its preprocessing says. ``model_name`` is needed only
    for a file that does not name its model; naming another model than the file's is refused.
    """
    from ..weights.files import read_weights

    if checkpoint is None and weights is not None and not Path(weights).exists():
        name = str(weights)
        if "/" not in name and not name.endswith((".safetensors", ".pt", ".pth", ".bin")):
            return load_registered(name, model_name)  # an unknown name: the close ones named
    source = checkpoint if checkpoint is not None else weights
    if source is None:
        raise CheckpointError(
            "give a checkpoint (-c: a run directory or any weight file it holds), or --weights "
            "(a weight file, with --model when the file does not name its model, or registered "
            "weights such as resnet50_v1_5.tv_in1k)"
        )
    file = run_weights_file(source)
    try:
        state, meta = read_weights(file, ema=use_ema)
    except WeightsFileError as e:
        raise CheckpointError(str(e)) from None
    if model_name and meta.architecture and model_name != meta.architecture:
        raise CheckpointError(
            f"{file} holds {meta.architecture}, not {model_name}; leave --model out"
        )
    lm = _ready(state, meta, meta.architecture or model_name or "")
    lm.source = file
    return lm


def load_run(path: str | Path, *, use_ema: bool = True) -> LoadedModel:
    """A trained model ready for inference, with its classes and preprocessing: from a run
    directory (its final weights, see :data:`RUN_WEIGHTS`) or any weight file we wrote
    (``model.safetensors``, ``best.pt``, ``save_weights``' and ``convert``'s files).

    ``lm.model(lm.transforms()(image).unsqueeze(0))`` classifies a PIL image;
    ``lm.classes`` names the outputs.
    """
    return load_trained(path, use_ema=use_ema)


def _ready(state: dict[str, torch.Tensor], meta: WeightsMetadata, name: str) -> LoadedModel:
    """The model the file describes, its weights loaded strictly (every key that does not fit
    in the table of the error), in eval mode."""
    from ..errors import WeightsError
    from ..factory import create_model
    from ..models.registry import model_info
    from ..weights import load_weights
    from ..weights.data_config import default_preprocessing, pretrained_cfg

    if not name:
        raise CheckpointError("the file does not say which model it holds; give --model")
    info = model_info(name)  # an unknown name: the close ones named
    classes = meta.classes or tuple(str(i) for i in range(meta.num_classes or info.num_classes))
    in_chans = meta.in_chans or 3
    model = create_model(name, num_classes=len(classes), in_chans=in_chans, **meta.options)
    try:
        load_weights(model, state, layout=meta.layout or "auto", adapt=False, progress=False)
    except WeightsError as e:
        raise CheckpointError(f"the weights do not fit {name}: {e}") from None
    preprocessing = meta.preprocessing or default_preprocessing(name)
    model.pretrained_cfg = pretrained_cfg(preprocessing, classes)
    return LoadedModel(
        model=model.eval(),
        name=name,
        classes=classes,
        in_chans=in_chans,
        preprocessing=preprocessing,
        config=meta.config,
    )


# -- the `classicnets eval` command ---------------------------------------------------------------


def run_eval(
    lm: LoadedModel,
    *,
    dataset: str | None = None,
    data_dir: str | None = None,
    protocol: str = "center",
    batch_size: int = 128,
    limit: int | None = None,
    precision: str = "fp32",
    device_name: str = "auto",
    out_dir: str | Path | None = None,
    quiet: bool = False,
) -> dict[str, Any]:
    """Evaluate a loaded model on a dataset's test split; returns the report as a dict."""
    from ..data import build_data
    from ..data.loader import ShardSampler, make_loader
    from ..runtime.distributed import resolve_device

    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; use one of {', '.join(PROTOCOLS)}")
    dc = _eval_data_config(lm, dataset, data_dir, limit)
    data = build_data(dc, include_train=False)
    if len(data.classes) != len(lm.classes):
        raise ValueError(
            f"the model has {len(lm.classes)} classes but {dc.dataset} has "
            f"{len(data.classes)}; evaluate on the dataset it was trained for"
        )
    device = resolve_device(device_name)
    model = lm.model.to(device)
    n = len(data.test)
    # a network trained without horizontal flips never saw a mirrored image: leave them out
    mirror = lm.config.get("hflip", True) is not False
    if not mirror and protocol in MIRRORED_PROTOCOLS:
        print(
            f"note: {lm.name} was trained without horizontal flips (hflip = false): {protocol} "
            "is evaluated without its mirrored views",
            file=sys.stderr,
        )
    bar = None
    if not quiet:
        from tqdm import tqdm

        bar = tqdm(total=n, desc=f"eval {protocol}", unit="img", leave=False)
    if protocol == "center":
        loader = make_loader(data.test, ShardSampler(n, batch_size))
        result = EvalResult(len(lm.classes))
        for part in _batches_with_progress(loader, bar):
            result = _merge(
                result,
                evaluate_loader(
                    model, part, num_classes=len(lm.classes), device=device, precision=precision
                ),
            )
    else:
        result = evaluate_multiview(
            model,
            data.test.base,
            protocol=protocol,
            input_size=lm.input_size,
            crop_pct=lm.crop_pct,
            mean=data.preprocessing.mean,
            std=data.preprocessing.std,
            num_classes=len(lm.classes),
            device=device,
            precision=precision,
            limit=limit,
            on_image=(lambda _: bar.update(1)) if bar is not None else None,
            mirror=mirror,
        )
    if bar is not None:
        bar.close()
    report = {
        "model": lm.name,
        "dataset": dc.dataset,
        "protocol": protocol,
        "mirrored_views": mirror and protocol in MIRRORED_PROTOCOLS,
        "images": result.count,
        "top1": result.top1,
        "top5": result.top5,
        "loss": result.loss,
        "per_class_acc": dict(zip(lm.classes, result.per_class(), strict=True)),
        "confusion_matrix": result.cm.tolist(),
    }
    if out_dir is not None:
        _write_report(Path(out_dir), report, result.cm, lm.classes)
    return report


def _write_report(
    out: Path, report: dict[str, Any], cm: torch.Tensor, classes: Sequence[str]
) -> None:
    """eval_<protocol>.json and the confusion matrix as a PNG, in ``out``."""
    from ..runtime.plots import plot_confusion

    protocol = report["protocol"]
    out.mkdir(parents=True, exist_ok=True)
    (out / f"eval_{protocol}.json").write_text(json.dumps(report, indent=2) + "\n")
    title = f"{report['model']} on {report['dataset']} ({protocol}): top-1 {report['top1']:.2%}"
    plot_confusion(cm, classes, out / f"confusion_matrix_{protocol}.png", title)


def _eval_data_config(
    lm: LoadedModel, dataset: str | None, data_dir: str | None, limit: int | None
) -> DataConfig:
    """The test split to evaluate on: the model's own dataset and folder unless ``dataset`` /
    ``data_dir`` say otherwise, fed as the model's preprocessing says; the first ``limit``
    images when given."""
    from ..data import DataConfig

    if dataset is None:
        dataset, data_dir = (
            lm.config.get("dataset") or "digits",
            data_dir or lm.config.get("data_dir"),
        )
    return DataConfig(
        dataset=dataset, preprocessing=lm.preprocessing, data_dir=data_dir, test_subset=limit
    )


def _batches_with_progress(loader: DataLoader, bar: Any) -> Any:
    """One-batch loaders, so the progress bar moves while evaluate_loader runs."""
    for batch in loader:
        if bar is not None and batch.images is not None:
            bar.update(batch.images.shape[0])
        yield [batch]


def _merge(a: EvalResult, b: EvalResult) -> EvalResult:
    return EvalResult(
        a.num_classes, a.loss_sum + b.loss_sum, a.top5_hits + b.top5_hits, a.cm + b.cm
    )


def render_report(report: dict[str, Any]) -> str:
    from ..runtime.table import format_table

    lines = [
        f"{report['model']} on {report['dataset']} ({report['protocol']}, "
        f"{report['images']} images): top-1 {report['top1']:.2%}  top-5 {report['top5']:.2%}  "
        f"loss {report['loss']:.4f}",
        "",
    ]
    rows = [[c, f"{a:.2%}"] for c, a in report["per_class_acc"].items()]
    lines.append(format_table(["class", "accuracy"], rows, right={1}))
    return "\n".join(lines)
