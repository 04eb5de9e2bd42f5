"""The logic of `classicnets weights` and `classicnets convert` (cli/weights.py only parses)."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from ..errors import WeightsError
from ..models.registry import model_info
from ..runtime.table import format_table
from .catalog import WeightSpec, get_weights, list_weights
from .hub import sha256_of
from .interchange import foreign_archs
from .load import load_weights, no_weights_message
from .save import save_weights


def weights_table(pattern: str = "*") -> str:
    """The registered weights matching ``pattern`` (a glob of weight names, or a model name: its
    weights), with provenance, as a text table. A torchvision/timm name that is another of our
    models (``resnet50``: our ``resnet50_v1_5``) gets that model's weights, with a note."""
    names = list_weights(pattern) or list_weights(f"{pattern}.*")
    if not names:
        ours = sorted({e.ours for e in foreign_archs() if e.name == pattern and e.ours != pattern})
        names = [n for arch in ours for n in list_weights(f"{arch}.*")]
        if not names:
            return ""
        return no_weights_message(pattern) + "\n\n" + _table(names)
    return _table(names)


def _table(names: list[str]) -> str:
    rows = []
    for name in names:
        s = get_weights(name)
        acc = f"{s.accuracy.top1:.2f}" if s.accuracy else "-"
        pre = s.preprocessing
        rows.append(
            [
                name,
                s.origin,
                s.source.split(" (")[0],
                acc,
                f"{pre.resize_size}->{pre.input_size} {pre.interpolation}",
                "full" if s.full_hash else f"prefix {s.sha256}",
                s.license.split(";")[0].split(" (")[0],
            ]
        )
    header = ["weights", "origin", "source", "top-1", "eval resize->crop", "sha256", "license"]
    lines = [format_table(header, rows, right={3})]
    lines.append(
        f"\n{len(names)} weight set(s). top-1: ImageNet-1k val, single center crop, as reported by "
        "the source. torchvision and timm publish only an 8-digit SHA-256 prefix (in the file "
        "name); that prefix is verified on every download and every use."
    )
    if len(names) == 1:
        s = get_weights(names[0])
        lines.append(
            f"\nurl: {s.url}\n{s.describe_hash()}\nlayout: {s.layout}\n"
            f"preprocessing: {s.preprocessing.describe()}\n"
            + (f"accuracy: {s.accuracy.protocol} [{s.accuracy.source}]\n" if s.accuracy else "")
            + f"recipe: {s.recipe}\nlicense: {s.license}\ncategories: {s.categories}"
            + (f"\nnotes: {s.notes}" if s.notes else "")
        )
    return "\n".join(lines)


def convert(
    src: str,
    arch: str,
    out: str,
    *,
    layout: str = "auto",
    to: str = "classicnets",
    num_classes: int | None = None,
    check_arch: bool = True,
) -> str:
    """Load ``src`` into ``arch`` strictly and write it as safetensors; returns a report line.

    Strict: every key must fit, including the classifier (give ``num_classes`` for a checkpoint
    that is not 1000-way), so a converted file holds exactly the source's weights. A source
    without the auxiliary classifiers the architecture has by default is written without them
    (``aux_logits=False`` in the file's options), not with initialised ones.
    """
    if src in list_weights() and get_weights(src).features_only:
        raise WeightsError(
            f"{src} holds trained features only (no trained classifier); convert writes a whole "
            "classifier, so it would write an untrained head as if it were theirs. Load it with "
            f"create_model({arch!r}, pretrained={src!r}, features_only=True) instead"
        )
    model = model_info(arch).build(num_classes=num_classes)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = load_weights(model, src, layout=layout, check_arch=check_arch, adapt=False)
    options = dict(report.info.options)
    if report.aux_initialised:  # build the network without the heads the source does not have
        model = model_info(arch).build(num_classes=num_classes, aux_logits=False)
        report = load_weights(model, src, layout=layout, check_arch=check_arch, adapt=False)
        options["aux_logits"] = False
    else:
        for w in caught:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    spec = get_weights(src) if src in list_weights() else None
    meta = report.info
    path = save_weights(
        model,
        out,
        layout=to,
        preprocessing=spec.preprocessing if spec else meta.preprocessing,
        categories=spec.categories if spec else meta.categories,
        classes=spec.class_names() if spec else meta.classes,
        options=options,
        source=(f"{spec.source}, {spec.url}" if spec else os.path.basename(src))
        + f" ({report.layout} layout)",
        sha256=_source_digest(src, spec),
    )
    return f"{report.summary()}\nwrote {path} ({to} layout, safetensors)"


def _source_digest(src: str, spec: WeightSpec | None) -> str:
    """The SHA-256 of what was converted: the registered one (maybe the publisher's prefix), or
    that of the file."""
    if spec is not None:
        return spec.sha256
    path = Path(src)
    return sha256_of(path) if path.is_file() else ""
