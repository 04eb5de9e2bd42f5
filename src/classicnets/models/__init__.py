"""Model families. Importing this package registers every model."""

from . import inception_v4, resnet

__all__ = ["inception_v4", "resnet"]
