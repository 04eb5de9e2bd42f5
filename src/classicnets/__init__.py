"""classicnets: the classic image-classification CNNs of 2014-2017, faithful to their papers."""

from . import models  # noqa: F401  (importing registers every family)
from .deploy import deploy
from .errors import InputShapeError, UnknownModelError, UnknownOptionError
from .explain import explain
from .factory import create_model
from .registry import list_models, model_info, register_model
from .summary import count_params, summarize
from .weights import export_weights, load_weights, save_weights

__version__ = "0.1.0"

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
    "list_models",
    "load_weights",
    "model_info",
    "register_model",
    "save_weights",
    "summarize",
]
