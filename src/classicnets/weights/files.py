"""Reading and writing weight files safely.

Our own files are safetensors: tensors plus a flat string-to-string metadata header, no code.
Everything else (torchvision's and timm's ``.pth``, ``.pt``, ``.bin``) is a pickle, and unpickling
can run arbitrary code, so it is read only with ``torch.load(weights_only=True)``, which refuses
any object but tensors and plain containers. The format is recognised from the file's first bytes,
not its extension, so a renamed file is still read (or refused) for what it is.
"""

from __future__ import annotations

import json
import os
import pickle
import struct
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..errors import WeightsFileError

__all__ = ["METADATA_PREFIX", "read_file", "unwrap_state_dict", "write_safetensors"]

#: Keys of our safetensors metadata start with this (values are strings; JSON where structured).
METADATA_PREFIX = "classicnets."

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
    if head[:1] == b"\x80":  # pickle protocol 2+ opcode
        return "pickle"
    if len(head) == 9:
        (header_len,) = struct.unpack("<Q", head[:8])
        if head[8:9] == b"{" and 8 + header_len <= size:
            return "safetensors"
    return "unknown"


def read_file(path: str | os.PathLike[str]) -> tuple[dict[str, Tensor], dict[str, str]]:
    """Read a weight file: its tensors and its metadata (empty for non-safetensors files).

    Raises :class:`WeightsFileError` naming the file when it is missing, empty, not a weight file,
    corrupt, or a pickle that would need more than tensors to load.
    """
    p = Path(path)
    if not p.is_file():
        raise WeightsFileError(f"{p}: no such file")
    if p.stat().st_size == 0:
        raise WeightsFileError(
            f"{p} is empty (0 bytes): an interrupted download or copy? Fetch or export it again."
        )
    kind = _sniff(p)
    if kind == "safetensors":
        return _read_safetensors(p)
    if kind in ("zip", "pickle"):
        return unwrap_state_dict(_torch_load(p), origin=str(p)), {}
    with p.open("rb") as f:
        first = f.read(8)
    raise WeightsFileError(
        f"{p} is neither a safetensors file nor a PyTorch checkpoint (it starts with bytes "
        f"{first!r}); expected a .safetensors file or a file written by torch.save "
        "(.pth/.pt/.bin)"
    )


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


def write_safetensors(
    state_dict: Mapping[str, Tensor], path: str | os.PathLike[str], metadata: Mapping[str, Any]
) -> Path:
    """Write tensors and metadata (values given as JSON if not strings) to a safetensors file."""
    from safetensors.torch import save_file

    p = Path(path)
    if p.suffix != ".safetensors":
        raise WeightsFileError(f"{p}: our weight files are safetensors; name it *.safetensors")
    meta = {"format": "pt"}
    for k, v in metadata.items():
        meta[f"{METADATA_PREFIX}{k}"] = v if isinstance(v, str) else json.dumps(v)
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in state_dict.items()}
    p.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(p), metadata=meta)
    return p


def read_metadata(metadata: Mapping[str, str]) -> dict[str, Any]:
    """Our metadata entries (prefix removed), JSON-decoded where they are JSON."""
    out: dict[str, Any] = {}
    for k, v in metadata.items():
        if not k.startswith(METADATA_PREFIX):
            continue
        try:
            out[k[len(METADATA_PREFIX) :]] = json.loads(v)
        except json.JSONDecodeError:
            out[k[len(METADATA_PREFIX) :]] = v
    return out
