"""Weights for VGG and DenseNet: what the generic oracles (test_weights.py) do not show.

timm's VGG head (FC layers as convolutions) against our FC and dense-evaluation forms, checkpoints
of one VGG configuration refused by another, class/channel adaptation through these families'
key layouts, torchvision's published DenseNet key names through the registry path, and the
catalog entries against torchvision's own weight metadata. VGG models are built on the meta
device wherever only keys and shapes matter.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch import nn

import classicnets
from classicnets.errors import ArchitectureMismatchError, WeightsError, WeightsMismatchError
from classicnets.models.vgg import to_timm
from classicnets.tools.untrained import stand_in_batchnorm
from classicnets.weights import (
    WeightsAdaptedWarning,
    WeightSpec,
    export_weights,
    get_weights,
    list_weights,
    load_weights,
)
from helpers import assert_same_values, foreign_state, meta_model

tvm = pytest.importorskip("torchvision.models")


# -- timm's VGG head -------------------------------------------------------------------------------


def test_timm_vgg_head_is_our_dense_evaluation() -> None:
    """Same weights; above 255 pixels timm's logits are our dense form's, not our FC form's."""
    timm = pytest.importorskip("timm")
    with torch.device("meta"):
        reference = timm.create_model("vgg11", pretrained=False)
    reference = reference.to_empty(device="cpu").eval()
    with torch.no_grad():  # one cheap pass instead of timm's initialisation of 133M weights
        for p in reference.parameters():
            p.uniform_(-0.02, 0.02)
    model = meta_model("vgg11").to_empty(device="cpu").eval()
    assert load_weights(model, reference.state_dict()).layout == "timm"

    x = torch.randn(1, 3, 256, 256)  # an 8x8 map: timm slides its 7x7 "FC" conv over it
    with torch.no_grad():
        expected = reference(x)
        dense, fc = model.as_fully_convolutional()(x), model(x)
    scale = float(expected.abs().max())
    assert scale > 0
    assert_same_values(expected, dense)
    assert float((expected - fc).abs().max()) > 1e-3 * scale  # our FC form pools 8x8 to 7x7


def test_to_timm_refuses_configurations_timm_lacks() -> None:
    with pytest.raises(ValueError, match="only VGG configurations A, B, D and E"):
        to_timm({"stage1.0.conv.weight": torch.zeros(64, 3, 3, 3)})
    for name in ("vgg16_c", "vgg11_lrn_bn"):
        for library in ("torchvision", "timm"):
            with pytest.raises(WeightsError, match=f"no {library} equivalent"):
                export_weights(meta_model(name), library)


# -- one configuration's checkpoint into another ---------------------------------------------------


@pytest.mark.parametrize("library", ["torchvision", "timm"])
def test_vgg11_checkpoint_into_vgg11_lrn_is_refused(library: str) -> None:
    """A-LRN has A's weights exactly (LRN has none): only the architecture check tells."""
    state = foreign_state(library, "vgg11")
    expected = rf"{library} vgg11, which is our vgg11\b.*the model is vgg11_lrn"
    with pytest.raises(ArchitectureMismatchError, match=expected):
        load_weights(meta_model("vgg11_lrn"), state)
    assert load_weights(meta_model("vgg11_lrn"), state, check_arch=False).ok  # e.g. to fine-tune


def test_vgg16_checkpoint_into_configuration_c_names_the_difference() -> None:
    with pytest.raises(WeightsMismatchError) as info:
        load_weights(meta_model("vgg16_c"), foreign_state("torchvision", "vgg16"))
    text = str(info.value)
    assert "stage3.2.conv.weight" in text and "256x256x3x3" in text and "256x256x1x1" in text
    assert "create_model('vgg16')" in text


def test_our_own_vgg_state_dict_and_a_wrong_explicit_layout() -> None:
    own = meta_model("vgg13_bn").state_dict()
    assert load_weights(meta_model("vgg13_bn"), own).layout == "classicnets"
    with pytest.raises(WeightsMismatchError, match=r"not in the torchvision layout.*vgg11/13"):
        load_weights(meta_model("vgg13_bn"), own, layout="torchvision")


# -- adapting the classifier and the first conv ----------------------------------------------------


@pytest.mark.parametrize("library", ["torchvision", "timm"])
def test_vgg_adapts_classes_and_channels(library: str) -> None:
    state = foreign_state(library, "vgg11_bn")
    with pytest.warns(WeightsAdaptedWarning, match="1000 classes and the model 10"):
        report = load_weights(meta_model("vgg11_bn", num_classes=10), state)
    assert report.reinitialised == ["head.classifier.fc.weight", "head.classifier.fc.bias"]
    with pytest.warns(WeightsAdaptedWarning, match="no classifier"):
        assert load_weights(meta_model("vgg11_bn", num_classes=0), state).ok
    with pytest.warns(WeightsAdaptedWarning, match="summed"):
        report = load_weights(meta_model("vgg11_bn", in_chans=1), state)
    assert report.adapted == ["stage1.0.conv.weight"]
    exported = export_weights(meta_model("vgg11_bn", num_classes=10), library)
    fc = "classifier.6" if library == "torchvision" else "head.fc"
    assert exported[f"{fc}.weight"].shape == (10, 4096)


