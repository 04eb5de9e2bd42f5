"""torchvision's and timm's key layouts: which of their architectures are which of ours.

A family plugs in with data only:

* in its family file (``models/<family>.py``): a
  :class:`~classicnets.models.keys.CheckpointFormats` handed to
  ``@register_model(checkpoints=...)``, one :class:`~classicnets.models.keys.KeyLayout` per
  layout name (``"torchvision"``, ``"timm"``): ``rules``, tuples of ``(regex, replacement)`` that
  rename *their* keys to ours (applied with :func:`classicnets.models.keys.remap_keys`, first match
  wins), or, when the conversion is more than renaming (recognising a variant, reshaping
  tensors), a ``convert`` function, and then also an ``export`` function;
* here, in :data:`FOREIGN_ARCHS`: one :class:`ForeignArch` per architecture of theirs that one of
  our registered models computes exactly, naming the layout that converts it. The
  mapping is where a compatibility variant is declared (torchvision's ``resnet50`` is our
  ``resnet50_v1_5``), and its ``note`` is what a user is told when they load such a checkpoint
  into the paper's default.

This module reads a family's declarations through ``model_info(name).checkpoints`` only.
Auxiliary classifiers (GoogLeNet, Inception v3): a family whose models have them also declares
``aux_head_prefixes``, our key prefixes of those heads (``("aux1.", "aux2.")``), so that a
checkpoint with auxiliary heads loads into a model built without them and the reverse
(``load.py`` says what it did), and architecture checks compare the networks without them.
``ForeignArch.mirror`` names the options of our model that their constructor takes under the same
name (``aux_logits``), so that export builds their model with or without the heads as ours is.

Export needs no reverse rules: the foreign model is built on the ``meta`` device, its keys are
converted with the forward rules, and the result is inverted, so the two directions cannot
disagree. (This needs torchvision or timm installed to export to their layout.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal

import torch
from torch import Tensor, nn

from ..errors import ArchitectureMismatchError, WeightsError, WeightsMismatchError
from ..layers import AuxClassifier
from ..models.keys import CheckpointFormats, Converter
from ..models.registry import list_models, model_info

__all__ = [
    "FOREIGN_ARCHS",
    "ForeignArch",
    "build_foreign",
    "convert_from",
    "export_state_dict",
    "foreign_archs",
    "layouts_for",
]

Library = Literal["torchvision", "timm"]


@dataclass(frozen=True)
class ForeignArch:
    """One architecture of torchvision or timm that a registered model of ours computes exactly.

    ``layout`` names the family's :class:`~classicnets.models.keys.KeyLayout` that converts its
    checkpoints (``"torchvision"``, ``"timm"``); it
    defaults to ``library`` (timm's ResNets use torchvision's key names, so their layout is
    ``"torchvision"``). ``kwargs`` go to the foreign constructor when export builds its skeleton,
    with ``mirror``: attributes of our model passed under the same name (e.g. ``aux_logits``).
    """

    library: Library
    name: str
    ours: str
    layout: str = ""
    note: str = ""
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    mirror: tuple[str, ...] = ()

    @property
    def rules(self) -> str:
        return self.layout or self.library

    def describe(self) -> str:
        return f"{self.library} {self.name}"


def _table(
    library: Library,
    mapping: Mapping[str, str],
    *,
    layout: str = "",
    note: str = "",
    kwargs: Mapping[str, Any] | None = None,
    mirror: tuple[str, ...] = (),
) -> tuple[ForeignArch, ...]:
    return tuple(
        ForeignArch(library, name, ours, layout, note, dict(kwargs or {}), mirror)
        for name, ours in mapping.items()
    )


# VGG (models/vgg.py) and DenseNet (models/densenet.py): torchvision's and timm's names are ours.
_VGG_NAMES = {n: n for c in ("11", "13", "16", "19") for n in (f"vgg{c}", f"vgg{c}_bn")}
_DENSENET_NAMES = {f"densenet{d}": f"densenet{d}" for d in (121, 161, 169, 201)}
_VGG_TIMM = (
    "its FC layers are convolutions (a 7x7, a 1x1) followed by global average pooling: the same "
    "weights, reshaped, and the same logits for inputs of 32-255 pixels; from 224 up it computes "
    "our dense evaluation (model.as_fully_convolutional()), which differs from the FC form above "
    "255"
)

_V1_5 = (
    "its bottlenecks put the downsampling stride on the 3x3 conv (ResNet v1.5), while the "
    "paper's models stride the first 1x1"
)
_RESNET_SAME = {"resnet18": "resnet18", "resnet34": "resnet34"}
_RESNET_V1_5 = {
    "resnet50": "resnet50_v1_5",
    "resnet101": "resnet101_v1_5",
    "resnet152": "resnet152_v1_5",
}

_GOOGLENET_TV = (
    "it is the TF-slim Inception-v1 layout: batch norm, a 3x3 conv in the '5x5' branch, a 2x2 "
    "pool after 4e (not the paper's LRN network with 5x5 convs)"
)
_V4_TF = (
    "it is the authors' TF-slim release, whose factorised 1xn/nx1 convolutions run in the other "
    "order than the paper's figures"
)
_IRV2_TF = (
    "it is the authors' TF-slim release (another stem, 10/20/10 modules, a final 1x1 conv), not "
    "the paper's Figure 15 network"
)
# ResNeXt: the same names in torchvision and timm (timm's keys are torchvision's); 32x4d-101 is
# timm's only. Every one strides the 3x3, as the ResNeXt paper does: no variant to choose.
_RESNEXT_TV = {n: n for n in ("resnext50_32x4d", "resnext101_32x8d", "resnext101_64x4d")}
_RESNEXT_TIMM = {**_RESNEXT_TV, "resnext101_32x4d": "resnext101_32x4d"}
# SENet: timm's legacy_* models, the authors' Caffe networks as ported by Cadene (Caffe max pool,
# SE-ResNet strides the first 1x1); legacy_seresnet18/34 (timm's own) add a ReLU before SE.
_SENET_LEGACY = {
    "legacy_seresnet50": "seresnet50",
    "legacy_seresnet101": "seresnet101",
    "legacy_seresnet152": "seresnet152",
    "legacy_seresnext50_32x4d": "seresnext50_32x4d",
    "legacy_seresnext101_32x4d": "seresnext101_32x4d",
    "legacy_senet154": "senet154",
}
_SENET_LEGACY_BASIC = {f"legacy_seresnet{d}": f"seresnet{d}_timm_legacy" for d in (18, 34)}
_SE_RELU = "it applies a ReLU to the residual before SE (timm's network, not the paper's)"
# timm's non-legacy seresnet*/seresnext*: torchvision's ResNet keys with SE (senet.py's
# "torchvision" layout); see models/senet.py for how they differ from the released models.
_SENET_TIMM_RESNET = {f"seresnet{d}": f"seresnet{d}_timm" for d in (18, 34, 50, 101, 152)}
_SENET_TIMM_RESNEXT = {n: f"{n}_timm" for n in ("seresnext50_32x4d", "seresnext101_32x4d")}
_SE_TIMM_RESNET = (
    "it is timm's ResNet with SE: a zero-padded stem max pool (the released models use Caffe's "
    "ceil mode), the stride on the 3x3 of downsampling bottlenecks and SE widths rounded to "
    "multiples of 8"
)
_SE_TIMM_RESNEXT = (
    "it is timm's ResNeXt with SE: a zero-padded stem max pool (the released models use Caffe's "
    "ceil mode)"
)

#: Every foreign architecture we load and export, grouped by family (add a family's block here).
FOREIGN_ARCHS: tuple[ForeignArch, ...] = (
    # VGG: timm keeps torchvision's conv keys; vgg.from_timm/to_timm reshape its FC convolutions.
    *_table("torchvision", _VGG_NAMES),
    *_table("timm", _VGG_NAMES, note=_VGG_TIMM),
    # DenseNet: timm's keys are torchvision's (densenet.py also takes the "norm.1" names that
    # torchvision's published files have).
    *_table("torchvision", _DENSENET_NAMES),
    *_table("timm", _DENSENET_NAMES, layout="torchvision"),
    # ResNet (models/resnet.py). Same names in torchvision and timm; timm uses torchvision's keys.
    *_table("torchvision", _RESNET_SAME),
    *_table("torchvision", _RESNET_V1_5, note=_V1_5),
    *_table("timm", _RESNET_SAME, layout="torchvision"),
    *_table("timm", _RESNET_V1_5, layout="torchvision", note=_V1_5),
    # Inception (models/googlenet.py, inception_v3.py, inception_v4.py). Auxiliary heads follow
    # ours on export (mirror); init_weights=False spares torchvision's slow, warned-about init.
    # timm's inception_v3 uses torchvision's key names (its aux head only with aux_logits=True).
    *_table(
        "torchvision",
        {"googlenet": "googlenet_torchvision"},
        note=_GOOGLENET_TV,
        kwargs={"init_weights": False},
        mirror=("aux_logits",),
    ),
    *_table(
        "torchvision",
        {"inception_v3": "inception_v3"},
        kwargs={"init_weights": False},
        mirror=("aux_logits",),
    ),
    *_table("timm", {"inception_v3": "inception_v3"}, layout="torchvision", mirror=("aux_logits",)),
    *_table("timm", {"inception_v4": "inception_v4_tf"}, note=_V4_TF),
    *_table("timm", {"inception_resnet_v2": "inception_resnet_v2_tf"}, note=_IRV2_TF),
    # ResNeXt (models/resnext.py): ResNet's torchvision key rules, in torchvision and timm.
    *_table("torchvision", _RESNEXT_TV),
    *_table("timm", _RESNEXT_TIMM, layout="torchvision"),
    # SENet (models/senet.py): timm's legacy layout (layer0, se_module, last_linear), and its
    # non-legacy models in torchvision's ResNet keys (conv1, layerN.M.se, fc).
    *_table("timm", _SENET_LEGACY),
    *_table("timm", _SENET_LEGACY_BASIC, note=_SE_RELU),
    *_table("timm", _SENET_TIMM_RESNET, layout="torchvision", note=_SE_TIMM_RESNET),
    *_table("timm", _SENET_TIMM_RESNEXT, layout="torchvision", note=_SE_TIMM_RESNEXT),
)


def foreign_archs(*, ours: str | None = None, library: str | None = None) -> list[ForeignArch]:
    """Entries of :data:`FOREIGN_ARCHS`, filtered by our name and/or their library."""
    return [
        e
        for e in FOREIGN_ARCHS
        if (ours is None or e.ours == ours) and (library is None or e.library == library)
    ]


# -- what the model's family declares ------------------------------------------------------------


def checkpoint_formats(model: nn.Module) -> CheckpointFormats:
    """The key layouts registered with the model: by its registered name, else those of the
    family file that defines its class (a model built from its class, not by name)."""
    name = getattr(model, "model_name", "")
    if name in list_models():
        return model_info(name).checkpoints
    family = type(model).__module__.rsplit(".", 1)[-1]
    for other in list_models():
        if model_info(other).checkpoints.family == family:
            return model_info(other).checkpoints
    return CheckpointFormats(family)


def aux_prefixes(model: nn.Module) -> tuple[str, ...]:
    """Our key prefixes of auxiliary classifiers: the family's, and the model's own heads."""
    declared = checkpoint_formats(model).aux_head_prefixes
    own = (f"{n}." for n, m in model.named_modules() if isinstance(m, AuxClassifier) and n)
    return tuple(dict.fromkeys((*declared, *own)))


def without_aux(keys: Iterable[str], prefixes: tuple[str, ...]) -> set[str]:
    return {k for k in keys if not k.startswith(prefixes)} if prefixes else set(keys)


def layouts_for(model: nn.Module) -> dict[str, Converter]:
    """The foreign layouts the model's family can convert from, by name."""
    out: dict[str, Converter] = {}
    for layout, declared in checkpoint_formats(model).layouts.items():
        fn = declared.importer()
        if fn is not None:
            out[layout] = fn
    return out


