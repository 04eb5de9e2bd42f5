"""ResNeXt specifics: the three equivalent block forms, widths, stride placement, oracles."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import classicnets
from classicnets.models.resnet import Bottleneck, ResNet
from classicnets.tools.summary import count_params
from classicnets.tools.untrained import stand_in_batchnorm
from conversions import grouped_to_paths, paths_to_grouped
from helpers import meta_model


def _conv_weights(module: nn.Module) -> int:
    return sum(m.weight.numel() for m in module.modules() if isinstance(m, nn.Conv2d))


# -- Fig. 3: forms (a), (b), (c) -------------------------------------------------------------


def _template(form: str, **options: object) -> Bottleneck:
    """The conv2 template of Table 2 / Fig. 3: 256 -> 32 x 4d -> 256."""
    return Bottleneck(256, 128, out_channels=256, cardinality=32, form=form, **options)  # type: ignore[arg-type]


def test_conv2_template_has_70144_weights_in_every_form() -> None:
    blocks = {f: _template(f) for f in "abc"}
    # 32 x (256*4 + 3*3*4*4 + 4*256) = 70,144 (Sec. 3.3)
    assert {f: _conv_weights(b) for f, b in blocks.items()} == dict.fromkeys("abc", 70_144)
    assert len({count_params(b) for b in blocks.values()}) == 1
    assert len(blocks["a"].paths) == len(blocks["b"].paths) == 32
    assert blocks["c"].conv2.conv.groups == 32


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"stride": 2, "stride_in": "3x3"},
        {"stride": 2, "stride_in": "1x1", "shortcut": "C"},
    ],
    ids=["template", "stride-3x3", "stride-1x1"],
)
def test_forms_compute_the_same_function(options: dict[str, object]) -> None:
    grouped = _template("c", **options)
    stand_in_batchnorm(grouped)
    state = {k: v.clone() for k, v in grouped.state_dict().items()}
    x = torch.randn(2, 256, 8, 8)
    for form in ("a", "b"):
        paths = _template(form, **options)
        mapped = grouped_to_paths(state, cardinality=32, form=form)
        back = paths_to_grouped(mapped, cardinality=32)  # the inverse mapping
        assert back.keys() == state.keys()
        assert all(torch.equal(v, state[k]) for k, v in back.items())
        paths.load_state_dict(mapped, strict=True)
        grouped.load_state_dict(state)  # undo the last form's train-mode statistics updates
        for train in (False, True):  # BN statistics are per channel in every form
            grouped.train(train)
            paths.train(train)
            with torch.no_grad():
                torch.testing.assert_close(paths(x), grouped(x), rtol=1e-4, atol=1e-5)


def test_a_whole_network_in_form_a_equals_form_c() -> None:
    opts = {"block": "bottleneck", "layers": (1, 1), "widths": (16, 32), "cardinality": 4}
    c = ResNet(**opts, stride_in="3x3", num_classes=5).eval()  # type: ignore[arg-type]
    a = ResNet(**opts, stride_in="3x3", num_classes=5, block_form="a").eval()  # type: ignore[arg-type]
    stand_in_batchnorm(c)
    state = c.state_dict()
    mapped = {}
    for name, module in c.named_modules():
        if isinstance(module, Bottleneck):
            block = {k[len(name) + 1 :]: v for k, v in state.items() if k.startswith(name + ".")}
            block_a = grouped_to_paths(block, cardinality=4, form="a")
            mapped.update({f"{name}.{k}": v for k, v in block_a.items()})
    mapped.update({k: v for k, v in state.items() if not k.startswith("layer")})
    a.load_state_dict(mapped, strict=True)
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(a(x), c(x), rtol=1e-4, atol=1e-5)
    assert count_params(a) == count_params(c)


def test_form_errors_and_zero_init() -> None:
    with pytest.raises(ValueError, match="'a', 'b' or 'c'"):
        _template("d")
    with pytest.raises(ValueError, match="must divide"):
        Bottleneck(64, 100, cardinality=32)
    with pytest.raises(ValueError, match="bottleneck blocks only"):
        classicnets.create_model("resnet18", cardinality=4)
    block = _template("a")
    block.zero_init_last()
    assert not block.bn3.weight.detach().any()


# -- widths and layout ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "c,d,params",
    [(2, 40, 44_456_296), (4, 24, 44_363_432), (8, 14, 45_104_328), (2, 64, 84_198_184)],
)
def test_resnext101_table3_and_table4_widths_as_options(c: int, d: int, params: int) -> None:
    assert count_params(meta_model("resnext101_32x4d", cardinality=c, base_width=d)) == params


def test_table2_widths_of_the_3x3_per_stage() -> None:
    for name, first in [("resnext50_1x64d", 64), ("resnext50_2x40d", 80), ("resnext50_8x14d", 112)]:
        model = meta_model(name)
        widths = [getattr(model, f"layer{i}")[0].conv2.conv.out_channels for i in range(1, 5)]
        assert widths == [first, 2 * first, 4 * first, 8 * first]  # d doubles per stage
        assert [f.channels for f in model.feature_info[1:]] == [256, 512, 1024, 2048]


def test_stride_on_the_3x3_as_in_the_resnext_paper() -> None:
    model = meta_model("resnext50_32x4d")
    first = model.layer2[0]
    assert first.conv1.conv.stride == (1, 1) and first.conv2.conv.stride == (2, 2)
    assert count_params(meta_model("resnext50_1x64d")) == count_params(meta_model("resnet50"))


def test_cifar_resnext29_layout() -> None:
    model = meta_model("resnext29_8x64d")
    assert model.num_classes == 10 and model.min_input_size == 4
    assert [f.channels for f in model.feature_info] == [64, 256, 512, 1024]
    assert [f.reduction for f in model.feature_info] == [1, 1, 2, 4]
    assert [model.layer1[0].conv2.conv.out_channels, model.layer1[0].conv2.conv.groups] == [512, 8]
    branch_convs = [
        m for n, m in model.named_modules() if isinstance(m, nn.Conv2d) and "shortcut" not in n
    ]
    assert len(branch_convs) + 1 == 29  # 3x3 stem + 9 blocks x 3 convs + FC
