"""Reading and writing weight files safely: one writer, one reader.

Our own files are safetensors: tensors plus a flat string-to-string header, no code. Every file
we write (``save_weights``, ``convert``, a training run's ``model.safetensors``) has one layout,
written by :func:`write_weights`:

* the tensors, in the key layout named by ``classicnets.layout``;
* ``format`` = ``pt`` (safetensors' own entry) and one entry per :class:`WeightsMetadata` field
  that is set, ``classicnets.<field>``: ``architecture``, ``options``, ``num_classes``,
  ``in_chans``, ``classes`` or ``categories``, ``preprocessing`` (``Preprocessing.as_dict``),
  ``layout``, ``foreign_architecture``, ``source``, ``sha256`` (of the source), ``config`` (a
  training run's), ``version`` (the package's) and ``format_version`` (2). Text fields are plain
  strings, the others JSON.

:func:`read_weights` is the one reader: it returns the tensors and a :class:`WeightsMetadata`
for that layout; for the two written before it (``save_weights``' entries without a version,
and train.py's single JSON object under the key ``classicnets``); for our training states
(``last.pt``/``best.pt``: the model, or its EMA, and the run's record); and for torchvision's,
timm's and other ``.pth``/``.pt``/``.bin`` files (empty metadata).

Everything but safetensors is a pickle, and unpickling can run arbitrary code, so it is read only
with ``torch.load(weights_only=True)``, which refuses any object but tensors and plain
containers. The format is recognised from the file's first bytes, not its extension, so a
renamed file is still read (or refused) for what it is.
"""

from __future__ import annotations

import os
import pickle
import struct
import warnings
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..errors import WeightsFileError
from .metadata import FORMAT_VERSION, WeightsMetadata

__all__ = ["read_file", "read_metadata_of", "read_weights", "unwrap_state_dict", "write_weights"]

#: Checkpoint dictionaries often nest the weights under one of these keys (training scripts, timm).
_WRAPPER_KEYS = ("state_dict", "model", "model_state_dict", "module", "state_dict_ema")
#: Prefixes added by DistributedDataParallel / DataParallel and by torch.compile.
_WRAPPER_PREFIXES = ("module.", "_orig_mod.")


def _sniff(path: Path) -> str:
    """'safetensors', 'zip' (torch.save), 'pickle' (legacy torch.save) or 'unknown'."""
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(9)
    if head[:4] == b"PK\x03\x04":
        return "zip"
    # safetensors first: its 8-byte header length may start with any byte, 0x80 included
    if len(head) == 9:
        (header_len,) = struct.unpack("<Q", head[:8])
        if head[8:9] == b"{" and 8 + header_len <= size:
            return "safetensors"
    if head[:1] == b"\x80":  # pickle protocol 2+ opcode
        return "pickle"
    return "unknown"


def read_weights(
    path: str | os.PathLike[str], *, ema: bool = False
) -> tuple[dict[str, Tensor], WeightsMetadata]:
    """Read a weight file: its tensors and what it says about them (see the module docstring).

    A run directory stands for its ``last.pt``. ``ema``: from a training state with an EMA of
    the weights, read the EMA (the weights a run ships) instead of the raw model.

    Raises :class:`WeightsFileError` naming the file when it is missing, empty, not a weight file,
    corrupt, or a pickle that would need more than tensors to load.
    """
    p = _existing_file(Path(path))
    kind = _sniff(p)
    if kind == "safetensors":
        tensors, header = _read_safetensors(p)
        return tensors, WeightsMetadata.from_header(header)
    if kind in ("zip", "pickle"):
        obj = _torch_load(p)
        if _is_training_state(obj):
            return _training_weights(obj, ema, str(p)), WeightsMetadata.from_run(
                obj["meta"], obj["config"]
            )
        return unwrap_state_dict(obj, origin=str(p)), WeightsMetadata()
    with p.open("rb") as f:
        first = f.read(8)
    raise WeightsFileError(
        f"{p} is neither a safetensors file nor a PyTorch checkpoint (it starts with bytes "
        f"{first!r}); expected a .safetensors file or a file written by torch.save "
        "(.pth/.pt/.bin)"
    )


def read_metadata_of(path: str | os.PathLike[str]) -> WeightsMetadata:
    """What a weight file records, without its tensors where the format allows (a safetensors
    header is read alone; a torch file has to be read whole)."""
    p = _existing_file(Path(path))
    if _sniff(p) != "safetensors":
        return read_weights(p)[1]
    from safetensors import safe_open

    try:
        with safe_open(str(p), framework="pt", device="cpu") as f:
            return WeightsMetadata.from_header(dict(f.metadata() or {}))
    except Exception as e:  # safetensors raises its own error types for corrupt headers
        raise WeightsFileError(f"{p} is a corrupt or truncated safetensors file: {e}") from e


