"""``load_weights``: any checkpoint into a model, with the layout detected and every problem named.

The steps, in order:

1. read the source: a state dict, a file (safetensors, or a pickle read with
   ``weights_only=True``), or a registered weight name (downloaded and verified);
2. find its key layout: our own, or the torchvision/timm layout of the model's family (the one
   whose renamed keys cover most of the model's), unless the file or the registry says;
3. check the architecture: a foreign checkpoint that is exactly another registered variant (e.g.
   torchvision's resnet50 into our paper ``resnet50``) is refused with the name to build;
4. fit: the classifier is re-initialised when the class counts differ, the first conv is adapted
   when the input channels differ (each with a warning), and any other missing, unexpected or
   mis-shaped key is reported in a table (an error with ``strict=True``).

Auxiliary classifiers (GoogLeNet, Inception v3) are training-only heads that ``forward`` never
runs: a checkpoint's heads that the model was built without (``aux_logits=False``) are left out,
and heads the checkpoint lacks (timm's and TF's files have none) keep their initialisation, with
a warning; both are listed in the report. A registered weight file whose classifier has extra
leading classes (TF's background class, ``WeightSpec.label_offset``) has them dropped first.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor, nn

from ..errors import ArchitectureMismatchError, UnknownWeightsError, WeightsError, WeightsFileError
from ..layers import AuxClassifier, init_weights
from ..models.registry import list_models
from ..preprocessing import Preprocessing
from ..runtime.table import format_table
from .catalog import WeightSpec, default_weights, get_weights, list_weights, weights_for
from .files import read_weights, unwrap_state_dict
from .hub import fetch
from .interchange import (
    aux_prefixes,
    check_architecture,
    convert_from,
    foreign_archs,
    layouts_for,
)
from .metadata import WeightsMetadata

__all__ = ["LoadReport", "WeightsAdaptedWarning", "load_pretrained", "load_weights"]

_PATH_SUFFIXES = (".pth", ".pt", ".bin", ".safetensors", ".ckpt", ".pkl")
_MAX_ROWS = 20


class WeightsAdaptedWarning(UserWarning):
    """Weights loaded with an adaptation: a re-initialised classifier or an adapted first conv."""


def _shape(s: tuple[int, ...] | None) -> str:
    return "-" if s is None else "x".join(map(str, s)) or "scalar"


@dataclass
class LoadReport:
    """What ``load_weights`` did: from where, in which layout, and what did not fit."""

    source: str
    layout: str
    model: str
    loaded: int = 0
    reinitialised: list[str] = field(default_factory=list)
    adapted: list[str] = field(default_factory=list)
    missing: list[tuple[str, tuple[int, ...]]] = field(default_factory=list)
    unexpected: list[tuple[str, tuple[int, ...]]] = field(default_factory=list)
    mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)
    #: What the file says about the weights (empty for a state dict or a foreign file).
    info: WeightsMetadata = field(default_factory=WeightsMetadata)
    #: Auxiliary classifiers of the checkpoint that the model does not have (left out), and the
    #: model's that the checkpoint does not have (they keep their initialisation).
    aux_dropped: list[str] = field(default_factory=list)
    aux_initialised: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)

    @property
    def metadata(self) -> dict[str, Any]:
        """:attr:`info` as a JSON-friendly dict of the fields that are set."""
        return self.info.as_dict()

    @property
    def classes(self) -> tuple[str, ...]:
        return self.info.classes

    @property
    def preprocessing(self) -> Preprocessing | None:
        return self.info.preprocessing

    def summary(self) -> str:
        text = (
            f"{self.model} <- {self.source} ({self.layout} layout): {self.loaded} tensors "
            f"loaded, {len(self.missing)} missing, {len(self.unexpected)} unexpected, "
            f"{len(self.mismatched)} with another shape"
        )
        if self.aux_dropped:
            text += f"; auxiliary heads the model lacks, left out: {', '.join(self.aux_dropped)}"
        if self.aux_initialised:
            text += f"; auxiliary heads not in the checkpoint: {', '.join(self.aux_initialised)}"
        return text

    def table(self) -> str:
        """The keys that did not fit: problem, key, shape in the checkpoint, shape in the model."""
        groups: list[tuple[str, list[list[str]]]] = [
            ("missing", [["missing", k, "-", _shape(s)] for k, s in self.missing]),
            ("unexpected", [["unexpected", k, _shape(s), "-"] for k, s in self.unexpected]),
            ("shape", [["shape", k, _shape(a), _shape(b)] for k, a, b in self.mismatched]),
        ]
        rows: list[list[str]] = []
        for kind, group in groups:
            rows += group[:_MAX_ROWS]
            if len(group) > _MAX_ROWS:
                rows.append([kind, f"... and {len(group) - _MAX_ROWS} more", "", ""])
        return format_table(["problem", "key", "checkpoint", "model"], rows)


class _Fitter:
    """Which checkpoint tensors the model can take as they are, adapt, or not take."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.own = model.state_dict()
        num_classes = getattr(model, "num_classes", None)
        self.classifier_keys = {
            f"{name}.{p}"
            for name, m in model.named_modules()
            if isinstance(m, nn.Linear) and m.out_features == num_classes
            for p in ("weight", "bias")
        }
        classifier = getattr(model, "get_classifier", lambda: None)()
        self.classifier_prefix = next(
            (f"{n}." for n, m in model.named_modules() if m is classifier and n), None
        )
        # where a checkpoint's classifier goes when the model has none (num_classes=0)
        self.classifier_prefixes = tuple(
            [self.classifier_prefix] * (self.classifier_prefix is not None)
            + [f"{n}.head.fc." for n, m in model.named_modules() if isinstance(m, AuxClassifier)]
        )
        self.aux = aux_prefixes(model)
        self.own_aux = tuple(p for p in self.aux if any(k.startswith(p) for k in self.own))
        in_chans = getattr(model, "in_chans", 3)
        self.first_conv = next(
            (k for k, v in self.own.items() if v.dim() == 4 and v.shape[1] == in_chans), None
        )

    def adaptation(self, key: str, theirs: tuple[int, ...], ours: tuple[int, ...]) -> str | None:
        """'classifier' or 'input' when a shape difference is one we adapt, else None."""
        if len(theirs) != len(ours) or theirs == ours:
            return None
        if key in self.classifier_keys and theirs[1:] == ours[1:]:
            return "classifier"
        if key == self.first_conv and theirs[0] == ours[0] and theirs[2:] == ours[2:]:
            return "input"
        return None

    def adaptable(self, key: str, theirs: tuple[int, ...], ours: tuple[int, ...]) -> bool:
        return self.adaptation(key, theirs, ours) is not None