def test_densenet_grayscale_and_other_classes() -> None:
    reference = stand_in_batchnorm(tvm.densenet121()).eval()
    model = classicnets.create_model("densenet121", in_chans=1, num_classes=10).eval()
    with pytest.warns(WeightsAdaptedWarning) as caught:
        report = load_weights(model, reference.state_dict())
    messages = " / ".join(str(w.message) for w in caught)
    assert "1000 classes and the model 10" in messages and "summed" in messages
    assert report.adapted == ["stem.conv.weight"]
    assert report.reinitialised == ["head.fc.weight", "head.fc.bias"]
    gray = torch.randn(1, 1, 64, 64)
    with torch.no_grad():  # the features of a gray image = those of the same image as RGB
        ours = model.forward_features(gray)
        theirs = reference.features(gray.repeat(1, 3, 1, 1))
    torch.testing.assert_close(torch.relu(theirs), ours)  # torchvision applies the ReLU later


# -- torchvision's published DenseNet files --------------------------------------------------------


def _published_layout(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """torchvision's DenseNet files name the layers "norm.1", "conv.2" (its loader renames them)."""
    out = {}
    for k, v in state.items():
        for i in ("1", "2"):
            k = k.replace(f".norm{i}.", f".norm.{i}.").replace(f".conv{i}.", f".conv.{i}.")
        out[k] = v
    return out


@pytest.fixture
def registered_file(
    cache: Path, cached_weights: Callable[..., WeightSpec]
) -> tuple[nn.Module, Path]:
    """A torchvision-layout densenet121 file in the published key names, already in the cache."""
    reference = stand_in_batchnorm(tvm.densenet121()).eval()
    state = _published_layout(reference.state_dict())
    spec = cached_weights(state, "densenet121", "test_published", layout="torchvision")
    return reference, cache / spec.filename


def test_published_densenet_key_names_load_through_the_registry(
    registered_file: tuple[nn.Module, Path],
) -> None:
    reference, cached = registered_file
    assert any(".denselayer1.norm.1." in k for k in torch.load(cached, weights_only=True))
    model = classicnets.create_model("densenet121", pretrained="test_published").eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x))


# -- the catalog against torchvision's own metadata ------------------------------------------------


def _tv_entries() -> list[str]:
    return [
        n
        for n in list_weights()
        if n.startswith(("vgg", "densenet")) and get_weights(n).source.startswith("torchvision ")
    ]


def test_catalog_has_every_torchvision_imagenet1k_v1_file() -> None:
    names = {n.split(".")[0] for n in _tv_entries()}
    expected = {f"vgg{d}{bn}" for d in (11, 13, 16, 19) for bn in ("", "_bn")}
    assert names == expected | {f"densenet{d}" for d in (121, 161, 169, 201)}
    for arch in names:
        assert classicnets.weights.default_weights(arch).tag == "tv_in1k"


@pytest.mark.parametrize("name", _tv_entries())
def test_catalog_entry_matches_torchvision_metadata(name: str) -> None:
    spec = get_weights(name)
    published = tvm.get_weight(spec.source.removeprefix("torchvision "))
    assert spec.url == published.url
    metrics = published.meta["_metrics"]["ImageNet-1K"]
    if spec.features_only:  # torchvision reports no accuracy (NaN) for features-only weights
        assert spec.accuracy is None and math.isnan(metrics["acc@1"])
    else:
        assert (spec.accuracy.top1, spec.accuracy.top5) == (metrics["acc@1"], metrics["acc@5"])
    assert spec.recipe == published.meta["recipe"]
    transform = published.transforms()
    pre = spec.preprocessing
    assert [pre.input_size] == transform.crop_size and [pre.resize_size] == transform.resize_size
    assert pre.interpolation == transform.interpolation.value
    assert list(pre.mean) == transform.mean and list(pre.std) == transform.std
    assert (
        sum(v.numel() for v in meta_model(spec.arch).parameters()) == published.meta["num_params"]
    )


def test_timm_densenet_entry_matches_its_pretrained_config() -> None:
    timm = pytest.importorskip("timm")
    spec, cfg = (
        get_weights("densenet121.ra_in1k"),
        timm.models.get_pretrained_cfg("densenet121.ra_in1k"),
    )
    pre = spec.preprocessing
    assert (3, pre.input_size, pre.input_size) == cfg.input_size
    assert pre.resize_size == math.floor(pre.input_size / cfg.crop_pct)
    assert pre.interpolation == cfg.interpolation and pre.mean == cfg.mean and pre.std == cfg.std
    assert spec.url.endswith(f"-{spec.sha256}.pth") and spec.layout == "timm"
    assert classicnets.weights.default_weights("densenet121").tag == "tv_in1k"
