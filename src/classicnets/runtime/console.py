"""What the command line shows: progress bars only on a terminal, and none of the libraries'
internal notes that a user can do nothing about.

PyTorch, inductor and the ONNX exporter log notes meant for their own developers (an enum
registered as a constant, no CUDA runtime on a CPU machine, a tensor copy idiom inside
inductor's int8 lowering). The CLI silences exactly those, by logger and message, so that a
user reads classicnets' lines and real warnings only. A progress bar redraws itself with
carriage returns; written to a file or a pipe it leaves fragments, so bars are drawn only when
standard error is a terminal.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable
from typing import Any

#: Loggers whose warnings are notes for PyTorch's developers (shown as ``W1207 ... file.py:N]``).
_NOISY_LOGGERS = ("torch.utils._pytree", "torch.utils.cpp_extension")

#: Python warnings raised inside PyTorch's own code that say nothing about the user's input.
_NOISY_WARNINGS = (
    (r"To copy construct from a tensor", r"torch\._inductor\..*"),
    (r"The input of maxpool2d is not quantized", r"torchao\..*"),
)


def quiet_library_noise() -> None:
    """Silence the libraries' internal notes listed above (process-wide: the CLI calls it)."""
    for name in _NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    for message, module in _NOISY_WARNINGS:
        warnings.filterwarnings("ignore", message=message, module=module)


def progress_bar(iterable: Iterable[Any] | None = None, **kwargs: Any) -> Any:
    """A tqdm bar on standard error, drawn only when that is a terminal (``disable=None``)."""
    from tqdm import tqdm

    kwargs.setdefault("disable", None)
    return tqdm(iterable, **kwargs)
