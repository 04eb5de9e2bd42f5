"""Weights: loading torchvision/timm/our checkpoints, exporting, the pretrained registry.

* :func:`load_weights` (``load.py``): a state dict, a file or a registered weight name into a
  model, with the key layout detected and remapped, and a table of what does not fit.
* :func:`export_weights`, :func:`save_weights` (``save.py``): torchvision/timm layouts, and our
  safetensors files with metadata.
* ``interchange.py``: which torchvision/timm architectures are which of ours, and how families
  declare their key rules; :func:`remap_keys` (``classicnets.models.keys``), the rule engine.
* ``catalog.py``: the ``arch.tag`` registry with provenance; ``hub.py``: verified downloads into
  the torch hub cache; ``files.py``: our one file layout, its writer and the one reader (safe:
  safetensors, ``weights_only`` pickles); ``metadata.py``: what a file says about its weights;
  ``data_config.py``: the ``pretrained_cfg`` (timm's spelling) every model carries.
"""

from __future__ import annotations

from ..models.keys import remap_keys
from .catalog import (
    Accuracy,
    Preprocessing,
    WeightSpec,
    default_weights,
    get_weights,
    list_weights,
    register_weights,
    unregister_weights,
    weights_for,
)
from .files import read_file, read_weights
from .hub import cache_dir
from .interchange import FOREIGN_ARCHS, ForeignArch, foreign_archs
from .load import LoadReport, WeightsAdaptedWarning, load_pretrained, load_weights
from .metadata import WeightsMetadata
from .save import export_weights, save_weights

__all__ = [
    "FOREIGN_ARCHS",
    "Accuracy",
    "ForeignArch",
    "LoadReport",
    "Preprocessing",
    "WeightSpec",
    "WeightsAdaptedWarning",
    "WeightsMetadata",
    "cache_dir",
    "default_weights",
    "export_weights",
    "foreign_archs",
    "get_weights",
    "list_weights",
    "load_pretrained",
    "load_weights",
    "read_file",
    "read_weights",
    "register_weights",
    "remap_keys",
    "save_weights",
    "unregister_weights",
    "weights_for",
]
