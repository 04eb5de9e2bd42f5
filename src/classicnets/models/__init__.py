"""Model families. Importing this package registers every model."""

from . import resnet, resnext, senet

__all__ = ["resnet", "resnext", "senet"]
