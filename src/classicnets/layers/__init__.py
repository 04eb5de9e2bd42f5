"""Building blocks used by two or more families, each defined once."""

from .conv import ConvNormAct
from .head import ClassifierHead
from .init import init_weights

__all__ = ["ClassifierHead", "ConvNormAct", "init_weights"]
