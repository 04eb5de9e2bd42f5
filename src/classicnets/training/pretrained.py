"""Starting a training run from pretrained weights (``pretrained = SOURCE``).

SOURCE is a registered weight name (``resnet50_v1_5.tv_in1k``, or a tag such as ``tv_in1k`` of the
run's model), a weights file (our safetensors, a torchvision/timm ``.pth`` read safely), or a
run directory of ours (its ``model.safetensors``, else its ``last.pt``). :func:`inspect_source`
says what the weights are (architecture, options, preprocessing) without building a
model, so that a wrong source is refused before anything is written; :func:`build_model` then
builds the run's model with the classifier sized for the dataset and loads every other layer,
returning what was re-initialised or adapted.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from ..errors import ClassicNetsError
from ..factory import create_model
from ..preprocessing import Preprocessing
from ..weights import get_weights, list_weights, load_weights, read_weights


class PretrainedSourceError(ClassicNetsError, ValueError):
    """A ``pretrained`` source that cannot start this run."""


@dataclass(frozen=True)
class PretrainedSource:
    """What a pretrained source holds, read before the model is built."""

    source: str  # the registered name or the file that is loaded
    architecture: str  # "" when the file does not say (a foreign .pth)
    options: dict[str, Any] = field(default_factory=dict)
    preprocessing: Preprocessing | None = None


def inspect_source(source: str, model: str) -> PretrainedSource:
    """Read what ``source`` is; ``model`` (the configured one) completes a bare tag."""
    name = source if "." in source or not model else f"{model}.{source}"
    if name in list_weights():
        spec = get_weights(name)
        return PretrainedSource(name, spec.arch, preprocessing=spec.preprocessing)
    path = Path(source).expanduser()
    if path.is_dir() and (path / "model.safetensors").is_file():
        path = path / "model.safetensors"
    if not path.exists():
        raise PretrainedSourceError(
            f"pretrained={source!r}: no such file or run directory, and no registered weights "
            "of that name (`classicnets weights` lists them, e.g. resnet50_v1_5.tv_in1k)"
        )
    try:
        _, meta = read_weights(path)
    except ClassicNetsError as e:
        raise PretrainedSourceError(f"pretrained={source!r}: {e}") from None
    return PretrainedSource(
        str(path.resolve()),
        meta.architecture,
        dict(meta.options),
        meta.preprocessing,
    )


def check_agreement(src: PretrainedSource, model: str) -> None:
    """Refuse a run whose model is not the architecture the weights name."""
    if src.architecture and src.architecture != model:
        raise PretrainedSourceError(
            f"the weights {src.source} are for {src.architecture}, but the model is {model}; "
            f"leave --model out (the weights name it) or pass --model {src.architecture}"
        )


@dataclass(frozen=True)
class Adaptation:
    """What loading the weights changed: printed once and written to summary.json."""

    source: str
    loaded: int
    reinitialised: tuple[str, ...]
    adapted: tuple[str, ...]

    def describe(self) -> str:
        parts = [f"loaded {self.loaded} tensors from {self.source}"]
        if self.reinitialised:
            heads = sorted({k.rsplit(".", 1)[0] for k in self.reinitialised})
            parts.append(
                f"classifier re-initialised for the dataset's classes ({', '.join(heads)})"
            )
        if self.adapted:
            parts.append(f"input channels adapted ({', '.join(self.adapted)})")
        return "; ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "loaded": self.loaded,
            "reinitialised": list(self.reinitialised),
            "adapted": list(self.adapted),
            "summary": self.describe(),
        }


def build_model(
    src: PretrainedSource, model: str, *, num_classes: int, in_chans: int, options: dict[str, Any]
) -> tuple[nn.Module, Adaptation]:
    """The run's model with the weights loaded: the classifier is re-initialised when the
    class counts differ and the first convolution adapted to ``in_chans`` (load_weights' rules);
    the weights' own model options apply unless the run sets them."""
    net = create_model(
        model, num_classes=num_classes, in_chans=in_chans, **{**src.options, **options}
    )
    with warnings.catch_warnings():  # the adaptation is reported once, by the caller
        warnings.simplefilter("ignore")
        report = load_weights(net, src.source, progress=False)
    return net, Adaptation(
        report.source, report.loaded, tuple(report.reinitialised), tuple(report.adapted)
    )
