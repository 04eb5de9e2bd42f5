"""Model families. Importing this package registers every model."""

from . import bn_inception, googlenet, inception_v3, inception_v4, resnet

__all__ = ["bn_inception", "googlenet", "inception_v3", "inception_v4", "resnet"]
