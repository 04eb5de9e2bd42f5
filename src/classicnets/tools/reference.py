"""The same architecture from torchvision or timm, with the same weights as ours.

Which of their models computes which of ours is declared once, in
:data:`classicnets.weights.FOREIGN_ARCHS` (the table that checkpoint loading and export use), and
the weights go across with the same key rules. Every pairing is checked: after the weights are
copied, both models must give the same logits, or the pairing is refused with the reason (so a
reference of the same name but a different architecture can never be benchmarked against ours by
mistake).
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import ClassicNetsError
from ..factory import create_model
from ..weights.interchange import ForeignArch, build_foreign, convert_from, foreign_archs

__all__ = [
    "LIBRARIES",
    "TORCHVISION_QUANTIZED",
    "NoReferenceError",
    "comparable_model",
    "paired_models",
    "quantized_reference",
    "reference_name",
]

LIBRARIES = ("torchvision", "timm")


class NoReferenceError(ClassicNetsError):
    """The reference library has no model with our architecture (the reason says why)."""


def _entry(name: str, library: str) -> ForeignArch:
    if library not in LIBRARIES:
        raise ValueError(f"unknown reference library {library!r}; use one of {LIBRARIES}")
    entries = foreign_archs(ours=name, library=library)
    if entries:
        return entries[0]
    namesake = [e for e in foreign_archs(library=library) if e.name == name]
    if namesake:
        e = namesake[0]
        why = f"{library}'s {name} is a different network: our {e.ours}"
        raise NoReferenceError(f"{name}: {why}" + (f" ({e.note})" if e.note else ""))
    raise NoReferenceError(
        f"{library} has no counterpart of our {name!r} (none in classicnets.weights.FOREIGN_ARCHS)"
    )


def reference_name(name: str, library: str) -> str:
    """The reference library's name for our model ``name`` (raises if it has none)."""
    return _entry(name, library).name


def comparable_model(name: str, library: str | None = None) -> str:
    """The registered model to compare with the reference libraries' ``name``: ``name`` itself
    when a library has our architecture under a name, else the compatibility variant that
    computes their ``name`` (``resnet50`` -> ``resnet50_v1_5``, ``googlenet`` ->
    ``googlenet_torchvision``), else ``name``."""
    libraries = (library,) if library else LIBRARIES
    if any(foreign_archs(ours=name, library=lib) for lib in libraries):
        return name
    for lib in libraries:
        for e in foreign_archs(library=lib):
            if e.name == name:
                return e.ours
    return name


@torch.no_grad()
def paired_models(
    name: str, library: str, *, check_size: int | None = None, **options: object
) -> tuple[nn.Module, nn.Module]:
    """``(ours, reference)``: the same architecture with the same (random) weights, eval mode.

    Raises :class:`NoReferenceError` with the reason when the library has no such model, the
    keys do not map, or the logits differ after the copy.
    """
    entry = _entry(name, library)
    ours = create_model(name, **options).eval()
    try:
        reference = build_foreign(entry, ours, device="cpu").eval()
    except (ImportError, ClassicNetsError) as e:
        raise NoReferenceError(f"{library} is not available: {e}") from None
    try:
        state = convert_from(ours, reference.state_dict(), entry.rules)
        ours.load_state_dict(state, strict=True)
    except (RuntimeError, ClassicNetsError) as e:
        first = str(e).splitlines()[:3]
        raise NoReferenceError(
            f"{name}: {library} {entry.name}'s weights do not load into ours: {' '.join(first)}"
        ) from None
    size = check_size or max(int(getattr(ours, "min_input_size", 32)), 64)
    x = torch.randn(2, 3, size, size)
    a, b = ours(x), reference(x)
    if a.shape != b.shape or not torch.allclose(a, b, rtol=1e-4, atol=1e-4 * float(b.abs().max())):
        raise NoReferenceError(
            f"{name}: {library} {entry.name} loads our weights but gives different logits "
            "(a different architecture)"
        )
    return ours, reference


#: torchvision's quantizable models (``torchvision.models.quantization``), by our model name.
TORCHVISION_QUANTIZED: dict[str, str] = {
    "resnet18": "resnet18",
    "resnet50_v1_5": "resnet50",
    "resnext101_32x8d": "resnext101_32x8d",
    "googlenet_torchvision": "googlenet",
    "inception_v3": "inception_v3",
}
_TV_OPTIONS: dict[str, dict[str, bool]] = {
    "googlenet": {"aux_logits": False, "init_weights": True},
    "inception_v3": {"aux_logits": False, "init_weights": True},
}


def quantized_reference(name: str, calibration: list[torch.Tensor]) -> nn.Module:
    """torchvision's int8 model of our ``name``: its quantizable architecture with random weights,
    put through torchvision's documented eager post-training recipe (fuse, the ``x86`` engine's
    default qconfig, prepare, calibrate on ``calibration``, convert)."""
    if name not in TORCHVISION_QUANTIZED:
        raise NoReferenceError(
            f"torchvision has no quantized {name}; it quantizes "
            f"{', '.join(TORCHVISION_QUANTIZED)} (compare the others with our fp32 deploy)"
        )
    import torchvision
    from torch.ao import quantization as tq

    builder = TORCHVISION_QUANTIZED[name]
    torch.backends.quantized.engine = "x86"
    build = getattr(torchvision.models.quantization, builder)
    model = build(weights=None, quantize=False, **_TV_OPTIONS.get(builder, {})).eval()
    model.fuse_model(is_qat=False)
    model.qconfig = tq.get_default_qconfig("x86")
    tq.prepare(model, inplace=True)
    with torch.no_grad():
        for batch in calibration:
            model(batch)
    return tq.convert(model, inplace=False)
