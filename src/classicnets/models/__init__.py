"""Model families. Importing this package registers every model."""

from . import densenet, resnet, vgg

__all__ = ["densenet", "resnet", "vgg"]