def adapt_input_conv(weight: Tensor, in_chans: int) -> Tensor:
    """First-conv weights for ``in_chans`` channels from weights made for ``weight.shape[1]``.

    One channel: the filters summed over the input channels, so a grayscale image gives what the
    same image replicated to RGB gave. Otherwise: the channels repeated cyclically and scaled by
    ``old / new`` channels, which keeps the expected activation for inputs of similar statistics.
    """
    old = weight.shape[1]
    if in_chans == 1:
        return weight.sum(dim=1, keepdim=True)
    reps = math.ceil(in_chans / old)
    return weight.repeat(1, reps, 1, 1)[:, :in_chans] * (old / in_chans)


def detect_layout(model: nn.Module, state_dict: Mapping[str, Tensor]) -> str:
    """The layout whose renaming covers most of the model's keys (ours wins a tie)."""
    own = set(model.state_dict())
    best, best_hits = "classicnets", len(own & set(state_dict))
    for layout, convert in layouts_for(model).items():
        try:
            hits = len(own & set(convert(dict(state_dict))))
        except ValueError:  # a family converter that recognises its layout and this is not it
            continue
        if hits > best_hits:
            best, best_hits = layout, hits
    return best


def is_weights_path(source: str | os.PathLike[str]) -> bool:
    if isinstance(source, os.PathLike):
        return True
    return (
        os.sep in source
        or "/" in source
        or source.lower().endswith(_PATH_SUFFIXES)
        or Path(source).exists()
    )