def read_file(path: str | os.PathLike[str]) -> tuple[dict[str, Tensor], dict[str, str]]:
    """:func:`read_weights` with the metadata as our header entries (``classicnets.<field>``,
    as :func:`write_weights` writes them; empty for a foreign file)."""
    tensors, metadata = read_weights(path)
    return tensors, metadata.header()


def _existing_file(p: Path) -> Path:
    if p.is_dir() and (p / "last.pt").is_file():
        p = p / "last.pt"
    if not p.is_file():
        raise WeightsFileError(f"{p}: no such file")
    if p.stat().st_size == 0:
        raise WeightsFileError(
            f"{p} is empty (0 bytes): an interrupted download or copy? Fetch or export it again."
        )
    return p


def _is_training_state(obj: Any) -> bool:
    """A checkpoint written by train.py: the model's state beside the run's record."""
    return isinstance(obj, Mapping) and all(
        isinstance(obj.get(k), Mapping) for k in ("model", "meta", "config")
    )


def _training_weights(state: Mapping[str, Any], ema: bool, origin: str) -> dict[str, Tensor]:
    averaged = state.get("ema")
    if ema and isinstance(averaged, Mapping) and isinstance(averaged.get("module"), Mapping):
        return unwrap_state_dict(averaged["module"], origin=f"{origin} (EMA)")
    return unwrap_state_dict(state["model"], origin=origin)


def _read_safetensors(p: Path) -> tuple[dict[str, Tensor], dict[str, str]]:
    from safetensors import safe_open

    try:
        with safe_open(str(p), framework="pt", device="cpu") as f:
            metadata = dict(f.metadata() or {})
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (not a dict)
    except Exception as e:  # safetensors raises its own error types for corrupt headers
        raise WeightsFileError(f"{p} is a corrupt or truncated safetensors file: {e}") from e
    return tensors, metadata


def _unpickler_reason(text: str) -> str:
    """The restricted unpickler's own reason, from torch's long message."""
    for part in text.replace("\n", " ").split("WeightsUnpickler error:")[1:]:
        return " ".join(part.split(". ")[0].split())
    return " ".join(text.split()[:30])


def _torch_load(p: Path) -> Any:
    try:
        with warnings.catch_warnings():  # torch's note on odd protocol bytes (noise files)
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            return torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        reason = _unpickler_reason(str(e))
        if "global" in reason.lower():
            raise WeightsFileError(
                f"refused to load {p}: it is a pickle that needs Python objects other than "
                f"tensors and plain containers ({reason}). Unpickling such a file can run "
                "arbitrary code, so classicnets only reads pickles with "
                "torch.load(weights_only=True), and nothing in this one was run. If you trust "
                "where the file comes from, load it yourself and pass the state dict to "
                "load_weights, or convert it to safetensors."
            ) from None
        raise WeightsFileError(
            f"{p} is not a readable PyTorch checkpoint (corrupt?): the weights-only unpickler "
            f"stopped at: {reason}; nothing in it was run"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as e:
        raise WeightsFileError(
            f"{p} is not a readable PyTorch checkpoint (corrupt or truncated?): {e}"
        ) from None


def unwrap_state_dict(obj: Any, *, origin: str = "the checkpoint") -> dict[str, Tensor]:
    """The tensors of a state dict, unwrapped from common checkpoint layouts.

    Accepts a plain state dict, or a dict holding one under ``state_dict``/``model``/... (as
    training scripts save them); strips the ``module.`` (DDP) and ``_orig_mod.`` (torch.compile)
    prefixes when every key has them.
    """
    if not isinstance(obj, Mapping):
        raise WeightsFileError(f"{origin} holds a {type(obj).__name__}, not a state dict")
    for _ in range(3):  # at most a few levels of nesting
        if obj and all(isinstance(v, Tensor) for v in obj.values()):
            break
        inner = next((obj[k] for k in _WRAPPER_KEYS if isinstance(obj.get(k), Mapping)), None)
        if inner is None:
            tensors = {k: v for k, v in obj.items() if isinstance(v, Tensor)}
            if tensors:
                obj = tensors
                break
            keys = ", ".join(map(str, list(obj)[:8]))
            raise WeightsFileError(f"{origin} holds no tensors (top-level keys: {keys})")
        obj = inner
    state = {str(k): v for k, v in obj.items() if isinstance(v, Tensor)}
    for prefix in _WRAPPER_PREFIXES:
        if state and all(k.startswith(prefix) for k in state):
            state = {k[len(prefix) :]: v for k, v in state.items()}
    return state


def write_weights(
    state_dict: Mapping[str, Tensor], path: str | os.PathLike[str], metadata: WeightsMetadata
) -> Path:
    """Write tensors and their metadata in our one layout (see the module docstring)."""
    from safetensors.torch import save_file

    p = Path(path)
    if p.suffix != ".safetensors":
        raise WeightsFileError(f"{p}: our weight files are safetensors; name it *.safetensors")
    header = {"format": "pt", **replace(metadata, format_version=FORMAT_VERSION).header()}
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in state_dict.items()}
    p.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(p), metadata=header)
    return p
