"""Weights for the Inception families: auxiliary heads both ways, the input each entry states,
TF's background class, adaptations, and the catalog against torchvision's and timm's metadata.

The oracles (their model with random weights -> ours -> same logits, and back; auxiliary heads
included, in training mode) run for every entry of FOREIGN_ARCHS in test_weights.py, which also
checks that a release's checkpoint, loaded into the paper's network, names the variant to build;
these tests cover what is particular to these families.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch import nn

import classicnets
from classicnets.layers import IMAGENET
from classicnets.tools.untrained import stand_in_batchnorm
from classicnets.weights import (
    FOREIGN_ARCHS,
    WeightsAdaptedWarning,
    WeightSpec,
    export_weights,
    get_weights,
    load_weights,
    read_file,
)
from classicnets.weights.metadata import read_metadata
from helpers import assert_same_values, foreign_state, meta_model

tvm = pytest.importorskip("torchvision.models")


def _logits(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        out = model(x)
    return out[0] if isinstance(out, tuple) else out  # timm's inception_v3 with its aux head


def _torchvision_with_aux(name: str, seed: int) -> nn.Module:
    """torchvision's ``name`` with its auxiliary heads: weights drawn after ``seed``, random BN."""
    torch.manual_seed(seed)
    model = tvm.get_model(name, weights=None, aux_logits=True, init_weights=False)
    return stand_in_batchnorm(model, seed=0).eval()


@pytest.fixture(scope="module")
def tv_googlenet() -> nn.Module:
    return _torchvision_with_aux("googlenet", 0)


@pytest.fixture(scope="module")
def tv_inception_v3() -> nn.Module:
    return _torchvision_with_aux("inception_v3", 1)


def _without_aux(state: dict[str, torch.Tensor], *prefixes: str) -> dict[str, torch.Tensor]:
    return {k: v for k, v in state.items() if not k.startswith(prefixes)}


# -- auxiliary heads: a checkpoint with them into a model without, and the reverse ---------------