def _read_source(
    source: Mapping[str, Tensor] | str | os.PathLike[str], progress: bool
) -> tuple[dict[str, Tensor], WeightsMetadata, str, WeightSpec | None]:
    """Tensors, our metadata, a description for messages, and the registry entry if any."""
    if isinstance(source, Mapping):
        state = unwrap_state_dict(source, origin="the state dict")
        return state, WeightsMetadata(), "a state dict", None
    if not isinstance(source, str | os.PathLike):
        raise TypeError(
            "source must be a state dict, a file path or a registered weight name, "
            f"got {type(source).__name__}"
        )
    if is_weights_path(source):
        tensors, meta = read_weights(source)
        return tensors, meta, str(source), None
    if str(source) not in list_weights():
        raise WeightsFileError(
            f"{source!r} is neither an existing file nor a registered weight name "
            "(`classicnets weights` lists those)"
        )
    spec = get_weights(str(source))
    path = fetch(spec.url, spec.filename, spec.sha256, name=spec.name, progress=progress)
    tensors, meta = read_weights(path)
    return tensors, meta, f"{spec.name} ({path})", spec


def _spec_layout(spec: WeightSpec) -> str:
    if spec.layout == "classicnets":
        return "classicnets"
    entries = foreign_archs(ours=spec.arch, library=spec.layout)
    if not entries:
        raise WeightsError(f"{spec.name}: no {spec.layout} architecture maps to {spec.arch}")
    return entries[0].rules


def _check_named_arch(model: nn.Module, arch: str, what: str) -> None:
    name = getattr(model, "model_name", "")
    if arch and name in list_models() and arch != name:
        raise ArchitectureMismatchError(
            f"{what} are for {arch}, but the model is {name}; build create_model({arch!r}) "
            "or pass check_arch=False to load them anyway"
        )


def load_weights(
    model: nn.Module,
    source: Mapping[str, Tensor] | str | os.PathLike[str],
    *,
    layout: str = "auto",
    strict: bool = True,
    check_arch: bool = True,
    adapt: bool = True,
    progress: bool = True,
) -> LoadReport:
    """Load weights into ``model`` from a state dict, a file, or a registered weight name.

    ``layout`` is ``"auto"`` (from the file's metadata or registry entry, else detected from the
    keys), ``"classicnets"``, ``"torchvision"`` or ``"timm"``. ``strict=True`` raises
    :class:`~classicnets.errors.WeightsMismatchError` with a table of the keys that do not fit;
    ``strict=False`` loads those that do and returns the same table in the report.
    ``check_arch=False`` loads a checkpoint made for another registered variant (e.g. v1.5
    weights into the paper's ResNet-50) instead of refusing it. ``adapt=False`` treats a
    different class count or input channel count as a mismatch instead of adapting it.
    """
    if check_arch and isinstance(source, str) and source in list_weights():
        _check_named_arch(model, get_weights(source).arch, f"the weights {source}")  # no download
    state, meta, origin, spec = _read_source(source, progress)
    if layout == "auto":
        if spec is not None:
            layout = _spec_layout(spec)
        elif meta.layout:
            layout = meta.layout
        else:
            layout = detect_layout(model, state)
    converted = convert_from(model, state, layout)
    fitter = _Fitter(model)
    if spec is not None and spec.label_offset:
        converted = _drop_leading_classes(converted, fitter, spec)
    untrained_head: list[str] = []
    if spec is not None and spec.features_only:
        converted, untrained_head = _without_head(model, converted, spec)
    if check_arch:
        if meta.architecture:
            _check_named_arch(model, meta.architecture, f"the weights in {origin}")
        elif layout != "classicnets" and spec is None:
            check_architecture(model, converted, layout, fitter.adaptable)
    report = LoadReport(
        source=origin,
        layout=layout,
        model=getattr(model, "model_name", type(model).__name__),
        info=meta,
    )
    _fit(model, fitter, converted, report, strict=strict, adapt=adapt, keep=untrained_head)
    return report


def _without_head(
    model: nn.Module, state: dict[str, Tensor], spec: WeightSpec
) -> tuple[dict[str, Tensor], list[str]]:
    """A features-only file: its head's keys left out, and the model's head keys, which keep
    their initialisation (with a warning)."""
    prefix = "head." if isinstance(getattr(model, "head", None), nn.Module) else None
    if prefix is None:
        raise WeightsError(
            f"{spec.name} holds trained features only, and "
            f"{getattr(model, 'model_name', type(model).__name__)} has no 'head' module to "
            "leave untrained"
        )
    own = [k for k in model.state_dict() if k.startswith(prefix)]
    if own:
        warnings.warn(
            f"{spec.name} holds trained features only (its classifier is not trained): the "
            f"model's head ({len(own)} tensors under '{prefix}') keeps its initialisation; "
            "train it before use, or use the model as a feature extractor (features_only=True)",
            WeightsAdaptedWarning,
            stacklevel=3,
        )
    return {k: v for k, v in state.items() if not k.startswith(prefix)}, own


