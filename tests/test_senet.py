"""SENet specifics: the SE block and its ablation options, integration, Eq. 5, oracles."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import classicnets
from classicnets.layers.se import SEConfig, SqueezeExcite, se_hidden_channels
from classicnets.models.resnet import Bottleneck
from classicnets.models.senet import REDUCTION_TABLE, se_overhead
from classicnets.tools.summary import count_params
from helpers import meta_model


def _params(name: str, **options: object) -> int:
    return count_params(meta_model(name, **options))


# -- the SE block ------------------------------------------------------------------------------


def test_channel_rounding_rule() -> None:
    assert se_hidden_channels(256, 16) == 16
    assert se_hidden_channels(40, 16) == 2  # floor
    assert se_hidden_channels(8, 16) == 1  # at least one unit
    assert SqueezeExcite(1088).fc1.out_channels == 68
    for c, r in [(256, 16), (40, 16), (8, 16), (2048, 2)]:
        assert SEConfig(reduction=r).extra_params(c) == count_params(SEConfig(reduction=r).build(c))


@pytest.mark.parametrize("squeeze", ["avg", "max"])
@pytest.mark.parametrize("excitation", ["sigmoid", "relu", "tanh"])
def test_squeeze_and_excitation_options(squeeze: str, excitation: str) -> None:
    se = SEConfig(reduction=4, squeeze=squeeze, excitation=excitation).build(16)  # type: ignore[arg-type]
    nn.init.normal_(se.fc2.bias)  # so that ReLU and tanh gates are not trivially zero
    x = torch.randn(2, 16, 5, 5)
    z = x.mean((2, 3)) if squeeze == "avg" else x.amax((2, 3))
    hidden = torch.relu(z @ se.fc1.weight.flatten(1).T + se.fc1.bias)
    pre_gate = hidden @ se.fc2.weight.flatten(1).T + se.fc2.bias
    gate = {"sigmoid": torch.sigmoid, "relu": torch.relu, "tanh": torch.tanh}[excitation]
    with torch.no_grad():
        torch.testing.assert_close(se(x), x * gate(pre_gate)[:, :, None, None])
    assert se.fc1.out_channels == 4


def test_bad_se_options_get_clear_errors() -> None:
    with pytest.raises(ValueError, match="'avg' \\(paper\\) or 'max'"):
        SEConfig(squeeze="median")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'sigmoid' \\(paper\\), 'relu' or 'tanh'"):
        SEConfig(excitation="softmax")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="reduction ratio"):
        SEConfig(reduction=0)
    with pytest.raises(ValueError, match="se_position must be one of"):
        classicnets.create_model("seresnet18", se_position="middle")
    with pytest.raises(ValueError, match="no single 3x3"):
        classicnets.create_model("seresnet18", se_position="3x3")
    with pytest.raises(ValueError, match=r"stage numbers in 1\.\.4"):
        classicnets.create_model("seresnet18", se_stages=(0,))


# -- integration (Table 14, 15) -----------------------------------------------------------------


def _by_hand(block: Bottleneck, x: torch.Tensor, position: str) -> torch.Tensor:
    """The paper's Fig. 5 variants, written out from the block's own layers."""
    se = block.se
    inp = se(x) if position == "pre" else x
    mid = block.conv2(block.conv1(inp))
    branch = block.conv3(se(mid) if position == "3x3" else mid)
    if position == "standard":
        branch = se(branch)
    shortcut = block.shortcut(x)
    if position == "identity":
        shortcut = se(shortcut)
    out = torch.relu(branch + shortcut)
    return se(out) if position == "post" else out


@pytest.mark.parametrize("position", ["standard", "pre", "post", "identity", "3x3"])
def test_integration_variants(position: str) -> None:
    block = Bottleneck(
        32, 16, stride=2, se=SEConfig(reduction=4), se_position=position, cardinality=4
    ).eval()
    expected_channels = {"pre": 32, "3x3": 16}.get(position, 64)
    assert block.se.fc1.in_channels == expected_channels
    nn.init.normal_(block.se.fc2.weight)  # a gate far from constant
    x = torch.randn(2, 32, 8, 8)
    plain = Bottleneck(32, 16, stride=2, cardinality=4).eval()
    plain.load_state_dict(
        {k: v for k, v in block.state_dict().items() if ".se." not in k and not k.startswith("se.")}
    )
    with torch.no_grad():
        torch.testing.assert_close(block(x), _by_hand(block, x, position))
        assert not torch.allclose(block(x), plain(x))  # SE takes part


def test_se_after_the_3x3_and_stage_ablation_params() -> None:
    # Table 15 ("SE 3x3"): 25.8M printed; SE on the 3x3 outputs (64..512 channels)
    assert _params("seresnet50", se_position="3x3") == 25_718_228
    # Table 13: SE on one stage only. 'stage 2' is conv2_x = layer1.
    table13 = {1: 25.6e6, 2: 25.7e6, 3: 26.4e6}
    for stage, printed in table13.items():
        n = _params("seresnet50", se_stages=(stage,))
        assert abs(n - printed) <= 0.1e6, (stage, n)  # printed in 0.1M steps
    assert _params("seresnet50", se_stages=(1, 2, 3, 4)) == 28_088_024
    model = meta_model("seresnet50", se_stages=(4,))
    assert model.layer3[0].se is None and model.layer4[0].se is not None


# -- figures: Eq. 5 and Table 10 -------------------------------------------------------------------


def test_overhead_formula_eq5() -> None:
    # ResNet-50: N_s = 3, 4, 6, 3 blocks at C_s = 256, 512, 1024, 2048 output channels
    stages = [(3, 256), (4, 512), (6, 1024), (3, 2048)]
    weights = se_overhead(stages, reduction=16)
    assert weights == 2_514_944
    biases = sum(n * (c // 16 + c) for n, c in stages)
    assert biases == 16_048
    assert _params("seresnet50") - _params("resnet50") == weights + biases
    for r in (2, 4, 8, 32):
        expected = se_overhead(stages, r) + sum(n * (c // r + c) for n, c in stages)
        assert _params("seresnet50", se=SEConfig(reduction=r)) - _params("resnet50") == expected


def test_reduction_ratio_table10() -> None:
    computed = {r: _params("seresnet50", se=SEConfig(reduction=r)) for r in REDUCTION_TABLE}
    assert computed == {
        2: 45_699_240,
        4: 35_635_688,
        8: 30_603_912,
        16: 28_088_024,
        32: 26_830_080,
    }
    for r, (printed, _, _) in REDUCTION_TABLE.items():
        # the paper prints 0.1M steps and rounds r = 4, 8, 32 up (35.64 -> 35.7)
        assert abs(computed[r] - printed) <= 0.1e6, r


# -- stride placement and SENet-154's modifications ------------------------------------------------


def test_stride_placement_per_family() -> None:
    seresnet = meta_model("seresnet50")
    assert seresnet.layer2[0].conv1.conv.stride == (2, 2)  # the ResNet paper's models
    assert seresnet.maxpool.ceil_mode and seresnet.maxpool.padding == 0  # Caffe pooling
    seresnext = meta_model("seresnext50_32x4d")
    assert seresnext.layer2[0].conv2.conv.stride == (2, 2)  # the ResNeXt paper's
    assert seresnext.layer2[0].conv2.conv.groups == 32


def test_senet154_modifications() -> None:
    model = meta_model("senet154")
    stem = [model.stem.conv1.conv, model.stem.conv2.conv, model.stem.conv3.conv]
    assert [(c.out_channels, c.kernel_size, c.stride) for c in stem] == [
        (64, (3, 3), (2, 2)),
        (64, (3, 3), (1, 1)),
        (128, (3, 3), (1, 1)),
    ]
    first = model.layer1[0]
    assert first.conv1.conv.out_channels == 128  # halved: 64 x 4 = 256 / 2
    assert (first.conv2.conv.out_channels, first.conv2.conv.groups) == (256, 64)
    assert first.shortcut.conv.kernel_size == (1, 1)  # not a downsampling projection
    for i in (2, 3, 4):
        proj = getattr(model, f"layer{i}")[0].shortcut.conv
        assert (proj.kernel_size, proj.stride, proj.padding) == ((3, 3), (2, 2), (1, 1))
        assert getattr(model, f"layer{i}")[0].conv2.conv.stride == (2, 2)
    assert model.head.drop.p == 0.2
    assert [len(getattr(model, f"layer{i}")) for i in range(1, 5)] == [3, 8, 36, 3]
