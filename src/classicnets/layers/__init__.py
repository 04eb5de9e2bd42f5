"""Building blocks used by two or more families, each defined once."""

from .auxiliary import AuxClassifier, AuxPool, run_with_aux
from .branches import ConcatBranches
from .conv import ConvNormAct
from .drop_path import DropPath, set_drop_path
from .head import ClassifierHead
from .init import init_weights
from .lrn import LocalResponseNorm
from .normalize import IMAGENET, SYMMETRIC, Normalization, Renormalize
from .se import SEConfig, SqueezeExcite

__all__ = [
    "IMAGENET",
    "SYMMETRIC",
    "AuxClassifier",
    "AuxPool",
    "ClassifierHead",
    "ConcatBranches",
    "ConvNormAct",
    "DropPath",
    "LocalResponseNorm",
    "Normalization",
    "Renormalize",
    "SEConfig",
    "SqueezeExcite",
    "init_weights",
    "run_with_aux",
    "set_drop_path",
]
