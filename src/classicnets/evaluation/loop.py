"""Evaluation: top-1/top-5, per-class accuracy and the confusion matrix of a model on a test
split, single-view (:func:`evaluate_loader`, also the training loop's) or under one of the
papers' multi-view protocols (:mod:`.protocols`); and ``classicnets eval``'s report
(:func:`run_eval`, :func:`render_report`, ``eval_<protocol>.json`` and a PNG).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from ..runtime import distributed
from ..runtime.device import autocast, to_device
from ..runtime.metrics import EvalResult
from . import PROTOCOLS
from .loading import LoadedModel
from .protocols import MIRRORED_PROTOCOLS, evaluate_multiview

if TYPE_CHECKING:
    from ..data import DataBundle, DataConfig


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
    on_batch: Callable[[int], None] | None = None,
) -> EvalResult:
    """Single-view evaluation over a loader of :class:`~classicnets.data.loader.Batch`;
    ``on_batch(n)`` after each batch of ``n`` images (a progress bar)."""
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
        if on_batch is not None:
            on_batch(batch.images.shape[0])
    if dist_info is not None and dist_info.enabled:
        total = distributed.all_reduce_sum(result.as_tensor(), dist_info)
        result = EvalResult.from_tensor(total, num_classes)
    return result


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

        bar = tqdm(total=len(data.test), desc=f"eval {protocol}", unit="img", leave=False)
    result = _evaluate(
        lm,
        data,
        protocol=protocol,
        batch_size=batch_size,
        limit=limit,
        precision=precision,
        device=device,
        mirror=mirror,
        progress=bar.update if bar is not None else None,
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


def _evaluate(
    lm: LoadedModel,
    data: DataBundle,
    *,
    protocol: str,
    batch_size: int,
    limit: int | None,
    precision: str,
    device: torch.device,
    mirror: bool,
    progress: Callable[[int], None] | None,
) -> EvalResult:
    """The test split under ``protocol``: batched for ``center``, one image at a time (its
    views) otherwise; ``progress(n)`` as ``n`` more images are done."""
    from ..data.loader import ShardSampler, make_loader

    model = lm.model.to(device)
    if protocol == "center":
        loader = make_loader(data.test, ShardSampler(len(data.test), batch_size))
        return evaluate_loader(
            model,
            loader,
            num_classes=len(lm.classes),
            device=device,
            precision=precision,
            on_batch=progress,
        )
    return evaluate_multiview(
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
        on_image=(lambda _: progress(1)) if progress is not None else None,
        mirror=mirror,
    )


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


def render_report(report: dict[str, Any]) -> str:
    """``classicnets eval``'s table: the totals, then the accuracy of each class."""
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
