"""Inception-v4 and Inception-ResNet: the figures as data, residual scaling, timm oracles."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import classicnets
from classicnets.models.inception_v4 import (
    ARCHITECTURES,
    INCEPTION_A,
    INCEPTION_B,
    INCEPTION_B_TF,
    REDUCTION_A_FILTERS,
    RESNET_V1_A,
    InceptionModule,
    InceptionResNet,
    InceptionResNetModule,
    from_timm,
    reduction_a,
)
from classicnets.tools.summary import count_params
from classicnets.tools.untrained import stand_in_batchnorm
from helpers import meta_model

NAMES = ("inception_v4", "inception_v4_tf", "inception_resnet_v1", "inception_resnet_v2")


def _blocks(model: nn.Module, kind: type[nn.Module]) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, kind)]


@pytest.mark.parametrize(
    "name,depths",
    [
        ("inception_v4", (4, 7, 3)),  # Figure 9
        ("inception_resnet_v1", (5, 10, 5)),  # Figure 15
        ("inception_resnet_v2", (5, 10, 5)),
        ("inception_resnet_v2_tf", (10, 20, 10)),  # the release
    ],
)
def test_module_counts(name: str, depths: tuple[int, int, int]) -> None:
    model = meta_model(name)
    assert (len(model.blocks_a), len(model.blocks_b), len(model.blocks_c)) == depths
    assert ARCHITECTURES[name].depths == depths


def test_grid_sizes_and_widths_at_299() -> None:
    """The figures' printed shapes: 35x35x384 -> 17x17x1024 -> 8x8x1536 (v4); v1: 256/896/1792."""
    expected = {
        "inception_v4": [(64, 147), (160, 73), (384, 35), (1024, 17), (1536, 8)],
        "inception_resnet_v1": [(64, 147), (80, 73), (256, 35), (896, 17), (1792, 8)],
        "inception_resnet_v2": [(64, 147), (160, 73), (384, 35), (1152, 17), (2144, 8)],
    }
    for name, shapes in expected.items():
        model = meta_model(name)
        outs = model.run_stages(torch.empty(1, 3, 299, 299, device="meta"))
        assert [(o.shape[1], o.shape[-1]) for o in outs] == shapes, name


def test_standalone_modules() -> None:
    a = InceptionModule(384, INCEPTION_A)
    assert a.out_channels == 384 and list(a) == ["b1x1", "b3x3", "b3x3dbl", "pool_proj"]
    assert a(torch.randn(1, 384, 9, 9)).shape == (1, 384, 9, 9)
    filters = REDUCTION_A_FILTERS["inception_v4"]  # k, l, m, n of Table 1
    red = InceptionModule(384, reduction_a(*filters))
    assert red.out_channels == 384 + filters[3] + filters[2] == 1024
    assert red(torch.randn(1, 384, 35, 35)).shape == (1, 1024, 17, 17)
    res = InceptionResNetModule(256, RESNET_V1_A, scale=0.1)
    x = torch.randn(1, 256, 7, 7)
    assert res(x).shape == x.shape


def test_paper_and_release_orientation_differ_only_in_kernels() -> None:
    paper, tf = meta_model("inception_v4"), meta_model("inception_v4_tf")
    assert count_params(paper) == count_params(tf)
    shapes = {k: v.shape for k, v in paper.state_dict().items()}
    diff = sorted(k for k, v in tf.state_dict().items() if shapes[k] != v.shape)
    assert diff and all(".conv.weight" in k for k in diff)
    assert {k.split(".")[0] for k in diff} == {"stem_out", "blocks_b", "blocks_c"}
    # Figure 5's long branch starts with a 1x7 (one row), the release's with a 7x1
    assert paper.blocks_b[0].b7x7dbl[1].conv.kernel_size == (1, 7)
    assert tf.blocks_b[0].b7x7dbl[1].conv.kernel_size == (7, 1)
    assert INCEPTION_B["b7x7"] == INCEPTION_B_TF["b7x7"]


def test_residual_scaling_option() -> None:
    model = meta_model("inception_resnet_v1")
    assert [b.scale for b in (model.blocks_a[0], model.blocks_b[0], model.blocks_c[0])] == [
        0.17,
        0.10,
        0.20,
    ]
    model = meta_model("inception_resnet_v2", residual_scale=0.3)
    assert {b.scale for b in _blocks(model, InceptionResNetModule)} == {0.3}
    tf = meta_model("inception_resnet_v2_tf")
    assert tf.blocks_c[-1].scale == 1.0 and isinstance(tf.blocks_c[-1].act, nn.Identity)
    assert tf.blocks_c[-2].scale == 0.2
    for bad in (0.0, 1.5, (0.1, 0.2)):
        with pytest.raises(ValueError, match="residual_scale"):
            InceptionResNet(residual_scale=bad)  # type: ignore[arg-type]


def test_residual_scale_changes_the_function() -> None:
    torch.manual_seed(0)
    block = InceptionResNetModule(256, RESNET_V1_A, scale=1.0).eval()
    x = torch.randn(1, 256, 5, 5)
    with torch.no_grad():
        full = block(x)
        block.scale = 0.1
        scaled = block(x)
        residual = block.up(block.branches(x))
    torch.testing.assert_close(scaled, torch.relu(x + 0.1 * residual))
    assert not torch.allclose(full, scaled)


def test_min_input_size_is_tight() -> None:
    """75 is the smallest size: the stem and the two reductions use unpadded convolutions."""
    for name in ARCHITECTURES:
        model = meta_model(name).eval()
        assert model.min_input_size == 75, name
        outs = model.run_stages(torch.empty(1, 3, 75, 75, device="meta"))
        assert outs[-1].shape[-2:] == (1, 1), name
    with pytest.raises(RuntimeError):  # one pixel less and Reduction-B has nothing to reduce
        model.reduction_b(torch.empty(1, model.reduction_b.in_channels, 2, 2, device="meta"))


def test_arch_option_is_checked() -> None:
    with pytest.raises(ValueError, match="Inception-ResNet network"):
        InceptionResNet(arch="inception_v4")
    with pytest.raises(ValueError, match="plain Inception network"):
        classicnets.create_model("inception_v4", arch=ARCHITECTURES["inception_resnet_v1"])


def test_from_timm_rejects_other_state_dicts() -> None:
    with pytest.raises(ValueError, match="not a timm inception"):
        from_timm({"fc.weight": torch.zeros(1)})


# -- oracles: timm with random weights, copied into ours ---------------------------------------


@pytest.mark.parametrize(
    "ours,theirs",
    [("inception_v4_tf", "inception_v4"), ("inception_resnet_v2_tf", "inception_resnet_v2")],
)
def test_same_logits_as_timm(ours: str, theirs: str) -> None:
    timm = pytest.importorskip("timm")
    reference = timm.create_model(theirs, pretrained=False).eval()
    stand_in_batchnorm(reference)
    model = classicnets.create_model(ours).eval()
    model.load_state_dict(from_timm(reference.state_dict()), strict=True)
    x = torch.randn(1, 3, 107, 107)
    with torch.no_grad():
        expected, got = reference(x), model(x)
    scale = float(expected.abs().max())
    assert float((expected - got).abs().max()) <= 1e-4 * max(scale, 1.0)
    with torch.no_grad():
        torch.testing.assert_close(
            model.forward_features(x), reference.forward_features(x), rtol=1e-4, atol=1e-4
        )
