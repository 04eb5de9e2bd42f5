"""Checkpoint files on disk: written atomically, read without unpickling code.

``atomic_save`` writes to a temporary file in the same folder, flushes and fsyncs it, then
renames it over the old one, so a crash while writing leaves the previous file intact.
``load`` reads with ``torch.load(weights_only=True)``. The checkpoint's schema (what a training
state holds) is :mod:`classicnets.training.checkpoint`.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

from ..errors import ClassicNetsError


class CheckpointError(ClassicNetsError, RuntimeError):
    """A checkpoint that cannot be read or does not fit the run."""


def atomic_save(obj: Any, path: str | Path) -> None:
    """``torch.save`` to a temporary file, fsync, rename over ``path``, fsync the folder.

    A failed write (a full disk, an unwritable folder) leaves the previous file as it was and
    no temporary file, and raises :class:`CheckpointError` saying which file and why.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except (OSError, RuntimeError) as e:
        Path(tmp).unlink(missing_ok=True)
        raise CheckpointError(_write_failure(path, e)) from e
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _write_failure(path: Path, error: BaseException) -> str:
    """One line on a checkpoint that could not be written: which file, why, what is left."""
    full = isinstance(error, OSError) and error.errno == errno.ENOSPC
    try:
        free = shutil.disk_usage(path.parent).free
    except OSError:
        free = None
    if full or (free is not None and free < 64 * 2**20):
        why = f"no space left on the device ({(free or 0) / 2**20:.0f} MiB free)"
    else:
        why = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
    kept = f"the previous {path.name} is intact" if path.is_file() else "nothing was written"
    return f"could not write {path}: {why}; {kept}. Free some space (or choose another --run-dir)"


def load(path: str | Path) -> dict[str, Any]:
    """A checkpoint's dict, read with ``weights_only=True``; ``path`` may be a run directory
    (its ``last.pt``). An unreadable ``last.pt`` is named with ``best.pt`` beside it when that
    one reads."""
    path = Path(path)
    if path.is_dir():
        path = path / "last.pt"
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a truncated or foreign file
        raise CheckpointError(f"cannot read checkpoint {path}: {_read_failure(path)}") from e
    if not isinstance(ckpt, dict) or "model" not in ckpt:
        raise CheckpointError(f"{path} is not a classicnets checkpoint (no 'model' entry)")
    return ckpt


def _read_failure(path: Path) -> str:
    """Why a checkpoint did not read, and the run's other checkpoint when that one does."""
    why = "the file is truncated or corrupt (an interrupted copy, a full disk), or not a checkpoint"
    best = path.with_name("best.pt")
    if path.name != "best.pt" and best.is_file():
        try:
            step = torch.load(best, map_location="cpu", weights_only=True).get("step")
        except Exception:
            return why + "; best.pt beside it does not read either"
        return f"{why}. best.pt beside it reads (step {step}): --resume {best} continues from it"
    return why
