"""Helpers shared by the test files (import with ``from helpers import ...``)."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import pytest
import torch
from torch import nn

import classicnets

M = TypeVar("M", bound=nn.Module)


def meta_model(name: str, kind: type[M] = nn.Module, /, **options: object) -> M:
    """``create_model(name, **options)`` on the meta device: structure and shapes, no memory.

    ``kind``, if given, is the class the model must be (checked, and the type checkers know it).
    """
    with torch.device("meta"):
        model = classicnets.create_model(name, **options)
    assert isinstance(model, kind), f"{name} built a {type(model).__name__}, not a {kind.__name__}"
    return model


def randomize_bn(model: M, *, seed: int | None = None, conv_bias: bool = False) -> M:
    """Random batch-norm statistics and affine parameters, so none is the identity; returns the
    model, in eval mode (:func:`classicnets.tools.untrained.stand_in_batchnorm` without images).

    Oracle tests call this on the reference model before copying its weights into ours: with
    freshly initialised BNs (mean 0, var 1, scale 1, shift 0) a wrong BN mapping would go
    unnoticed. ``seed`` draws from a private generator instead of the global one;
    ``conv_bias`` also randomizes the convolution biases (the SE blocks' FCs).
    """
    from classicnets.tools.untrained import stand_in_batchnorm

    return stand_in_batchnorm(model, seed=seed, conv_bias=conv_bias)


def tiny_digits_run(
    tmp_path_factory: pytest.TempPathFactory, *, epochs: int = 1, train: int = 32, test: int = 20
) -> Path:
    """A digits run at 8 px on a few images: a real run directory in seconds."""
    from classicnets.cli import main

    d = tmp_path_factory.mktemp("run")
    code = main([
        "train", "--quiet", "--run-dir", str(d), "--epochs", str(epochs), "--batch-size", "16",
        "--threads", "1", "--set", "input_size=8", "--set", f"train_subset={train}",
        "--set", f"test_subset={test}",
    ])  # fmt: skip
    assert code == 0
    return d
