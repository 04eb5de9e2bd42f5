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


# -- weights (classicnets.weights) ---------------------------------------------------------------


class WeightsError(ClassicNetsError):
    """A weight file, checkpoint or download that cannot be used as asked."""


class UnknownWeightsError(WeightsError, KeyError):
    """A weight name (``arch.tag``) that is not registered."""

    def __str__(self) -> str:
        return str(self.args[0])


class WeightsFileError(WeightsError, ValueError):
    """A file that is missing, empty, unreadable, or refused because it is unsafe to load."""


class WeightsMismatchError(WeightsError, ValueError):
    """A checkpoint whose keys or shapes do not fit the model (the message holds the table)."""


class ArchitectureMismatchError(WeightsError, ValueError):
    """A checkpoint made for another (compatible-looking) architecture than the model's."""


class WeightsDownloadError(WeightsError, OSError):
    """A download that failed (offline, unreachable, cut short); nothing was kept."""


class WeightsIntegrityError(WeightsError, ValueError):
    """A file whose SHA-256 differs from the registered one; it was deleted, not loaded."""
