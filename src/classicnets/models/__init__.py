"""Model families. Importing this package registers every model."""

from . import googlenet, resnet

__all__ = ["googlenet", "resnet"]
