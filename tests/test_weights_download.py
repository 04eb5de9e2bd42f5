"""Pretrained downloads through the real code path, served from 127.0.0.1 (no internet needed).

The server, the cache, the generated checkpoint and its registry entries are conftest.py's
fixtures (``server``, ``cache``, ``checkpoint``, ``register``), shared with test_finetune_cli.py.
"""

from __future__ import annotations

import hashlib
import io
import socket
from pathlib import Path

import pytest
import torch

import classicnets
from classicnets.errors import WeightsDownloadError, WeightsError, WeightsIntegrityError
from classicnets.models.features import FeatureExtractor
from classicnets.weights import WeightsAdaptedWarning, cache_dir
from classicnets.weights.commands import convert
from helpers import Route


def _files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def test_download_verify_load_then_use_the_cache(server, cache, checkpoint, register) -> None:
    body, source = checkpoint
    server.routes["/w/resnet20-test.safetensors"] = route = Route(body)
    register(
        "test_http", f"{server.base}/w/resnet20-test.safetensors", hashlib.sha256(body).hexdigest()
    )

    model = classicnets.create_model("resnet20", pretrained="test_http")
    for k, v in source.state_dict().items():
        torch.testing.assert_close(model.state_dict()[k], v)
    assert cache_dir() == cache and _files(cache) == ["resnet20-test.safetensors"]
    assert route.hits == 1

    classicnets.create_model("resnet20", pretrained="resnet20.test_http")  # from the cache
    assert route.hits == 1

    (cache / "resnet20-test.safetensors").write_bytes(b"not the file")  # a damaged cache entry
    classicnets.load_weights(classicnets.create_model("resnet20"), "resnet20.test_http")
    assert route.hits == 2 and (cache / "resnet20-test.safetensors").read_bytes() == body


def test_corrupt_download_fails_the_hash_and_is_not_kept(server, cache, checkpoint, register):
    body, _ = checkpoint
    bad = bytearray(body)
    bad[len(bad) // 2] ^= 0xFF
    server.routes["/w/bad.safetensors"] = Route(bytes(bad))
    expected = hashlib.sha256(body).hexdigest()
    register("corrupt", f"{server.base}/w/bad.safetensors", expected)
    with pytest.raises(WeightsIntegrityError, match=rf"registered hash is {expected}.*deleted"):
        classicnets.create_model("resnet20", pretrained="corrupt")
    assert _files(cache) == []


def test_truncated_download_is_retried(server, cache, checkpoint, register) -> None:
    body, _ = checkpoint
    server.routes["/w/once.safetensors"] = route = Route(body, cut_first=1)
    prefix = hashlib.sha256(body).hexdigest()[:8]  # as torchvision publishes it
    register("cut_once", f"{server.base}/w/once.safetensors", prefix)
    classicnets.create_model("resnet20", pretrained="cut_once")
    assert route.hits == 2 and _files(cache) == ["once.safetensors"]


def test_always_truncated_download_is_reported_and_not_kept(server, cache, checkpoint, register):
    body, _ = checkpoint
    server.routes["/w/cut.safetensors"] = route = Route(body, cut_first=-1)
    register("cut", f"{server.base}/w/cut.safetensors", hashlib.sha256(body).hexdigest())
    with pytest.raises(WeightsDownloadError, match=r"cut short 3 times .*received \d[\d,]* of"):
        classicnets.create_model("resnet20", pretrained="cut")
    assert route.hits == 3 and _files(cache) == []


def test_http_error_is_clear(server, cache, register) -> None:
    register("missing", f"{server.base}/w/absent.safetensors", "0" * 64)
    with pytest.raises(WeightsDownloadError, match="HTTP 404"):
        classicnets.create_model("resnet20", pretrained="missing")


def test_offline_error_says_how_to_use_a_local_file(cache, checkpoint, register, tmp_path):
    with socket.socket() as s:  # a port with nothing listening: what "offline" looks like
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    body, source = checkpoint
    register("offline", f"http://127.0.0.1:{port}/resnet20-abc.safetensors", "0" * 64)
    with pytest.raises(WeightsDownloadError) as info:
        classicnets.create_model("resnet20", pretrained="offline")
    text = str(info.value)
    assert "could not download resnet20.offline" in text and "TORCH_HOME" in text
    assert str(cache / "resnet20-abc.safetensors") in text
    assert "pretrained='path/to/resnet20-abc.safetensors'" in text

    local = tmp_path / "resnet20-abc.safetensors"
    local.write_bytes(body)
    model = classicnets.create_model("resnet20", pretrained=str(local))
    torch.testing.assert_close(model.stem.conv.weight, source.stem.conv.weight)


# -- weights with trained features only (torchvision's vgg16 IMAGENET1K_FEATURES) ---------------


@pytest.fixture
def features_file(server, cache, register) -> tuple[str, torch.nn.Module]:
    """A features-only .pth like torchvision's: trained stages, a NaN classifier."""
    torch.manual_seed(4)
    source = classicnets.create_model("resnet20").eval()
    state = {
        k: torch.full_like(v, float("nan")) if k.startswith("head.") else v
        for k, v in source.state_dict().items()
    }
    buffer = io.BytesIO()
    torch.save(state, buffer)
    body = buffer.getvalue()
    server.routes["/w/resnet20_features.pth"] = Route(body)
    url = f"{server.base}/w/resnet20_features.pth"
    spec = register("features", url, hashlib.sha256(body).hexdigest(), features_only=True)
    return spec.name, source


def test_features_only_weights_do_not_pretend_to_classify(features_file) -> None:
    name, _ = features_file
    with pytest.raises(WeightsError, match=r"features only.*features_only=True.*num_classes=N"):
        classicnets.create_model("resnet20", pretrained=name)


def test_features_only_weights_give_features_and_a_new_head(features_file, recwarn) -> None:
    name, source = features_file
    x = torch.randn(2, 3, 32, 32)
    extractor = classicnets.create_model("resnet20", pretrained=name, features_only=True).eval()
    assert not [w for w in recwarn if "features only" in str(w.message)]
    expected = FeatureExtractor(source)(x)
    for got, want in zip(extractor(x), expected, strict=True):
        torch.testing.assert_close(got, want)

    with pytest.warns(WeightsAdaptedWarning, match=r"features only.*keeps its initialisation"):
        model = classicnets.create_model("resnet20", pretrained=name, num_classes=10).eval()
    assert torch.isfinite(model.head.fc.weight).all() and torch.isfinite(model(x)).all()
    torch.testing.assert_close(model.forward_features(x), source.forward_features(x))

    with pytest.raises(WeightsError, match="features only"):
        convert(name, "resnet20", "unused.safetensors")


def test_vgg16_features_entry_is_features_only() -> None:
    spec = classicnets.weights.get_weights("vgg16.tv_features")
    assert spec.features_only and spec.accuracy is None and spec.sha256 == "88682ab5"
    assert spec.preprocessing.std == (1 / 255,) * 3  # mean subtraction only, on 0-255 values
    with torch.device("meta"), pytest.raises(WeightsError, match="features only"):
        classicnets.create_model("vgg16", pretrained="vgg16.tv_features")  # refused, no download
