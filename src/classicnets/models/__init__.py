"""Model families. Importing this package registers every model."""

from . import (
    bn_inception,
    densenet,
    googlenet,
    inception_v3,
    inception_v4,
    plain,
    resnet,
    resnext,
    senet,
    vgg,
)

__all__ = [
    "bn_inception",
    "densenet",
    "googlenet",
    "inception_v3",
    "inception_v4",
    "plain",
    "resnet",
    "resnext",
    "senet",
    "vgg",
]
