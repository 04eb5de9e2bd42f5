"""Building blocks used by two or more families, each defined once."""

from .branches import ConcatBranches
from .conv import ConvNormAct
from .head import ClassifierHead
from .init import init_weights
from .se import SEConfig, SqueezeExcite

__all__ = [
    "ClassifierHead",
    "ConcatBranches",
    "ConvNormAct",
    "SEConfig",
    "SqueezeExcite",
    "init_weights",
]