@pytest.mark.parametrize(
    "ours,theirs,heads,size",
    [
        ("googlenet_torchvision", "googlenet", ["aux1", "aux2"], 64),
        ("inception_v3", "inception_v3", ["aux"], 75),
    ],
)
def test_torchvision_checkpoint_into_the_inference_network_and_back(
    request: pytest.FixtureRequest, ours: str, theirs: str, heads: list[str], size: int
) -> None:
    """Their released file carries aux heads; our aux_logits=False network takes the rest.

    Fed as the registered entry says ([-1, 1] pixels), ours gives what torchvision gives on
    ImageNet-normalised pixels with transform_input=True, its setting for these weights.
    """
    reference = request.getfixturevalue(f"tv_{theirs}")
    model = classicnets.create_model(ours, aux_logits=False).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("error", WeightsAdaptedWarning)  # the inference network: no warning
        report = load_weights(model, reference.state_dict())
    assert report.ok and report.layout == "torchvision"
    assert report.aux_dropped == heads and not report.aux_initialised
    assert "left out: " + ", ".join(heads) in report.summary()

    pre = get_weights(f"{ours}.tv_in1k").preprocessing
    torchvision_way = tvm.get_model(
        theirs, weights=None, aux_logits=True, transform_input=True, init_weights=False
    ).eval()
    torchvision_way.load_state_dict(reference.state_dict())
    pixels = torch.rand(2, 3, size, size)

    def normalise(mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
        return (pixels - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)

    expected = _logits(torchvision_way, normalise(IMAGENET.mean, IMAGENET.std))
    assert_same_values(expected, _logits(model, normalise(pre.mean, pre.std)))

    # back: the inference network exported loads strictly into theirs built without aux heads
    stand_in_batchnorm(model, seed=5).eval()
    exported = export_weights(model, "torchvision")
    assert not any(k.startswith(("aux", "AuxLogits")) for k in exported)
    back = tvm.get_model(theirs, weights=None, aux_logits=False, init_weights=False)
    back.load_state_dict(exported, strict=True)
    x = torch.randn(1, 3, size, size)
    assert_same_values(_logits(model, x), _logits(back.eval(), x))


@pytest.mark.filterwarnings("ignore:.*meta parameter:UserWarning")  # torch, on meta models
@pytest.mark.parametrize(
    "ours,theirs,heads",
    [
        ("googlenet_torchvision", "googlenet", ["aux1", "aux2"]),
        ("inception_v3", "inception_v3", ["aux"]),
    ],
)
def test_checkpoint_without_aux_heads_leaves_ours_initialised(
    ours: str, theirs: str, heads: list[str]
) -> None:
    """torchvision's pretrained models drop their aux heads: their state dict still loads."""
    with torch.device("meta"):
        reference = tvm.get_model(theirs, weights=None, aux_logits=True, init_weights=False)
        model = classicnets.create_model(ours)
    state = _without_aux(reference.state_dict(), "aux1.", "aux2.", "AuxLogits.")
    with pytest.warns(
        WeightsAdaptedWarning, match=rf"auxiliary classifier\(s\) {', '.join(heads)}"
    ):
        report = load_weights(model, state)
    assert report.ok and report.aux_initialised == heads and not report.missing


def test_export_mirrors_aux_logits_for_each_library() -> None:
    for e in (e for e in FOREIGN_ARCHS if e.ours in ("googlenet_torchvision", "inception_v3")):
        assert e.mirror == ("aux_logits",), e
    with torch.device("meta"):
        plain = classicnets.create_model("inception_v3", aux_logits=False)
        full = classicnets.create_model("inception_v3")
    assert not any(k.startswith("AuxLogits") for k in export_weights(plain, "timm"))
    assert any(k.startswith("AuxLogits.fc") for k in export_weights(full, "timm"))


# -- other class counts, no classifier, other input channels ---------------------------------------


def test_other_num_classes_reinitialises_main_and_aux_classifiers(tv_googlenet: nn.Module) -> None:
    model = classicnets.create_model("googlenet_torchvision", num_classes=10)
    with pytest.warns(WeightsAdaptedWarning, match=r"aux1\.head\.fc, aux2\.head\.fc, head\.fc"):
        report = load_weights(model, tv_googlenet.state_dict())
    assert sorted(report.reinitialised) == sorted(
        f"{m}.{p}" for m in ("head.fc", "aux1.head.fc", "aux2.head.fc") for p in ("weight", "bias")
    )
    assert (
        model.aux2.head.fc.weight.shape == (10, 1024) and not model.aux2.head.fc.bias.detach().any()
    )
    torch.testing.assert_close(model.aux1.body.fc.weight, tv_googlenet.aux1.fc1.weight)
    torch.testing.assert_close(
        model.inception5b.b5x5.conv.conv.weight, tv_googlenet.inception5b.branch3[1].conv.weight
    )


def test_no_classifier_drops_main_and_aux_classifiers(tv_googlenet: nn.Module) -> None:
    model = classicnets.create_model("googlenet_torchvision", num_classes=0).eval()
    with pytest.warns(WeightsAdaptedWarning, match="no classifier"):
        assert load_weights(model, tv_googlenet.state_dict()).ok
    features = tvm.googlenet(weights=None, aux_logits=False, init_weights=False)
    features.load_state_dict(_without_aux(tv_googlenet.state_dict(), "aux"))
    features.fc = nn.Identity()
    x = torch.randn(1, 3, 64, 64)
    assert_same_values(_logits(features.eval(), x), _logits(model, x))


def test_grayscale_googlenet_and_inception_v3(
    tv_googlenet: nn.Module, tv_inception_v3: nn.Module
) -> None:
    for name, reference, size in (
        ("googlenet_torchvision", tv_googlenet, 64),
        ("inception_v3", tv_inception_v3, 75),
    ):
        model = classicnets.create_model(name, in_chans=1).eval()
        with pytest.warns(WeightsAdaptedWarning, match="summed"):
            report = load_weights(model, reference.state_dict())
        assert report.ok and len(report.adapted) == 1, report.adapted
        gray = torch.randn(1, 1, size, size)
        assert_same_values(_logits(reference, gray.repeat(1, 3, 1, 1)), _logits(model, gray))


@pytest.mark.parametrize(
    "ours,theirs,in_chans,how",
    [
        ("inception_v4_tf", "inception_v4", 4, "repeated"),
        ("inception_resnet_v2_tf", "inception_resnet_v2", 1, "summed"),
    ],
)
def test_timm_first_conv_adapts(ours: str, theirs: str, in_chans: int, how: str) -> None:
    state = foreign_state("timm", theirs)
    model = meta_model(ours, in_chans=in_chans)
    with pytest.warns(WeightsAdaptedWarning, match=how):
        report = load_weights(model, state)
    assert report.ok and report.adapted == ["stem_convs.0.conv.weight"]


@pytest.mark.filterwarnings("ignore:.*meta parameter:UserWarning")  # torch, on meta models
@pytest.mark.parametrize(
    "name", ["googlenet_torchvision", "inception_v3", "inception_v4_tf", "inception_resnet_v2_tf"]
)
def test_our_own_state_dict_is_detected_as_ours(name: str) -> None:
    """inception_v4's timm converter rejects other layouts: detection must go on to ours."""
    with torch.device("meta"):
        model = classicnets.create_model(name)
    report = load_weights(model, model.state_dict())
    assert report.ok and report.layout == "classicnets"


# -- the catalog: what the publishers say, TF's background class ----------------------------------


@pytest.mark.parametrize(
    "name,enum",
    [
        ("googlenet_torchvision.tv_in1k", "GoogLeNet_Weights.IMAGENET1K_V1"),
        ("inception_v3.tv_in1k", "Inception_V3_Weights.IMAGENET1K_V1"),
    ],
)
def test_torchvision_entries_match_its_metadata(name: str, enum: str) -> None:
    spec, weights = get_weights(name), tvm.get_weight(enum)
    transform = weights.transforms()
    assert spec.url == weights.url and spec.sha256 in weights.url and spec.layout == "torchvision"
    metrics = weights.meta["_metrics"]["ImageNet-1K"]
    assert (spec.accuracy.top1, spec.accuracy.top5) == (metrics["acc@1"], metrics["acc@5"])
    pre = spec.preprocessing
    assert [pre.input_size] == transform.crop_size and [pre.resize_size] == transform.resize_size
    assert pre.interpolation == transform.interpolation.value
    # the network's own input: [-1, 1] pixels, and torchvision's transform_input named
    assert pre.mean == pre.std == (0.5, 0.5, 0.5) and "transform_input=True" in pre.note
    assert "transform_input=True" in pre.describe() and pre.as_dict()["note"] == pre.note
    assert classicnets.weights.default_weights(spec.arch) == spec


@pytest.mark.parametrize(
    "name,theirs",
    [
        ("inception_v3.tf_in1k", "inception_v3.tf_in1k"),
        ("inception_v4_tf.tf_in1k", "inception_v4.tf_in1k"),
        ("inception_resnet_v2_tf.tf_in1k", "inception_resnet_v2.tf_in1k"),
    ],
)
def test_timm_entries_match_its_pretrained_config(name: str, theirs: str) -> None:
    timm = pytest.importorskip("timm")
    spec, cfg = get_weights(name), timm.models.get_pretrained_cfg(theirs)
    pre = spec.preprocessing
    assert (3, pre.input_size, pre.input_size) == cfg.input_size
    assert pre.resize_size == math.floor(pre.input_size / cfg.crop_pct)
    assert pre.interpolation == cfg.interpolation and pre.mean == cfg.mean and pre.std == cfg.std
    assert spec.layout == "timm" and spec.label_offset == 1 and spec.num_classes == cfg.num_classes
    assert spec.url.endswith(f"-{spec.sha256}.pth") and theirs in spec.source
    assert any(e.library == "timm" and e.ours == spec.arch for e in FOREIGN_ARCHS)


@pytest.fixture
def tf_style_weights(cached_weights: Callable[..., WeightSpec]) -> tuple[str, nn.Module]:
    """A registered timm-layout file with TF's 1001-row classifier, already in the cache."""
    timm = pytest.importorskip("timm")
    torch.manual_seed(4)
    reference = stand_in_batchnorm(
        timm.create_model("inception_v3", num_classes=1001), seed=0
    ).eval()
    spec = cached_weights(
        reference.state_dict(),
        "inception_v3",
        "test_background",
        layout="timm",
        preprocessing=get_weights("inception_v3.tf_in1k").preprocessing,
        label_offset=1,
    )
    return spec.name, reference


def test_background_class_is_dropped(tf_style_weights: tuple[str, nn.Module]) -> None:
    name, reference = tf_style_weights
    model = classicnets.create_model("inception_v3", aux_logits=False).eval()
    report = load_weights(model, name)
    assert report.ok and model.head.fc.weight.shape == (1000, 2048)
    x = torch.randn(1, 3, 75, 75)
    assert_same_values(_logits(reference, x)[:, 1:], _logits(model, x))


def test_convert_writes_the_network_the_source_has(tmp_path: Path, tv_googlenet: nn.Module) -> None:
    """A source without aux heads is written as aux_logits=False, not with initialised heads."""
    from classicnets.cli import main

    torch.save(_without_aux(tv_googlenet.state_dict(), "aux"), tmp_path / "tv.pth")
    out = tmp_path / "g.safetensors"
    with warnings.catch_warnings():
        warnings.simplefilter("error", WeightsAdaptedWarning)
        argv = ["convert", str(tmp_path / "tv.pth"), "--arch", "googlenet_torchvision"]
        assert main([*argv, "--out", str(out)]) == 0
    tensors, meta = read_file(out)
    assert not any(k.startswith("aux") for k in tensors)
    assert read_metadata(meta)["options"] == {"aux_logits": False}
    model = classicnets.create_model("googlenet_torchvision", aux_logits=False, pretrained=str(out))
    x = torch.randn(1, 3, 64, 64)
    assert_same_values(_logits(tv_googlenet, x), _logits(model.eval(), x))
