"""SE on the non-ResNet families: where the block sits, and what it adds (SENet Eq. 5 style).

The expected SE sites are written from the papers' tables (channels of every SE block), not
from the models, so the counts check the integration against the papers.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import classicnets
from classicnets.layers import ConcatBranches, SEConfig
from classicnets.models.densenet import DenseLayer
from classicnets.models.inception_v4 import RESNET_V2_A, InceptionResNetModule
from classicnets.models.senet import se_overhead
from classicnets.models.vgg import SEConvLayer
from classicnets.tools.summary import profile_model
from helpers import meta_model

SE = SEConfig()  # the paper's block: r = 16

# The channels of every SE block each model gets, from the papers' tables.
GOOGLENET = [256, 480, 512, 512, 512, 528, 832, 832, 1024]  # GoogLeNet Table 1, 3a-5b
BN_INCEPTION = [256, 320, 576, 576, 576, 608, 608, 1056, 1024, 1024]  # Figure 5's columns
INCEPTION_V3 = [256, 288, 288, 768, 768, 768, 768, 768, 1280, 2048, 2048]  # mixed5b-7c
INCEPTION_V4 = [384] * 4 + [1024] + [1024] * 7 + [1536] + [1536] * 3  # A, Red-A, B, Red-B, C
INCEPTION_RESNET_V2 = [384] * 5 + [1152] * 10 + [2144] * 5  # residual branches only
VGG16 = [64] * 2 + [128] * 2 + [256] * 3 + [512] * 6  # Table 1, configuration D
DENSENET121 = [32] * (6 + 12 + 24 + 16)  # each dense layer's k new maps

CASES = [
    ("googlenet", "googlenet", {}, GOOGLENET, 224),
    ("googlenet_bn", "googlenet_bn", {}, GOOGLENET, 224),
    ("bn_inception", "se_bn_inception", {"se": None}, BN_INCEPTION, 224),
    ("inception_v3", "inception_v3", {}, INCEPTION_V3, 299),
    ("inception_v4", "inception_v4", {}, INCEPTION_V4, 299),
    ("inception_resnet_v2", "se_inception_resnet_v2", {"se": None}, INCEPTION_RESNET_V2, 299),
    ("vgg16_bn", "se_vgg16_bn", {"se": None}, VGG16, 224),
    ("densenet121", "densenet121", {}, DENSENET121, 224),
]


def _profile(name: str, size: int, **options: object) -> tuple[int, int]:
    model = meta_model(name, **options)
    p = profile_model(model, (size, size), 3)
    return p.params, p.macs


def _se_macs(channels: list[int], se: SEConfig) -> int:
    """The two FC layers on the pooled 1x1 map: C x C/r mult-adds each."""
    return sum(2 * c * (c // se.reduction) for c in channels)


@pytest.mark.parametrize(("base", "with_se", "base_options", "channels", "size"), CASES)
def test_se_adds_the_expected_params_and_mult_adds(
    base: str, with_se: str, base_options: dict, channels: list[int], size: int
) -> None:
    options = {} if base != with_se else {"se": SE}
    params0, macs0 = _profile(base, size)
    params1, macs1 = _profile(with_se, size, **options)
    assert params1 - params0 == sum(SE.extra_params(c) for c in channels)
    # SENet Eq. 5: the SE weights are (2/r) * sum C^2 (every C here is a multiple of r = 16)
    assert params1 - params0 - sum(c + c // 16 for c in channels) == se_overhead(
        [(1, c) for c in channels]
    )
    assert macs1 - macs0 == _se_macs(channels, SE)
    if base == with_se:  # the registered SE variants' builders switch it off with se=None
        return
    assert _profile(with_se, size, **base_options) == (params0, macs0)


def test_reduction_ratio_and_rounding_reach_every_family() -> None:
    se = SEConfig(reduction=64)
    params0, _ = _profile("densenet121", 224)
    params1, _ = _profile("densenet121", 224, se=se)
    # k = 32 < r = 64: the hidden width rounds up to one unit (max(1, C // r))
    assert params1 - params0 == len(DENSENET121) * (2 * 32 * 1 + 1 + 32)


# -- where the block sits ------------------------------------------------------------------------


def _gate_to(se: nn.Module, logit: float) -> None:
    """Make an SE block's sigmoid gate the constant sigmoid(logit): fc2 -> zero weights."""
    nn.init.zeros_(se.fc2.weight)
    nn.init.constant_(se.fc2.bias, logit)


