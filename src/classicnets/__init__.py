"""classicnets: the classic image-classification CNNs of 2014-2017, faithful to their papers.

The public names are loaded on first use (PEP 562 ``__getattr__``): ``import classicnets`` and
``classicnets --help`` do not import torch; the first ``classicnets.create_model`` does, and
registers every family.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: public name -> the module that defines it (relative to the package)
_EXPORTS: dict[str, str] = {
    "InputShapeError": ".errors",
    "UnknownModelError": ".errors",
    "UnknownOptionError": ".errors",
    "count_params": ".tools.summary",
    "create_model": ".factory",
    "deploy": ".deployment.convert",
    "explain": ".evaluation.explain",
    "export_weights": ".weights",
    "get_weights": ".weights",
    "list_models": ".factory",
    "list_weights": ".weights",
    "load_run": ".evaluation.loading",
    "load_weights": ".weights",
    "model_info": ".models.registry",
    "register_model": ".models.registry",
    "save_weights": ".weights",
    "summarize": ".tools.summary",
}

__all__ = [
    "InputShapeError",
    "UnknownModelError",
    "UnknownOptionError",
    "__version__",
    "count_params",
    "create_model",
    "deploy",
    "explain",
    "export_weights",
    "get_weights",
    "list_models",
    "list_weights",
    "load_run",
    "load_weights",
    "model_info",
    "register_model",
    "save_weights",
    "summarize",
]

if TYPE_CHECKING:
    from .deployment.convert import deploy
    from .errors import InputShapeError, UnknownModelError, UnknownOptionError
    from .evaluation.explain import explain
    from .evaluation.loading import load_run
    from .factory import create_model, list_models
    from .models.registry import model_info, register_model
    from .tools.summary import count_params, summarize
    from .weights import export_weights, get_weights, list_weights, load_weights, save_weights


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'classicnets' has no attribute {name!r}")
    importlib.import_module(".models", __name__)  # registers every family
    value = getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
