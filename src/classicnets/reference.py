"""The same architecture from torchvision or timm, with the same weights as ours.

Generic over the registry: a model's reference is the reference library's model of the same
name (or the name in ``REFERENCE_NAMES`` where the libraries call it differently), and its
weights reach ours through the family's own key rules (``from_torchvision`` / ``from_timm`` in
the family's module; timm falls back to ``from_torchvision``, whose layout timm shares for most
of these families). Every pairing is checked: after the weights are copied, both models must
give the same logits, or the pairing is refused with the reason (so a reference of the same
name but a different architecture can never be benchmarked against ours by mistake).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable

import torch
from torch import nn

from .errors import ClassicNetsError
from .registry import create_model, model_info

__all__ = ["LIBRARIES", "REFERENCE_NAMES", "NoReferenceError", "paired_models", "reference_name"]

LIBRARIES = ("torchvision", "timm")

#: Our name -> the reference library's name, where they differ.
REFERENCE_NAMES: dict[str, dict[str, str]] = {
    "torchvision": {
        "resnet50_v1_5": "resnet50",
        "resnet101_v1_5": "resnet101",
        "resnet152_v1_5": "resnet152",
    },
    "timm": {
        "resnet50_v1_5": "resnet50",
        "resnet101_v1_5": "resnet101",
        "resnet152_v1_5": "resnet152",
    },
}

#: Our models whose namesake in the reference libraries is a different network.
DIFFERENT_NAMESAKE: dict[str, str] = {
    "resnet50": "torchvision/timm resnet50 put the stride on the 3x3 (v1.5); compare resnet50_v1_5",
    "resnet101": "torchvision/timm resnet101 put the stride on the 3x3 (v1.5); compare "
    "resnet101_v1_5",
    "resnet152": "torchvision/timm resnet152 put the stride on the 3x3 (v1.5); compare "
    "resnet152_v1_5",
}


class NoReferenceError(ClassicNetsError):
    """The reference library has no model with our architecture (the reason says why)."""


def reference_name(name: str, library: str) -> str:
    """The reference library's name for our model ``name``."""
    if library not in LIBRARIES:
        raise ValueError(f"unknown reference library {library!r}; use one of {LIBRARIES}")
    if name in DIFFERENT_NAMESAKE and name not in REFERENCE_NAMES[library]:
        raise NoReferenceError(f"{name}: {DIFFERENT_NAMESAKE[name]}")
    return REFERENCE_NAMES[library].get(name, name)


def _build_reference(ref_name: str, library: str, num_classes: int) -> nn.Module:
    if library == "torchvision":
        import torchvision

        if ref_name not in torchvision.models.list_models():
            raise NoReferenceError(f"torchvision has no model named {ref_name!r}")
        kwargs: dict[str, object] = {"weights": None, "num_classes": num_classes}
        if ref_name in ("googlenet", "inception_v3"):
            kwargs["init_weights"] = True  # silences the torchvision warning; eval has no aux
        return torchvision.models.get_model(ref_name, **kwargs)
    try:
        import timm
    except ImportError:
        raise NoReferenceError("timm is not installed (pip install timm)") from None
    if not timm.is_model(ref_name):
        raise NoReferenceError(f"timm has no model named {ref_name!r}")
    return timm.create_model(ref_name, pretrained=False, num_classes=num_classes)


def _key_rules(name: str, library: str) -> Callable[[dict[str, torch.Tensor]], dict]:
    module = sys.modules.get(model_info(name).model_class.__module__)
    if module is None:  # pragma: no cover - the registry imported it
        module = importlib.import_module(model_info(name).model_class.__module__)
    for attr in (f"from_{library}", "from_torchvision"):
        fn = getattr(module, attr, None)
        if callable(fn):
            return fn
    raise NoReferenceError(
        f"{name}: its family module {module.__name__} defines no from_{library}/from_torchvision "
        "key rules"
    )


@torch.no_grad()
def paired_models(
    name: str, library: str, *, check_size: int | None = None, **options: object
) -> tuple[nn.Module, nn.Module]:
    """``(ours, reference)``: the same architecture with the same (random) weights, eval mode.

    Raises :class:`NoReferenceError` with the reason when the library has no such model, the
    keys do not map, or the logits differ after the copy.
    """
    info = model_info(name)
    ref_name = reference_name(name, library)
    reference = _build_reference(ref_name, library, info.num_classes).eval()
    ours = create_model(name, **options).eval()
    try:
        state = _key_rules(name, library)(reference.state_dict())
        ours.load_state_dict(state, strict=True)
    except RuntimeError as e:
        first = str(e).splitlines()[:3]
        raise NoReferenceError(
            f"{name}: {library} {ref_name}'s weights do not load into ours: {' '.join(first)}"
        ) from None
    size = check_size or max(getattr(ours, "min_input_size", 32), 64)
    x = torch.randn(2, 3, size, size)
    a, b = ours(x), reference(x)
    if a.shape != b.shape or not torch.allclose(a, b, rtol=1e-4, atol=1e-4 * float(b.abs().max())):
        raise NoReferenceError(
            f"{name}: {library} {ref_name} loads our weights but gives different logits "
            "(a different architecture)"
        )
    return ours, reference
