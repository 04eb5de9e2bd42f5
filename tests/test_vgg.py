"""VGG specifics: Table 1 layouts, LRN, the head, dense evaluation, torchvision oracle.

VGG's FC-4096 alone holds 102M weights, so models are built on the meta device wherever only the
structure matters, and the oracle fills one model with random weights instead of initialising
two.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import classicnets
from classicnets.errors import InputShapeError
from classicnets.models.vgg import CONFIGS, VGG, VGGHead, from_torchvision
from helpers import meta_model

NAMES = {
    "A": "vgg11",
    "A-LRN": "vgg11_lrn",
    "B": "vgg13",
    "C": "vgg16_c",
    "D": "vgg16",
    "E": "vgg19",
}
WEIGHT_LAYERS = {"A": 11, "A-LRN": 11, "B": 13, "C": 16, "D": 16, "E": 19}


def _layers(model: nn.Module, kind: type[nn.Module]) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, kind)]


@pytest.mark.parametrize("config", CONFIGS)
def test_table1_layouts(config: str) -> None:
    model = meta_model(NAMES[config], VGG)
    convs = _layers(model, nn.Conv2d)
    linears = _layers(model, nn.Linear)
    assert len(convs) + len(linears) == WEIGHT_LAYERS[config]
    assert [m.out_features for m in linears] == [4096, 4096, 1000]
    assert all(c.stride == (1, 1) and c.padding == (c.kernel_size[0] // 2,) * 2 for c in convs)
    assert len(_layers(model, nn.MaxPool2d)) == 5
    assert [f.channels for f in model.feature_info] == [64, 128, 256, 512, 512]
    assert [f.reduction for f in model.feature_info] == [2, 4, 8, 16, 32]
    kernels = [c.kernel_size[0] for c in convs]
    if config == "C":  # a 1x1 conv closes blocks 3, 4 and 5; D has a 3x3 there
        assert [getattr(model, f"stage{b}")[-2].conv.kernel_size for b in (3, 4, 5)] == [(1, 1)] * 3
        assert kernels.count(1) == 3
    else:
        assert set(kernels) == {3}
    bn = meta_model(f"{NAMES[config]}_bn", VGG)
    assert len(_layers(bn, nn.BatchNorm2d)) == len(convs)
    assert all(c.bias is not None for c in _layers(bn, nn.Conv2d))  # torchvision keeps them
    assert not _layers(model, nn.BatchNorm2d)


def test_lrn_is_krizhevskys() -> None:
    """A-LRN: one LRN after the first conv's ReLU, b = a / (2 + 1e-4 * sum a^2)^0.75 over 5 maps."""
    model = meta_model("vgg11_lrn", VGG)
    lrns = _layers(model, nn.LocalResponseNorm)
    assert len(lrns) == 1 and model.stage1[1] is lrns[0]
    lrn = lrns[0].to_empty(device="cpu")
    a = torch.rand(1, 8, 3, 3) * 20
    squares = torch.nn.functional.pad(a.pow(2), (0, 0, 0, 0, 2, 2))
    window = sum(squares[:, i : i + 8] for i in range(5))
    expected = a / (2 + 1e-4 * window) ** 0.75
    torch.testing.assert_close(lrn(a), expected)


def test_head_protocol_and_reset_replaces_only_the_last_layer() -> None:
    model = meta_model("vgg16", VGG, num_classes=10)
    head = model.head
    assert isinstance(head, VGGHead)
    fc6, fc7 = head.fc6, head.fc7
    assert model.get_classifier() is head.fc and head.fc.out_features == 10
    assert model.num_features == 512 and model.head_hidden_size == 4096
    model.reset_classifier(7)
    assert head.fc6 is fc6 and head.fc7 is fc7
    assert isinstance(head.fc, nn.Linear) and head.fc.out_features == 7
    assert head.fc.weight.device.type == "meta"
    model.reset_classifier(0)
    assert isinstance(model.get_classifier(), nn.Identity) and model.num_classes == 0
    out = model.forward_head(torch.empty(2, 512, 7, 7, device="meta"), pre_logits=True)
    assert out.shape == (2, 4096)


def test_dropout_after_both_hidden_layers() -> None:
    model = meta_model("vgg11", VGG, drop_rate=0.3)
    assert [m.p for m in _layers(model.head, nn.Dropout)] == [0.3, 0.3]
    assert [m.p for m in _layers(meta_model("vgg11", VGG).head, nn.Dropout)] == [0.5, 0.5]


# -- dense evaluation (Sec. 3.2) -----------------------------------------------------------------


@pytest.fixture(scope="module")
def vgg11() -> VGG:
    torch.manual_seed(0)
    model = classicnets.create_model("vgg11", num_classes=20).eval()
    assert isinstance(model, VGG)
    return model


def test_dense_evaluation_equals_fc_form_at_224(vgg11: VGG) -> None:
    dense = vgg11.as_fully_convolutional().eval()
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        fc_logits, dense_logits = vgg11(x), dense(x)
        score_map = dense.score_map(x)
    assert score_map.shape == (2, 20, 1, 1)
    assert fc_logits.abs().max() > 0
    torch.testing.assert_close(dense_logits, fc_logits, rtol=1e-4, atol=1e-5)


def test_dense_evaluation_runs_at_384_and_averages_the_score_map(vgg11: VGG) -> None:
    dense = vgg11.as_fully_convolutional().eval()
    x = torch.randn(1, 3, 384, 384)
    with torch.no_grad():
        score_map, logits = dense.score_map(x), dense(x)
    assert score_map.shape == (1, 20, 6, 6)  # 384 / 32 = 12; a 7x7 "FC" conv leaves 6x6
    torch.testing.assert_close(logits, score_map.mean((2, 3)))
    assert torch.isfinite(logits).all()
    with pytest.raises(InputShapeError, match="at least 224x224"):
        dense(torch.randn(1, 3, 223, 300))


def test_dense_form_shares_the_weights(vgg11: VGG) -> None:
    dense = vgg11.as_fully_convolutional()
    assert not list(dense.parameters(recurse=False))
    assert {id(p) for p in dense.parameters()} == {id(p) for p in vgg11.parameters()}


# -- torchvision key layout (the oracles for every foreign VGG are in test_weights.py) ---------


def test_from_torchvision_rejects_an_unknown_layout() -> None:
    ours = meta_model("vgg16_c", VGG).state_dict()
    with pytest.raises(ValueError, match="layer layout of torchvision"):
        from_torchvision({k.replace("stage", "features."): v for k, v in ours.items()})