def convert_from(model: nn.Module, state_dict: dict[str, Tensor], layout: str) -> dict[str, Tensor]:
    """Rename a checkpoint in ``layout`` ('classicnets', 'torchvision', 'timm') to our keys."""
    if layout == "classicnets":
        return dict(state_dict)
    fn = layouts_for(model).get(layout)
    if fn is None:
        family = checkpoint_formats(model).family
        raise WeightsError(
            f"the {family} family declares no {layout} key rules "
            f"(its CheckpointFormats in models/{family}.py), so {layout} checkpoints "
            f"cannot be converted for {getattr(model, 'model_name', type(model).__name__)}"
        )
    try:
        return fn(dict(state_dict))
    except ValueError as e:  # a family converter that recognises its layout: this is not it
        raise WeightsMismatchError(f"the checkpoint is not in the {layout} layout: {e}") from e


# -- identifying the architecture a checkpoint was made for ---------------------------------------


@cache
def skeleton_shapes(name: str) -> dict[str, tuple[int, ...]]:
    """Key -> shape of a registered model with its default classes, built on the meta device."""
    with torch.device("meta"):
        model = model_info(name).build()
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def same_family_models(model: nn.Module) -> list[str]:
    """Registered models whose key layouts the same family file declares."""
    family = checkpoint_formats(model).family
    return [n for n in list_models() if model_info(n).checkpoints.family == family]


