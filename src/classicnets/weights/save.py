"""Writing weights: our safetensors files with metadata, and torchvision/timm layouts."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from torch import Tensor, nn

from .catalog import Preprocessing
from .files import write_safetensors
from .interchange import export_state_dict

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
) -> Path:
    """Write the model's weights to a safetensors file with metadata.

    The metadata records the architecture (``model.model_name``), the layout, ``num_classes``,
    ``in_chans``, the ``create_model`` options the weights need beyond the registered defaults,
    the class names (or the name of a category set), the preprocessing and where the weights
    came from. ``load_weights`` reads it back and refuses a file made for another architecture.
    """
    from .. import __version__

    arch = getattr(model, "model_name", type(model).__name__)
    metadata: dict[str, Any] = {
        "architecture": arch,
        "layout": layout,
        "num_classes": getattr(model, "num_classes", None),
        "in_chans": getattr(model, "in_chans", None),
        "options": dict(options or {}),
        "version": __version__,
    }
    if layout != "classicnets":
        metadata["foreign_architecture"] = export_state_dict(model, layout)[1].name
    if preprocessing is not None:
        metadata["preprocessing"] = preprocessing.as_dict()
    if categories:
        metadata["categories"] = categories
    if classes is not None:
        metadata["classes"] = list(classes)
    if source:
        metadata["source"] = source
    return write_safetensors(export_weights(model, layout), path, metadata)
