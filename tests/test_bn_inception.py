"""BN-Inception: Figure 5 rows as data, batch norm everywhere, double 3x3s, the module."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from classicnets.layers import ConvNormAct
from classicnets.models.bn_inception import FIGURE5, BNInceptionBlock
from classicnets.tools.summary import summarize
from helpers import meta_model


def test_figure5_rows_give_the_channels() -> None:
    model = meta_model("bn_inception")
    out = {name: getattr(model, f"inception{name}").out_channels for name in FIGURE5}
    assert out == {
        "3a": 256,
        "3b": 320,
        "3c": 576,
        "4a": 576,
        "4b": 576,
        "4c": 608,  # the row's columns (160 + 160 + 160 + 128); Figure 5's output column: 576
        "4d": 608,
        "4e": 1056,
        "5a": 1024,
        "5b": 1024,
    }
    p = summarize("bn_inception")
    shapes = {r.name: r.output_shape for r in p.rows}
    assert shapes["inception3b"] == (320, 28, 28) and shapes["inception3c"] == (576, 14, 14)
    assert shapes["inception4e"] == (1056, 7, 7) and shapes["inception5b"] == (1024, 7, 7)


def test_batch_norm_everywhere_double_3x3_no_5x5_no_lrn_no_dropout() -> None:
    model = meta_model("bn_inception")
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    units = [m for m in model.modules() if isinstance(m, ConvNormAct)]
    assert len(units) == len(convs) and all(isinstance(u.bn, nn.BatchNorm2d) for u in units)
    assert all(c.bias is None for c in convs)
    assert all(c.kernel_size != (5, 5) for c in convs)
    assert not any(isinstance(m, nn.LocalResponseNorm) for m in model.modules())
    assert model.head.drop.p == 0.0
    assert isinstance(model.inception5b.pool_proj.pool, nn.MaxPool2d)
    assert isinstance(model.inception5a.pool_proj.pool, nn.AvgPool2d)


def test_counts() -> None:
    p = summarize("bn_inception")
    assert p.params == 11_285_224 and p.aux_params == 0
    assert round(p.macs / 1e9, 2) == 2.03  # SENet's re-implementation: 2.03 G; I3 Table 3: 2.0 G


def test_standalone_module() -> None:
    block = BNInceptionBlock(192, 64, 64, 96, 64, 96, pool="avg", pool_proj=64)
    assert block.out_channels == 320
    assert block(torch.randn(2, 192, 28, 28)).shape == (2, 320, 28, 28)
    assert block(torch.randn(1, 192, 5, 3)).shape == (1, 320, 5, 3)
    reduction = BNInceptionBlock(320, 0, 128, 160, 64, 96, pool="max", stride=2)
    assert "b1x1" not in reduction and reduction.out_channels == 576
    for size in (28, 27):  # the pool branch matches the stride-2 convs at odd sizes too
        assert reduction(torch.randn(1, 320, size, size)).shape == (1, 576, 14, 14)
    with pytest.raises(ValueError, match="stride-2"):
        BNInceptionBlock(320, 64, 128, 160, 64, 96, pool="max", stride=2)