def implied_archs(
    model: nn.Module, state_dict: Mapping[str, Tensor], layout: str, adaptable: Callable[..., bool]
) -> list[ForeignArch]:
    """Foreign entries of the model's family, in ``layout``, whose structure the checkpoint has.

    ``state_dict`` is already converted to our keys; shapes the loader can adapt (classifier,
    input channels) are not compared, nor auxiliary classifiers (present in one, not the other).
    """
    names = set(same_family_models(model))
    aux = aux_prefixes(model)
    keys = without_aux(state_dict, aux)
    found = []
    for entry in FOREIGN_ARCHS:
        if entry.rules != layout or entry.ours not in names:
            continue
        shapes = skeleton_shapes(entry.ours)
        if without_aux(shapes, aux) != keys:
            continue
        if all(
            shapes[k] == tuple(state_dict[k].shape)
            or adaptable(k, tuple(state_dict[k].shape), shapes[k])
            for k in keys
        ):
            found.append(entry)
    return found


def check_architecture(
    model: nn.Module, state_dict: Mapping[str, Tensor], layout: str, adaptable: Callable[..., bool]
) -> list[ForeignArch]:
    """Raise when a foreign checkpoint fits the model but was made for another registered variant.

    Same keys and shapes, different computation: torchvision's resnet50 (v1.5) weights load into
    our paper ``resnet50`` without a single mismatch, so this is the only place it is caught.
    Returns the foreign architectures the checkpoint may come from (for messages). A model that
    was not built by name (no registered ``model_name``) is not checked.
    """
    name = getattr(model, "model_name", "")
    matches = implied_archs(model, state_dict, layout, adaptable)
    if not matches or name in {e.ours for e in matches} or name not in list_models():
        return matches
    own = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    aux = aux_prefixes(model)
    keys = without_aux(state_dict, aux)
    fits = without_aux(own, aux) == keys and all(
        own[k] == tuple(state_dict[k].shape) or adaptable(k, tuple(state_dict[k].shape), own[k])
        for k in keys
    )
    if not fits:  # a plain mismatch: the loader's table says what differs and names the variant
        return matches
    variants = sorted({e.ours for e in matches})
    theirs = " / ".join(sorted({e.describe() for e in matches}))
    notes = {e.note for e in matches if e.note}
    why = f" ({'; '.join(sorted(notes))})" if notes else ""
    raise ArchitectureMismatchError(
        f"this checkpoint has the layout of {theirs}, which is our {' or '.join(variants)}{why}; "
        f"the model is {name}, which computes something else with the same weights. Build "
        f"create_model({variants[0]!r}) to get the checkpoint's network, or pass "
        "check_arch=False to load the weights into this one anyway (e.g. to fine-tune)."
    )


