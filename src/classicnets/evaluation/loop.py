"""Evaluation: top-1/top-5, per-class accuracy and the confusion matrix of a model on a test
split, single-view (:func:`evaluate_loader`, also the training loop's) or under one of the
papers' multi-view protocols (:mod:`.protocols`); and ``classicnets eval``'s report
(:func:`run_eval`, :func:`render_report`, ``eval_<protocol>.json`` and a PNG).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from ..runtime import distributed
from ..runtime.console import progress_bar
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
    label_map: torch.Tensor | None = None,
) -> EvalResult:
    """Single-view evaluation over a loader of :class:`~classicnets.data.loader.Batch`;
    ``on_batch(n)`` after each batch of ``n`` images (a progress bar). ``label_map[i]``: the
    model's output of the loader's label ``i`` (:func:`match_classes`), when they differ."""
    model.eval()
    result = EvalResult(num_classes)
    for batch in loader:
        if batch.images is None:
            continue
        x = to_device(batch.images, device, channels_last)
        y = (batch.labels if label_map is None else label_map[batch.labels]).to(device)
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


# -- a test split's classes against the model's ------------------------------------------------

#: A WordNet ID (n01440764): the class folders of ImageNet, whose sorted order is the order of
#: an ImageNet classifier's outputs (which carry the classes' names instead).
_WORDNET_ID = re.compile(r"n\d{8}")


@dataclass(frozen=True)
class ClassMatch:
    """Which output of the model each class of a test split is scored against.

    ``label_map[i]``: the model's index of the split's class ``i``; ``how``: "same" (the
    model's own classes), "by name" or "by index"; ``note``: the line that says what was
    chosen (empty for "same").
    """

    label_map: tuple[int, ...]
    how: str
    note: str = ""


def match_classes(model: Sequence[str], split: Sequence[str], *, named: bool = True) -> ClassMatch:
    """The model's outputs for a test split's classes. A split with the model's classes in its
    order is taken as it is; else its classes are found among the model's by name (another
    order, or some of them), since scoring by position would score a bird against "cat"
    without a word. By index only where names cannot match: weights without class names
    (``named`` False) or ImageNet's WordNet-ID folders. A class the model does not know, or
    one it has twice, is a :class:`~classicnets.data.DataError`."""
    model, split = tuple(model), tuple(split)
    if split == model:
        return ClassMatch(tuple(range(len(split))), "same")
    if not named:
        return _by_index(model, split, "the weights record no class names")
    wordnet = all(_WORDNET_ID.fullmatch(c) for c in split) and not set(split) & set(model)
    if wordnet:
        return _by_index(model, split, "the test split's classes are WordNet IDs (ImageNet's)")
    return _by_name(model, split)


def _shown(names: Sequence[str], limit: int = 8) -> str:
    """``names`` joined, the first ``limit`` of a longer list and how many there are."""
    more = f", ... ({len(names)} in all)" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def _by_index(model: tuple[str, ...], split: tuple[str, ...], why: str) -> ClassMatch:
    """The split's ``i``-th class (sorted) as the model's output ``i``: said in a line."""
    from ..data import DataError

    if len(split) != len(model):
        raise DataError(
            f"the model has {len(model)} classes ({_shown(model)}) but the test split has "
            f"{len(split)} ({_shown(split)}); {why}, so classes can only be compared by index: "
            f"evaluate on a folder with the model's {len(model)} classes"
        )
    pairs = [f"{s} = {m}" for s, m in zip(split, model, strict=True)]
    note = f"note: {why}: classes compared by index ({_shown(pairs, 5)})"
    return ClassMatch(tuple(range(len(split))), "by index", note)


def _by_name(model: tuple[str, ...], split: tuple[str, ...]) -> ClassMatch:
    """Each of the split's classes as the model's class of that name; refused where the model
    has no class of that name, or more than one."""
    from ..data import DataError

    unknown = [c for c in split if c not in model]
    if unknown:
        raise DataError(
            f"the test split has classes the model does not know ({_shown(unknown)}): the "
            f"model's {len(model)} classes are {_shown(model)}, the test split's {len(split)} are "
            f"{_shown(split)}; name the test folders as the model's classes (rename or remove "
            "the others)"
        )
    twice = [c for c in split if model.count(c) > 1]
    if twice:
        raise DataError(
            f"the model has more than one class named {_shown(twice)}: the test split's folder "
            "of that name cannot be matched to one output; leave it out of the test split"
        )
    label_map = tuple(model.index(c) for c in split)
    missing = [c for c in model if c not in split]
    if missing:
        note = (
            f"note: the test split holds {len(split)} of the model's {len(model)} classes "
            f"(without {_shown(missing)}): matched by name, predictions still among all "
            f"{len(model)}"
        )
    else:
        note = "note: the test split's classes are the model's in another order: matched by name"
    return ClassMatch(label_map, "by name", note)


class _Relabelled:
    """A split whose labels are the model's outputs (``label_map``), for the per-image
    protocols; unreadable images pass through."""

    def __init__(self, base: Any, label_map: Sequence[int]) -> None:
        self.base, self.label_map = base, label_map

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index: int) -> Any:
        from ..data import BadSample

        item = self.base[index]
        if isinstance(item, BadSample):
            return item
        image, label = item
        return image, self.label_map[label]


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
    match = match_classes(lm.classes, data.classes, named=lm.named_classes)
    if match.note:
        print(match.note, file=sys.stderr)
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
    if not quiet:  # drawn on a terminal only (no fragments in a log)
        bar = progress_bar(total=len(data.test), desc=f"eval {protocol}", unit="img", leave=False)
    result = _evaluate(
        lm,
        data,
        protocol=protocol,
        batch_size=batch_size,
        limit=limit,
        precision=precision,
        device=device,
        mirror=mirror,
        match=match,
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
        "top5": result.reported_top5,  # None with 5 classes or fewer
        "loss": result.loss,
        "per_class_acc": _per_class(result, lm.classes, match),
        "classes_matched": match.how,
        "confusion_matrix": result.cm.tolist(),
    }
    if out_dir is not None:
        _write_report(Path(out_dir), report, result.cm, lm.classes)
    return report


def _per_class(result: EvalResult, classes: Sequence[str], match: ClassMatch) -> dict[str, float]:
    """The accuracy of each class the test split holds, in the model's order (a class it does
    not hold has no accuracy, not 0%)."""
    accuracy = result.per_class()
    if match.how == "same":
        return dict(zip(classes, accuracy, strict=True))
    return {classes[i]: accuracy[i] for i in sorted(match.label_map)}


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
    match: ClassMatch,
    progress: Callable[[int], None] | None,
) -> EvalResult:
    """The test split under ``protocol``: batched for ``center``, one image at a time (its
    views) otherwise, its labels as the model's outputs (``match``); ``progress(n)`` as ``n``
    more images are done."""
    from ..data.loader import ShardSampler, make_loader

    model = lm.model.to(device)
    same = match.how == "same"
    if protocol == "center":
        loader = make_loader(data.test, ShardSampler(len(data.test), batch_size))
        return evaluate_loader(
            model,
            loader,
            num_classes=len(lm.classes),
            device=device,
            precision=precision,
            on_batch=progress,
            label_map=None if same else torch.tensor(match.label_map),
        )
    return evaluate_multiview(
        model,
        data.test.base if same else _Relabelled(data.test.base, match.label_map),
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

    top5 = f"top-5 {report['top5']:.2%}  " if report.get("top5") is not None else ""
    lines = [
        f"{report['model']} on {report['dataset']} ({report['protocol']}, "
        f"{report['images']} images): top-1 {report['top1']:.2%}  {top5}"
        f"loss {report['loss']:.4f}",
        "",
    ]
    rows = [[c, f"{a:.2%}"] for c, a in report["per_class_acc"].items()]
    lines.append(format_table(["class", "accuracy"], rows, right={1}))
    return "\n".join(lines)
