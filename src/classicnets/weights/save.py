"""Writing weights: our safetensors files with metadata, and torchvision/timm layouts."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from torch import Tensor, nn

from ..preprocessing import Preprocessing
from .files import write_weights
from .interchange import export_state_dict
from .metadata import WeightsMetadata

__all__ = ["export_weights", "save_weights"]


def export_weights(model: nn.Module, layout: str = "torchvision") -> dict[str, Tensor]:
    """The model's state dict in ``layout``: ``"classicnets"``, ``"torchvision"`` or ``"timm"``.

    The result loads with ``strict=True`` into the matching torchvision/timm model (e.g.
    ``resnet50_v1_5`` -> ``torchvision.models.resnet50()``), so a model trained here can be used
    there.
    """
    if layout == "classicnets":
        return dict(model.state_dict())
    return export_state_dict(model, layout)[0]


def save_weights(
    model: nn.Module,
    path: str | os.PathLike[str],
    *,
    layout: str = "classicnets",
    preprocessing: Preprocessing | None = None,
    categories: str | None = None,
    classes: Sequence[str] | None = None,
    options: Mapping[str, Any] | None = None,
    source: str = "",
    sha256: str = "",
    config: Mapping[str, Any] | None = None,
) -> Path:
    """Write the model's weights to a safetensors file with metadata (``files.py``'s layout).

    The metadata records the architecture (``model.model_name``), the layout, ``num_classes``,
    ``in_chans``, the ``create_model`` options the weights need beyond the registered defaults,
    the class names (or the name of a category set), the preprocessing, where the weights came
    from (and that source's SHA-256) and, for a run trained here, its configuration.
    ``load_weights`` reads it back and refuses a file made for another architecture.
    """
    from .. import __version__

    metadata = WeightsMetadata(
        architecture=getattr(model, "model_name", type(model).__name__),
        options=dict(options or {}),
        num_classes=getattr(model, "num_classes", None),
        in_chans=getattr(model, "in_chans", None),
        classes=tuple(classes or ()),
        categories=categories or "",
        preprocessing=preprocessing,
        layout=layout,
        foreign_architecture=(
            export_state_dict(model, layout)[1].name if layout != "classicnets" else ""
        ),
        source=source,
        sha256=sha256,
        config=dict(config or {}),
        version=__version__,
    )
    return write_weights(export_weights(model, layout), path, metadata)