# -- export --------------------------------------------------------------------------------------


def build_foreign(entry: ForeignArch, model: nn.Module, *, device: str = "meta") -> nn.Module:
    """Their model for ``entry``, shaped like ours (classes, mirrored options); on ``device``
    (``meta``: a skeleton for its keys and shapes, no memory)."""
    kwargs = {**entry.kwargs, **{a: getattr(model, a) for a in entry.mirror if hasattr(model, a)}}
    num_classes = getattr(model, "num_classes", 1000)
    with torch.device(device):
        if entry.library == "torchvision":
            import torchvision

            return torchvision.models.get_model(
                entry.name, weights=None, num_classes=num_classes, **kwargs
            )
        try:
            import timm
        except ImportError:
            raise WeightsError("exporting to timm's layout needs timm (pip install timm)") from None
        return timm.create_model(entry.name, pretrained=False, num_classes=num_classes, **kwargs)


def export_state_dict(model: nn.Module, library: str) -> tuple[dict[str, Tensor], ForeignArch]:
    """The model's weights under torchvision's or timm's key names, ready for their model."""
    name = getattr(model, "model_name", type(model).__name__)
    entries = foreign_archs(ours=name, library=library)
    if not entries:
        others = [e for e in foreign_archs(library=library) if e.name == name]
        hint = ""
        if others:
            e = others[0]
            hint = f" {library}'s {e.name} is our {e.ours}" + (f": {e.note}" if e.note else "")
        elif library in ("torchvision", "timm"):
            ours = sorted({e.ours for e in foreign_archs(library=library)})
            hint = f" Models with a {library} equivalent: {', '.join(ours) or 'none yet'}."
        raise WeightsError(
            f"{name} has no {library} equivalent registered in "
            f"classicnets.weights.FOREIGN_ARCHS, so it cannot be exported to {library}'s layout."
            + hint
        )
    entry = entries[0]
    own = model.state_dict()
    declared = checkpoint_formats(model).layouts.get(entry.rules)
    to_fn = declared.export if declared is not None else None
    if to_fn is not None:
        return to_fn(dict(own)), entry
    foreign = build_foreign(entry, model)
    skeleton = foreign.state_dict()
    by_id = {id(v): k for k, v in skeleton.items()}
    converted = convert_from(model, skeleton, entry.rules)
    ours_to_theirs = {k: by_id[id(v)] for k, v in converted.items() if id(v) in by_id}
    if len(ours_to_theirs) != len(converted):
        raise WeightsError(
            f"the {entry.rules} conversion of {name} changes tensors, not only names; its family "
            f"must declare an export converter (KeyLayout.export) for {entry.rules}"
        )
    missing = sorted(set(own) - set(ours_to_theirs))
    unmapped = sorted(set(ours_to_theirs) - set(own))
    if missing or unmapped:
        raise WeightsError(
            f"exporting {name} to {entry.describe()}: the key rules leave "
            f"{len(missing)} of our keys without a {library} name (e.g. {missing[:3]}) and "
            f"{len(unmapped)} of theirs without a source (e.g. {unmapped[:3]})"
        )
    return {ours_to_theirs[k]: v for k, v in own.items()}, entry