def _drop_leading_classes(
    state: dict[str, Tensor], fitter: _Fitter, spec: WeightSpec
) -> dict[str, Tensor]:
    """The checkpoint without the first ``spec.label_offset`` rows of its classifier."""
    prefix = fitter.classifier_prefix or "head.fc."
    out = dict(state)
    for key in (f"{prefix}weight", f"{prefix}bias"):
        value = out.get(key)
        if value is not None and value.shape[0] == spec.num_classes + spec.label_offset:
            out[key] = value[spec.label_offset :]
    return out


def _fit(
    model: nn.Module,
    fitter: _Fitter,
    state: dict[str, Tensor],
    report: LoadReport,
    *,
    strict: bool,
    adapt: bool,
    keep: list[str] | tuple[str, ...] = (),
) -> None:
    """``keep``: the model's keys that the checkpoint deliberately does not fill (not missing)."""
    own = fitter.own
    take: dict[str, Tensor] = {}
    dropped_classifier: list[str] = []
    for key, value in state.items():
        theirs = tuple(value.shape)
        if key not in own:
            if fitter.classifier_prefixes and key.startswith(fitter.classifier_prefixes):
                dropped_classifier.append(key)  # the model has no classifier (num_classes=0)
            elif key.startswith(fitter.aux) and not key.startswith(fitter.own_aux):
                head = next(p for p in fitter.aux if key.startswith(p)).rstrip(".")
                if head not in report.aux_dropped:  # built without this auxiliary head
                    report.aux_dropped.append(head)
            else:
                report.unexpected.append((key, theirs))
            continue
        ours = tuple(own[key].shape)
        kind = fitter.adaptation(key, theirs, ours) if adapt else None
        if theirs == ours:
            take[key] = value
        elif kind == "classifier":
            report.reinitialised.append(key)
        elif kind == "input":
            take[key] = adapt_input_conv(value.to(own[key].dtype), ours[1])
            report.adapted.append(key)
        else:
            report.mismatched.append((key, theirs, ours))
    absent_heads = tuple(
        p for p in fitter.own_aux if not any(k.startswith(p) for k in state if k in own)
    )
    report.aux_initialised = [p.rstrip(".") for p in absent_heads]
    report.missing = [
        (k, tuple(v.shape))
        for k, v in own.items()
        if k not in state
        and k not in keep
        and not k.endswith("num_batches_tracked")  # torch fills those in
        and not (absent_heads and k.startswith(absent_heads))
    ]
    if strict and not report.ok:
        raise _mismatch_error(model, fitter, state, report)
    with torch.no_grad():
        model.load_state_dict(take, strict=False)
    report.loaded = len(take)
    _announce(model, report, state, dropped_classifier)


def _announce(
    model: nn.Module, report: LoadReport, state: dict[str, Tensor], dropped: list[str]
) -> None:
    if report.reinitialised:
        modules = sorted({k.rsplit(".", 1)[0] for k in report.reinitialised})
        for name in modules:
            init_weights(model.get_submodule(name))
        key = report.reinitialised[0]
        warnings.warn(
            f"{report.model}: the checkpoint's classifier ({', '.join(modules)}) has "
            f"{state[key].shape[0]} classes and the model {getattr(model, 'num_classes', '?')}; "
            "the classifier was re-initialised (train it before use), every other layer loaded",
            WeightsAdaptedWarning,
            stacklevel=4,
        )
    if dropped:
        warnings.warn(
            f"{report.model} has no classifier (num_classes=0): the checkpoint's "
            f"{', '.join(dropped)} were not used",
            WeightsAdaptedWarning,
            stacklevel=4,
        )
    if report.aux_initialised:
        heads = ", ".join(report.aux_initialised)
        warnings.warn(
            f"{report.model}: the checkpoint has no weights for the auxiliary classifier(s) "
            f"{heads}; they keep their initialisation (forward never runs them; train them "
            "before using forward_with_aux, or build the model with aux_logits=False)",
            WeightsAdaptedWarning,
            stacklevel=4,
        )
    if report.adapted:
        key = report.adapted[0]
        warnings.warn(
            f"{report.model}: {key} was made for {state[key].shape[1]} input channels and the "
            f"model takes {getattr(model, 'in_chans', '?')}; its filters were "
            + (
                "summed over the channels"
                if model.state_dict()[key].shape[1] == 1
                else "repeated over the channels and rescaled"
            ),
            WeightsAdaptedWarning,
            stacklevel=4,
        )


