"""The model registry: every architecture is a named builder with its paper figures.

``@register_model`` records a builder under its function name (registering a name twice raises),
``list_models`` lists names by glob, ``model_info`` returns what the papers say about a model and
what its family declares about checkpoints, and :meth:`ModelInfo.build` builds it. A builder only
picks a row of its family's spec table and passes the caller's options to the model's
keyword-only constructor; options are checked against that constructor so a typo gets a clear
message, not a TypeError from deep inside.

This module is the table and the decorator only: it imports no family, weights or features
(``classicnets.factory.create_model`` adds pretrained weights and feature extraction on top).
"""

from __future__ import annotations

import difflib
import fnmatch
import inspect
import re
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from torch import nn

from ..errors import UnknownModelError, UnknownOptionError
from .keys import CheckpointFormats
from .specs import Paper, PaperFigures

__all__ = ["ModelInfo", "list_models", "model_info", "register_model"]


@dataclass(frozen=True)
class ModelInfo:
    """What the registry knows about one model."""

    name: str
    family: str
    paper: Paper
    summary: str
    input_size: int
    num_classes: int
    figures: PaperFigures
    builder: Callable[..., nn.Module]
    checkpoints: CheckpointFormats

    @property
    def model_class(self) -> type[nn.Module]:
        return typing.get_type_hints(self.builder)["return"]

    def options(self) -> dict[str, inspect.Parameter]:
        """The keyword options the model's constructor takes."""
        params = inspect.signature(self.model_class.__init__).parameters
        return {k: p for k, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY}

    def default_options(self) -> dict[str, Any]:
        """Every constructor option with the value this model's builder gives it.

        Found by building the model once on the meta device (no memory, no arithmetic) and
        recording the arguments its class is constructed with.
        """
        import torch

        cls = self.model_class
        signature = inspect.signature(cls.__init__)
        original = cls.__init__
        seen: dict[str, Any] = {}

        def spy(obj: nn.Module, *args: Any, **kwargs: Any) -> None:
            if not seen and type(obj) is cls:
                bound = signature.bind(obj, *args, **kwargs)
                bound.apply_defaults()
                seen.update(list(bound.arguments.items())[1:])
            original(obj, *args, **kwargs)

        cls.__init__ = spy  # type: ignore[method-assign]
        try:
            with torch.device("meta"):
                self.builder(num_classes=self.num_classes, in_chans=3)
        finally:
            cls.__init__ = original  # type: ignore[method-assign]
        return seen

    def build(
        self, *, num_classes: int | None = None, in_chans: int = 3, **options: Any
    ) -> nn.Module:
        """The model with its default classes (or ``num_classes``), options checked by name."""
        valid = self.options()
        unknown = sorted(set(options) - set(valid))
        if unknown:
            raise UnknownOptionError(
                f"{self.name} does not take option(s) {', '.join(unknown)}; "
                f"it takes: {', '.join(sorted(valid))}"
            )
        model = self.builder(
            num_classes=self.num_classes if num_classes is None else num_classes,
            in_chans=in_chans,
            **options,
        )
        model.model_name = self.name
        return model


_REGISTRY: dict[str, ModelInfo] = {}

F = TypeVar("F", bound=Callable[..., nn.Module])


def register_model(
    *,
    family: str,
    paper: Paper,
    figures: PaperFigures | Mapping[str, PaperFigures],
    input_size: int = 224,
    num_classes: int = 1000,
    checkpoints: CheckpointFormats | None = None,
) -> Callable[[F], F]:
    """Register a builder under its function name. Its docstring's first paragraph (joined into
    one line) is its summary.

    ``figures`` is the model's :class:`PaperFigures`, or its family's table of them by model
    name (how every family file registers: one table, one plain builder per model).

    ``checkpoints`` is what the family declares about foreign checkpoint layouts (key rules,
    converters, auxiliary heads); without it the model converts none.
    """

    def decorate(builder: F) -> F:
        name = builder.__name__
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is already registered (by {_REGISTRY[name].family})")
        if not isinstance(figures, PaperFigures) and name not in figures:
            raise ValueError(f"model {name!r} has no entry in its family's figures table")
        doc = inspect.getdoc(builder) or name
        _REGISTRY[name] = ModelInfo(
            name=name,
            family=family,
            paper=paper,
            summary=" ".join(doc.split("\n\n")[0].split()),
            input_size=input_size,
            num_classes=num_classes,
            figures=figures if isinstance(figures, PaperFigures) else figures[name],
            builder=builder,
            checkpoints=checkpoints or CheckpointFormats(builder.__module__.rsplit(".", 1)[-1]),
        )
        return builder

    return decorate


def list_models(pattern: str = "*", *, family: str | None = None) -> list[str]:
    """Registered model names matching a glob pattern (e.g. ``"resnet*"``), sorted naturally."""
    names = [
        n
        for n, info in _REGISTRY.items()
        if fnmatch.fnmatchcase(n, pattern) and (family is None or info.family == family)
    ]
    return sorted(names, key=_natural_key)


def _natural_key(name: str) -> list[Any]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def model_info(name: str) -> ModelInfo:
    """The paper, default input size and reference figures of a registered model."""
    try:
        return _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, _REGISTRY.keys(), n=5, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise UnknownModelError(
            f"unknown model {name!r}.{hint} `classicnets list` shows all "
            f"{len(_REGISTRY)} registered models."
        ) from None
