"""Exceptions raised for bad input, each saying what is wrong and what would be right."""

from __future__ import annotations


class ClassicNetsError(Exception):
    """Base class of the errors this package raises on purpose."""


class UnknownModelError(ClassicNetsError, KeyError):
    """A model name that is not registered."""

    def __str__(self) -> str:  # KeyError would print the message quoted
        return str(self.args[0])


class UnknownOptionError(ClassicNetsError, TypeError):
    """An option that the model's constructor does not take."""


class InputShapeError(ClassicNetsError, ValueError):
    """An input batch the model cannot take (wrong rank, channels or a too-small image)."""