def test_se_inception_module_recalibrates_the_concatenation() -> None:
    torch.manual_seed(0)
    block = classicnets.models.bn_inception.BNInceptionBlock(
        16, 8, 8, 8, 8, 8, pool="avg", pool_proj=8
    ).eval()
    x = torch.randn(2, 16, 9, 9)
    plain = block(x)
    se = SEConfig(reduction=4).build(block.out_channels).eval()
    block.set_se(se)
    assert list(block.keys())[-1] == "se"
    torch.testing.assert_close(block(x), se(plain))
    with pytest.raises(ValueError, match="reserved"):
        ConcatBranches(se=nn.Identity())


def test_se_inception_resnet_module_is_on_the_residual_before_scaling() -> None:
    torch.manual_seed(0)
    module = InceptionResNetModule(32, RESNET_V2_A, scale=0.17, se=SEConfig(reduction=4)).eval()
    x = torch.randn(2, 32, 7, 7)
    expected = torch.relu(x + 0.17 * module.se(module.up(module.branches(x))))
    torch.testing.assert_close(module(x), expected)
    # the gate's input is the unscaled residual: with the gate at 0.5 the residual halves
    _gate_to(module.se, 0.0)
    residual = module.up(module.branches(x))
    torch.testing.assert_close(module(x), torch.relu(x + 0.17 * 0.5 * residual))


def test_se_vgg_layer_follows_the_relu() -> None:
    torch.manual_seed(0)
    layer = SEConvLayer(3, 16, 3, se=SEConfig(reduction=4), norm=True).eval()
    x = torch.randn(2, 3, 8, 8)
    torch.testing.assert_close(layer(x), layer.se(layer.act(layer.bn(layer.conv(x)))))


def test_se_dense_layer_recalibrates_only_its_new_maps() -> None:
    torch.manual_seed(0)
    plain = DenseLayer(16, 8, bottleneck=True).eval()
    with_se = DenseLayer(16, 8, bottleneck=True, se=SEConfig(reduction=4)).eval()
    missing, unexpected = with_se.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and all(".se." in f".{k}" for k in missing)
    features = [torch.randn(2, 16, 6, 6)]
    torch.testing.assert_close(with_se(features), with_se.se(plain(features)))
    assert with_se(features).shape == (2, 8, 6, 6)


@pytest.mark.parametrize(
    ("name", "options", "size"),
    [("googlenet_bn", {"aux_logits": False}, 64), ("densenet_bc100_k12", {}, 32)],
)
def test_se_model_with_open_gates_is_the_base_model(name: str, options: dict, size: int) -> None:
    """Base weights load into the SE model (only ``.se.`` keys missing); with every gate at 1 the
    SE model computes exactly the base network."""
    torch.manual_seed(0)
    base = classicnets.create_model(name, **options).eval()
    model = classicnets.create_model(name, se=SE, **options).eval()
    missing, unexpected = model.load_state_dict(base.state_dict(), strict=False)
    assert not unexpected and missing and all(".se." in k for k in missing)
    blocks = [m for n, m in model.named_modules() if n.endswith(".se")]
    assert blocks
    for se in blocks:
        _gate_to(se, 100.0)  # sigmoid(100) == 1.0 in float32
    x = torch.randn(1, 3, size, size)
    torch.testing.assert_close(model(x), base(x), rtol=1e-4, atol=1e-4)
