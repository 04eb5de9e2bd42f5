"""ResNet specifics: shortcut options, stride placement, init, CIFAR nets.

The torchvision/timm oracles for every foreign ResNet are in test_weights.py (FOREIGN_ARCHS).
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import classicnets
from classicnets.models.resnet import (
    IMAGENET_DEPTHS,
    Bottleneck,
    ZeroPadShortcut,
    make_shortcut,
)
from classicnets.tools.summary import count_params
from helpers import meta_model


def _blocks(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if hasattr(m, "shortcut")]


@pytest.mark.parametrize("depth", sorted(IMAGENET_DEPTHS))
def test_shortcut_options_for_every_depth(depth: int) -> None:
    a, b, c = (meta_model(f"resnet{depth}", shortcut=k) for k in "ABC")
    assert not any(
        isinstance(m.shortcut, nn.Module) and count_params(m.shortcut) for m in _blocks(a)
    )
    assert all(count_params(m.shortcut) > 0 for m in _blocks(c))
    projections_b = [m for m in _blocks(b) if count_params(m.shortcut)]
    # B projects exactly where dimensions change: the first block of each stage that changes them
    expected = 4 if IMAGENET_DEPTHS[depth][0] == "bottleneck" else 3
    assert len(projections_b) == expected
    assert count_params(a) < count_params(b) < count_params(c)


def test_resnet34_shortcut_param_counts() -> None:
    counts = [count_params(meta_model("resnet34", shortcut=k)) for k in "ABC"]
    assert counts == [21_623_848, 21_797_672, 22_716_840]


def test_option_a_zero_pads_and_subsamples() -> None:
    x = torch.randn(2, 4, 6, 6)
    y = ZeroPadShortcut(extra_channels=4, stride=2)(x)
    assert y.shape == (2, 8, 3, 3)
    torch.testing.assert_close(y[:, :4], x[:, :, ::2, ::2])
    assert torch.count_nonzero(y[:, 4:]) == 0
    assert isinstance(make_shortcut("A", 16, 16, 1), nn.Identity)
    with pytest.raises(ValueError, match="cannot reduce"):
        make_shortcut("A", 32, 16, 1)


def test_stride_placement_paper_vs_v1_5() -> None:
    paper = classicnets.create_model("resnet50")
    v15 = classicnets.create_model("resnet50_v1_5")
    first = paper.layer2[0]
    assert isinstance(first, Bottleneck)
    assert first.conv1.conv.stride == (2, 2) and first.conv2.conv.stride == (1, 1)
    assert v15.layer2[0].conv1.conv.stride == (1, 1) and v15.layer2[0].conv2.conv.stride == (2, 2)
    assert count_params(paper) == count_params(v15)
    x = torch.randn(1, 3, 64, 64)
    assert paper.eval()(x).shape == v15.eval()(x).shape


def test_zero_init_last_and_he_init() -> None:
    model = classicnets.create_model("resnet50", zero_init_last=True)
    assert all(float(b.conv3.bn.weight.detach().abs().sum()) == 0 for b in _blocks(model))
    basic = classicnets.create_model("resnet20", zero_init_last=True)
    assert all(float(b.conv2.bn.weight.detach().abs().sum()) == 0 for b in _blocks(basic))
    w = classicnets.create_model("resnet50").layer3[0].conv2.conv.weight.detach()
    fan_out = w.shape[0] * w.shape[2] * w.shape[3]
    assert abs(float(w.std()) / (2 / fan_out) ** 0.5 - 1) < 0.05


def test_zero_init_makes_the_deepest_net_finite_at_init() -> None:
    model = classicnets.create_model("resnet1202", zero_init_last=True).eval()
    with torch.no_grad():
        assert torch.isfinite(model(torch.randn(2, 3, 32, 32))).all()


def test_cifar_layout() -> None:
    model = classicnets.create_model("resnet56")
    assert [f.channels for f in model.feature_info] == [16, 16, 32, 64]
    assert [f.reduction for f in model.feature_info] == [1, 1, 2, 4]
    assert len(model.layer1) == 9 and model.min_input_size == 4
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 6 * 9 + 1  # 6n+2 layers: the convs plus the fc
