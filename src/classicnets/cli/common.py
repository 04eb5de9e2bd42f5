"""Argument helpers the command groups share: the model source flags, ``--precision`` (its
choices read without importing torch at parse time), the ``--device`` check, and the loading
of the model a command names (the file used named on stderr)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ClassicNetsError

if TYPE_CHECKING:
    from ..evaluation.loading import LoadedModel

#: ``add_parser``'s owner, as argparse names it (private there, so spelt once here).
SubParsers = argparse._SubParsersAction


def register_families() -> None:
    """Import the model families (their import registers them in the registry)."""
    from .. import models  # noqa: F401


def add_model_source(p: argparse.ArgumentParser) -> None:
    """``--checkpoint``, ``--model``, ``--weights`` and ``--json`` of eval and predict."""
    p.add_argument(
        "--checkpoint",
        "-c",
        help="a run directory (its model.safetensors, else best.pt, else last.pt) or any weight "
        "file it holds",
    )
    p.add_argument("--model", help="a registered model, for a file that does not name its model")
    p.add_argument(
        "--weights",
        help="a weight file (a run's model.safetensors, a save_weights/convert file; a "
        "torchvision/timm file with --model), or registered weights such as "
        "resnet50_v1_5.tv_in1k (`classicnets weights` lists them)",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def load_model(
    checkpoint: str | Path | None, model: str | None, weights: str | Path | None
) -> LoadedModel:
    """The model a run, file or registered name gives, the file used named on stderr."""
    from ..evaluation.loading import load_trained

    lm = load_trained(checkpoint, model_name=model, weights=weights)
    announce_weights(lm.source, lm.name)
    return lm


def announce_weights(source: Path | None, name: str) -> None:
    """``weights: FILE (MODEL)`` on stderr, for a model read from a file."""
    if source is not None:
        print(f"weights: {source} ({name})", file=sys.stderr)


def check_device(name: str) -> None:
    """A CUDA device on a machine without one: one line saying what to do, not a traceback."""
    if not name.startswith("cuda"):
        return
    import torch

    if not torch.cuda.is_available():
        raise ClassicNetsError(
            f"--device {name}: no CUDA GPU is available here (torch.cuda.is_available() is "
            "False); use --device cpu (or auto)"
        )
    index = int(name.partition(":")[2] or 0)
    if index >= torch.cuda.device_count():
        raise ClassicNetsError(
            f"--device {name}: this machine has {torch.cuda.device_count()} CUDA device(s), "
            f"cuda:0 to cuda:{torch.cuda.device_count() - 1}"
        )


def retain_memory() -> None:
    """eval / predict own their process: keep freed memory (allocator.retain_freed_memory), so
    each batch reuses the previous batch's pages instead of page-faulting them in again."""
    from ..runtime.allocator import retain_freed_memory

    retain_freed_memory()


class _Precisions:
    """``--precision``'s choices, read from runtime.device (which imports torch) only when a
    value is checked or the help lists them: building the parser stays free of torch.
    ``quantized``: the int8 inference path too (bench)."""

    def __init__(self, quantized: bool = False) -> None:
        self.quantized = quantized

    def _names(self) -> tuple[str, ...]:
        from ..runtime.device import PRECISIONS, QUANTIZED_PRECISIONS

        return (*PRECISIONS, *(QUANTIZED_PRECISIONS if self.quantized else ()))

    def __contains__(self, value: object) -> bool:
        return value in self._names()

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __str__(self) -> str:
        return ", ".join(self._names())


def add_precision(p: argparse.ArgumentParser, help: str, *, quantized: bool = False) -> None:
    """``--precision`` (default fp32), its choices listed in the help after ``help``."""
    p.add_argument(
        "--precision",
        default="fp32",
        choices=_Precisions(quantized),
        metavar="PRECISION",  # not derived from the choices: that would import torch
        help=f"{help}: %(choices)s (default %(default)s)",
    )
