"""Helpers shared by the test files (import with ``from helpers import ...``)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import pytest
import torch
from torch import nn

import classicnets
from classicnets.weights import Accuracy, Preprocessing, WeightSpec

if TYPE_CHECKING:
    from classicnets.training.config import TrainConfig

M = TypeVar("M", bound=nn.Module)


def input_size(model: nn.Module, floor: int = 32) -> int:
    """The side of a small square input the model takes: its ``min_input_size``, but at least
    ``floor`` pixels.

    The default, 32, is the CIFAR networks' own size (their minimum is 4): the model-contract tests
    run every network at it. The explain tests ask for 16: a CAM needs a last feature map wider
    than the CIFAR networks' minimum leaves (one pixel), and a smaller image keeps the gradient
    pass behind each map cheap. The oracles in test_weights.py ask for 64.
    """
    return max(int(model.min_input_size), floor)


def assert_same_values(expected: torch.Tensor, got: torch.Tensor, rel: float = 1e-5) -> None:
    """``got`` equals ``expected`` to ``rel`` of the latter's largest magnitude (at least 1): the
    tolerance of the oracles, which compare logits of very different scales."""
    scale = max(float(expected.abs().max()), 1.0)
    assert float((expected - got).abs().max()) <= rel * scale


def meta_model(name: str, kind: type[M] = nn.Module, /, **options: object) -> M:
    """``create_model(name, **options)`` on the meta device: structure and shapes, no memory.

    ``kind``, if given, is the class the model must be (checked, and the type checkers know it).
    """
    with torch.device("meta"):
        model = classicnets.create_model(name, **options)
    assert isinstance(model, kind), f"{name} built a {type(model).__name__}, not a {kind.__name__}"
    return model


def foreign_state(library: str, name: str, **options: object) -> dict[str, torch.Tensor]:
    """torchvision's or timm's model ``name`` (built with ``options``) as a state dict on the meta
    device: keys and shapes, no memory. Skips the test when timm is not installed."""
    with torch.device("meta"):
        if library == "torchvision":
            import torchvision

            return torchvision.models.get_model(name, weights=None, **options).state_dict()
        timm = pytest.importorskip("timm")
        return timm.create_model(name, pretrained=False, **options).state_dict()


def weight_spec(arch: str, tag: str, url: str, sha256: str, **fields: object) -> WeightSpec:
    """A registry entry for weights a test generated: untrained, no licence or recipe to speak of.

    ``fields`` set the rest (``layout``, ``preprocessing``, ``num_classes``, ``label_offset``,
    ...); register it with ``register_weights`` and unregister it when the test ends.
    """
    spec = WeightSpec(
        arch=arch,
        tag=tag,
        url=url,
        sha256=sha256,
        layout="classicnets",
        preprocessing=Preprocessing(),
        accuracy=Accuracy(0.0, None, "untrained, for tests", "generated"),
        license="none",
        recipe="none",
        origin="trained here",
        source="test",
    )
    return dataclasses.replace(spec, **fields)  # type: ignore[arg-type]


# -- a download server on 127.0.0.1 (fixture ``server`` in conftest.py) ---------------------------


@dataclass
class Route:
    """What the server answers at one path."""

    body: bytes
    cut_first: int = 0  # how many of the first requests are cut short (-1: all)
    hits: int = 0


@dataclass
class Server:
    """The running server: its base URL and its routes (path -> Route), set by the tests."""

    base: str
    routes: dict[str, Route] = field(default_factory=dict)


class RouteHandler(BaseHTTPRequestHandler):
    """Serves ``server.routes``: 404 for an unknown path, a body cut in half when asked to."""

    server: ThreadingHTTPServer

    def do_GET(self) -> None:
        route = self.server.routes.get(self.path)  # type: ignore[attr-defined]
        if route is None:
            self.send_error(404)
            return
        route.hits += 1
        cut = route.cut_first == -1 or route.hits <= route.cut_first
        self.send_response(200)
        self.send_header("Content-Length", str(len(route.body)))
        self.end_headers()
        self.wfile.write(route.body[: len(route.body) // 2] if cut else route.body)
        self.close_connection = True  # a cut response ends here, short of its Content-Length

    def log_message(self, *args: object) -> None:
        pass


# -- training runs ---------------------------------------------------------------------------


def tiny(run_dir: Path, **changes: object) -> TrainConfig:
    """A ResNet-20 run on 48 of the embedded digits at 8x8: 6 optimizer steps over 2 epochs,
    with dropout, pad-crop, warm-up and EMA, so that every RNG and state a resume restores is
    exercised."""
    from classicnets.training.config import TrainConfig, apply

    base = {
        "model": "resnet20",
        "model_options": {"drop_rate": 0.2},  # dropout: the model-side RNG must resume too
        "dataset": "digits",
        "input_size": 8,
        "train_crop": "pad_crop",
        "crop_padding": 1,
        "train_subset": 48,
        "test_subset": 24,
        "batch_size": 16,
        "epochs": 2,  # 3 steps per epoch, 6 in all
        "lr": 0.05,
        "schedule": "cosine",
        "warmup": 1,
        "ema_decay": 0.9,
        "quiet": True,
        "tensorboard": False,
        "threads": 1,
        "run_dir": str(run_dir),
    }
    base.update(changes)
    return apply(TrainConfig(), base, source="test")


def final_state(run_dir: Path) -> dict:
    """A run's last full-state checkpoint."""
    from classicnets.runtime.checkpoint_io import load

    return load(run_dir / "last.pt")


def assert_same_run(a: dict, b: dict) -> None:
    """Two checkpoints hold the same run, bit for bit: step, weights, EMA, momentum, history."""
    assert a["step"] == b["step"]
    for k, v in a["model"].items():
        assert torch.equal(v, b["model"][k]), k
    for k, v in a["ema"]["module"].items():
        assert torch.equal(v, b["ema"]["module"][k]), k
    sa, sb = a["optimizer"]["state"], b["optimizer"]["state"]
    for i in sa:
        assert torch.equal(sa[i]["momentum_buffer"], sb[i]["momentum_buffer"])
    cols = ("train_loss", "train_acc", "test_loss", "test_acc", "lr")
    assert [[r[c] for c in cols] for r in a["history"]] == [
        [r[c] for c in cols] for r in b["history"]
    ]
