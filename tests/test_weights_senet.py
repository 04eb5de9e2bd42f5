"""Weights for ResNeXt and SENet: how timm's SE networks differ from the paper's (the function,
the SE widths), and the catalog's entries. (The oracles of every FOREIGN_ARCHS entry, both
directions, and the variant named when a checkpoint fits another network are in test_weights.py.)
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import classicnets
from classicnets.errors import WeightsMismatchError
from classicnets.layers.se import se_hidden_channels
from classicnets.tools.untrained import stand_in_batchnorm
from classicnets.weights import get_weights, load_weights
from helpers import foreign_state

timm = pytest.importorskip("timm")


def _max_diff(a: nn.Module, b: nn.Module, size: int = 64) -> tuple[float, float]:
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        expected, got = a(x), b(x)
    return float((expected - got).abs().max()), float(expected.abs().max())


@pytest.mark.parametrize(
    ("theirs", "paper"),
    [("legacy_seresnet18", "seresnet18"), ("seresnext50_32x4d", "seresnext50_32x4d")],
)
def test_the_differences_change_the_function(theirs: str, paper: str) -> None:
    """Loaded anyway (check_arch=False), the paper's network computes something else: the ReLU
    before SE (legacy SE-ResNet-18), the padded stem max pool alone (SE-ResNeXt-50)."""
    torch.manual_seed(0)
    reference = stand_in_batchnorm(timm.create_model(theirs)).eval()
    model = classicnets.create_model(paper).eval()
    assert load_weights(model, reference.state_dict(), check_arch=False).ok
    diff, scale = _max_diff(reference, model)
    assert diff > 1e-3 * max(scale, 1.0)


def test_timm_seresnet18_into_the_paper_seresnet18_shows_the_se_widths() -> None:
    """timm rounds 64 // 16 = 4 hidden SE units up to 8: a shape mismatch that names the variant."""
    state = foreign_state("timm", "seresnet18")
    with torch.device("meta"):
        model = classicnets.create_model("seresnet18")
    with pytest.raises(WeightsMismatchError) as info:
        load_weights(model, state)
    text = str(info.value)
    assert "layer1.0.se.fc1.weight" in text and "8x64x1x1" in text and "4x64x1x1" in text
    assert "create_model('seresnet18_timm')" in text


def test_timm_se_width_rounding_is_timms() -> None:
    """SEConfig(divisor=8) gives timm's make_divisible widths, the default the paper's floor."""
    from timm.layers import make_divisible

    for channels in (8, 24, 64, 96, 100, 128, 200, 256, 1000, 2048):
        theirs = make_divisible(channels / 16, 8, round_limit=0.0)
        assert se_hidden_channels(channels, 16, divisor=8) == theirs, channels
    assert se_hidden_channels(64, 16) == 4 and se_hidden_channels(100, 16) == 6
    with torch.device("meta"):
        model = classicnets.create_model("seresnet18_timm")
        legacy = classicnets.create_model("seresnet18_timm_legacy")
    assert model.layer1[0].se.fc1.out_channels == 8
    assert legacy.layer1[0].se.fc1.out_channels == 4 and legacy.layer1[0].se.input_relu


def test_registered_weights_resolve_to_the_right_layout() -> None:
    assert classicnets.weights.default_weights("resnext50_32x4d").tag == "tv_in1k"
    assert get_weights("resnext101_32x8d.tv2_in1k").preprocessing.resize_size == 232
    assert get_weights("resnext50_32x4d.tv_in1k").preprocessing.resize_size == 256
    for arch in ("seresnet50", "seresnet101", "seresnet152", "seresnext50_32x4d", "senet154"):
        spec = classicnets.weights.default_weights(arch)
        assert spec is not None and spec.layout == "timm" and spec.tag == "legacy_in1k"
    assert classicnets.weights.default_weights("seresnet18") is None


def test_timm_se_catalog_entries_match_their_pretrained_config() -> None:
    """URL, input size, crop, interpolation, mean/std as timm's own pretrained_cfg says."""
    specs = [
        get_weights(n)
        for n in classicnets.weights.list_weights("se*_timm*")
        if n.split(".")[0].endswith(("_timm", "_timm_legacy"))
    ]
    assert len(specs) == 9
    for spec in specs:
        theirs = spec.source.split()[1]  # "timm legacy_seresnet18.in1k (...)"
        cfg = timm.models.get_pretrained_cfg(theirs)
        pre = spec.preprocessing
        assert spec.url == cfg.url and spec.layout == "timm", spec.name
        assert (pre.input_size, pre.interpolation) == (cfg.input_size[1], cfg.interpolation)
        assert pre.resize_size == int(pre.input_size / cfg.crop_pct), spec.name
        assert (pre.mean, pre.std) == (cfg.mean, cfg.std), spec.name
        entry = classicnets.weights.foreign_archs(ours=spec.arch, library="timm")
        assert [e.name for e in entry] == [theirs.split(".")[0]], spec.name
