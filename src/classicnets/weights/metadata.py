"""What a weight file says about its tensors: :class:`WeightsMetadata`, one object for every
layout we have written.

In a file it is a set of safetensors header entries ``classicnets.<field>``, a string for the
text fields and JSON for the others (see ``files.py`` for the layout). The same object comes
back from the two layouts written before it (``from_header``) and from a training state
(``from_run``), so callers never look at how a file was written.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from ..preprocessing import Preprocessing, for_dataset

__all__ = ["FORMAT_VERSION", "METADATA_PREFIX", "WeightsMetadata", "read_metadata"]

#: The version of the layout written now (``classicnets.format_version``). 1: the two layouts
#: before it (``save_weights``' entries without a version, train.py's single JSON object).
FORMAT_VERSION = 2

#: Our header entries start with this (values are strings; JSON where structured).
METADATA_PREFIX = "classicnets."

#: train.py before format 2 wrote one JSON object under this key instead of separate entries.
_RUN_BLOB_KEY = "classicnets"

#: Fields stored as plain strings (the rest as JSON).
_TEXT_FIELDS = frozenset(
    {"architecture", "categories", "layout", "foreign_architecture", "source", "sha256", "version"}
)


@dataclass(frozen=True)
class WeightsMetadata:
    """What is known about a set of weights beyond the tensors; empty for a foreign file.

    ``architecture`` and ``options``: the ``create_model`` call that takes them (options beyond
    the registered defaults); ``layout``: the key layout of the tensors ("" when unknown: detect
    it); ``classes`` (or a named set, ``categories``) and ``preprocessing``: what the classifier
    outputs and how its input is prepared; ``source``/``sha256``: where the weights came from and
    the digest of that source (the publisher's prefix for registered weights); ``config``: the
    training configuration of a run trained here; ``version``: the package version that wrote
    the file; ``format_version``: the layout it was written in (0: not one of ours).
    """

    architecture: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    num_classes: int | None = None
    in_chans: int | None = None
    classes: tuple[str, ...] = ()
    categories: str = ""
    preprocessing: Preprocessing | None = None
    layout: str = ""
    foreign_architecture: str = ""
    source: str = ""
    sha256: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    version: str = ""
    format_version: int = 0

    def as_dict(self) -> dict[str, Any]:
        """The fields that are set, JSON-friendly (``preprocessing`` as its ``as_dict``)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None or (isinstance(value, str | tuple | dict) and not value):
                continue
            if isinstance(value, Preprocessing):
                value = value.as_dict()
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    def header(self) -> dict[str, str]:
        """The safetensors header entries: ``classicnets.<field>``, a string or JSON."""
        return {
            f"{METADATA_PREFIX}{k}": v if k in _TEXT_FIELDS else json.dumps(v)
            for k, v in self.as_dict().items()
        }

    @classmethod
    def from_dict(cls, entries: Mapping[str, Any], *, format_version: int = 1) -> WeightsMetadata:
        """From :meth:`as_dict`'s form; keys it does not know (a newer writer's) are ignored."""
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in entries.items() if k in known}
        if isinstance(kwargs.get("preprocessing"), Mapping):
            kwargs["preprocessing"] = Preprocessing.from_dict(kwargs["preprocessing"])
        if kwargs.get("classes") is not None:
            kwargs["classes"] = tuple(str(c) for c in kwargs["classes"])
        kwargs["options"] = dict(kwargs.get("options") or {})
        kwargs.setdefault("format_version", format_version)
        return cls(**kwargs)

    @classmethod
    def from_header(cls, header: Mapping[str, str]) -> WeightsMetadata:
        """From a safetensors header in any layout we wrote; empty for another's file."""
        if _RUN_BLOB_KEY in header:
            blob = json.loads(header[_RUN_BLOB_KEY])
            return cls.from_run(blob, blob.get("config") or {})
        entries = read_metadata(header)
        return cls.from_dict(entries) if entries else cls()

    @classmethod
    def from_run(cls, meta: Mapping[str, Any], config: Mapping[str, Any]) -> WeightsMetadata:
        """From a training run's record: the ``meta`` and ``config`` of train.py's checkpoints
        (and of its ``model.safetensors`` before format 2); the preprocessing is rebuilt from the
        dataset, input size, crop fraction and statistics the run used."""
        classes = tuple(str(c) for c in meta["classes"])
        preprocessing = for_dataset(
            str(meta.get("dataset") or config.get("dataset") or "imagefolder"),
            int(meta["input_size"]),
            crop_fraction=float(config.get("eval_crop_pct") or 0.875),
            mean=tuple(meta["mean"]),
            std=tuple(meta["std"]),
        )
        return cls(
            architecture=str(meta.get("model") or config.get("model") or ""),
            options=dict(config.get("model_options") or {}),
            num_classes=len(classes),
            in_chans=int(meta["in_chans"]),
            classes=classes,
            preprocessing=preprocessing,
            layout="classicnets",
            source="classicnets train",
            config=dict(config),
            format_version=1,
        )


def read_metadata(header: Mapping[str, str]) -> dict[str, Any]:
    """Our header entries (prefix removed): text fields as they are, the others JSON-decoded."""
    out: dict[str, Any] = {}
    for key, value in header.items():
        if not key.startswith(METADATA_PREFIX):
            continue
        name = key[len(METADATA_PREFIX) :]
        try:
            out[name] = value if name in _TEXT_FIELDS else json.loads(value)
        except json.JSONDecodeError:
            out[name] = value
    return out
