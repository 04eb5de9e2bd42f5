"""Model families. Importing this package registers every model."""

from . import resnet

__all__ = ["resnet"]