def _mismatch_error(
    model: nn.Module, fitter: _Fitter, state: dict[str, Tensor], report: LoadReport
) -> WeightsError:
    from ..errors import WeightsMismatchError
    from .interchange import implied_archs

    lines = [f"the checkpoint does not fit the model: {report.summary()}", report.table()]
    if report.layout != "classicnets":
        matches = implied_archs(model, state, report.layout, fitter.adaptable)
        if matches:
            names = sorted({e.ours for e in matches})
            lines.append(
                f"Its structure is that of {' / '.join(sorted(e.describe() for e in matches))}: "
                f"build create_model({names[0]!r})."
            )
    elif not report.loaded and set(state).isdisjoint(fitter.own):
        known = ", ".join(["classicnets", *layouts_for(model)])
        lines.append(f"No key matches: the checkpoint is in none of the layouts known ({known}).")
    lines.append("Pass strict=False to load the tensors that fit and get this table back.")
    return WeightsMismatchError("\n".join(lines))


def resolve_pretrained(arch: str, pretrained: bool | str | os.PathLike[str]) -> str:
    """The weight name or path that ``create_model(arch, pretrained=...)`` asks for."""
    if pretrained is True:
        spec = default_weights(arch)
        if spec is None:
            raise UnknownWeightsError(no_weights_message(arch))
        return spec.name
    if isinstance(pretrained, os.PathLike | str) and is_weights_path(pretrained):
        return os.fspath(pretrained)
    if not isinstance(pretrained, str):
        raise TypeError(f"pretrained must be True, a tag or a path, got {pretrained!r}")
    name = pretrained if "." in pretrained else f"{arch}.{pretrained}"
    spec = get_weights(name) if name in list_weights() else None
    if spec is None:
        tags = ", ".join(s.tag for s in weights_for(arch)) or "none"
        raise UnknownWeightsError(
            f"no weights {name!r}; tags registered for {arch}: {tags}. "
            "A local file works too: pretrained='path/to/file.safetensors'"
        )
    if spec.arch != arch:
        raise ArchitectureMismatchError(
            f"the weights {spec.name} are for {spec.arch}, not {arch}; "
            f"build create_model({spec.arch!r}, pretrained={spec.tag!r})"
        )
    return spec.name


def no_weights_message(arch: str) -> str:
    msg = f"no pretrained weights are registered for {arch}."
    others = [e for e in foreign_archs() if e.name == arch and e.ours != arch]
    for e in others[:1]:
        names = ", ".join(s.name for s in weights_for(e.ours))
        if names:
            msg += (
                f" {e.library}'s {e.name} is our {e.ours} ({e.note}); its weights: {names}. "
                f"Use create_model({e.ours!r}, pretrained=True)."
            )
    return msg + " A local file works too: pretrained='path/to/file.safetensors'."


def load_pretrained(
    model: nn.Module,
    pretrained: bool | str | os.PathLike[str],
    *,
    progress: bool = True,
    head: Literal["pretrained", "new", "unused"] = "pretrained",
) -> LoadReport:
    """What ``create_model(..., pretrained=...)`` does after building the model.

    ``head`` says what the caller wants of the weights' head: ``"pretrained"`` (their classes;
    refused for features-only weights, whose head is not trained), ``"new"`` (another
    ``num_classes``) or ``"unused"`` (``features_only=True``: no warning about the head).
    """
    arch = getattr(model, "model_name", type(model).__name__)
    source = resolve_pretrained(arch, pretrained)
    spec = get_weights(source) if source in list_weights() else None
    if spec is None or not spec.features_only:
        return load_weights(model, source, progress=progress)
    if head == "pretrained":
        raise WeightsError(
            f"{source} holds trained features only: its classifier is not trained (the "
            "published file has no usable values there), so it cannot classify. Build "
            f"create_model({arch!r}, pretrained={source!r}, features_only=True) for feature "
            "maps, or pass num_classes=N for a new head (initialised, to be trained)"
        )
    with warnings.catch_warnings():
        if head == "unused":
            warnings.filterwarnings("ignore", message=".*holds trained features only")
        return load_weights(model, source, progress=progress)
