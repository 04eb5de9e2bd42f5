"""Fixtures shared by the test files: the seed, the decoded-image cache, the one tiny training run
of the session, and the download server with its registry entries."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
import torch

import classicnets
from classicnets.weights import (
    Preprocessing,
    WeightSpec,
    register_weights,
    save_weights,
    unregister_weights,
)
from helpers import RouteHandler, Server, weight_spec


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture(autouse=True, scope="session")
def _decoded_image_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Splits decoded by the tests are cached under the session's temporary folder, not in the
    user's cache (session-wide, so that the session's training run uses it too)."""
    from classicnets.data import memory

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(memory, "DECODED_DIR", tmp_path_factory.getbasetemp() / "decoded")
        yield


# -- the session's training run -------------------------------------------------------------------


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished run directory, trained once per session through the command line: ResNet-20
    on the digits at 8 px, one epoch of 32 training images (2 steps of 16), 20 test images.

    Shared by the eval, predict, export, load and report tests: they read it and write their own
    outputs elsewhere, except the report test that writes report.html to its default place, the
    run directory (where training wrote its own).
    """
    from classicnets.cli import main

    d = tmp_path_factory.mktemp("run")
    code = main([
        "train", "--quiet", "--run-dir", str(d), "--epochs", "1", "--batch-size", "16",
        "--threads", "1", "--set", "input_size=8", "--set", "train_subset=32",
        "--set", "test_subset=20",
    ])  # fmt: skip
    assert code == 0
    return d


# -- registered weights served from 127.0.0.1 (no internet needed) --------------------------------


@pytest.fixture
def server() -> Iterator[Server]:
    """An HTTP server on 127.0.0.1 answering the routes the test sets (helpers.Route)."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), RouteHandler)
    state = Server(base=f"http://127.0.0.1:{httpd.server_address[1]}")
    httpd.routes = state.routes  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The download cache of this test (TORCH_HOME under its temporary folder); not created."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    return tmp_path / "torch-home" / "hub" / "checkpoints"


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, torch.nn.Module]:
    """A generated checkpoint: our safetensors file of a randomly initialised ResNet-20."""
    torch.manual_seed(3)
    model = classicnets.create_model("resnet20")
    path = save_weights(model, tmp_path_factory.mktemp("w") / "resnet20.safetensors")
    return path.read_bytes(), model


@pytest.fixture
def registry() -> Iterator[Callable[[WeightSpec], WeightSpec]]:
    """``registry(spec)``: registers ``spec`` for this test; unregistered when the test ends."""
    names: list[str] = []

    def add(spec: WeightSpec) -> WeightSpec:
        names.append(register_weights(spec).name)
        return spec

    yield add
    for n in names:
        unregister_weights(n)


@pytest.fixture
def register(registry: Callable[[WeightSpec], WeightSpec]) -> Callable[..., WeightSpec]:
    """``register(tag, url, sha256, **changes)``: a resnet20 entry for ``checkpoint`` (CIFAR-10,
    32 px), with ``changes``, for this test."""

    def add(tag: str, url: str, sha256: str, **changes: object) -> WeightSpec:
        fields = {
            "preprocessing": Preprocessing(input_size=32, resize_size=32),
            "license": "BSD-3-Clause",
            "categories": "cifar-10",
            "num_classes": 10,
            **changes,
        }
        return registry(weight_spec("resnet20", tag, url, sha256, **fields))

    return add


@pytest.fixture
def cached_weights(
    cache: Path, registry: Callable[[WeightSpec], WeightSpec]
) -> Callable[..., WeightSpec]:
    """``cached_weights(state, arch, tag, **fields)``: ``state`` saved in this test's download
    cache as if downloaded, and registered with ``fields`` (its URL is never fetched)."""

    def add(state: dict[str, torch.Tensor], arch: str, tag: str, **fields: object) -> WeightSpec:
        path = cache / f"{arch}-{tag}.pth"
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(state, path)
        sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
        url = f"https://download.invalid/{path.name}"
        return registry(weight_spec(arch, tag, url, sha256, **fields))

    return add
