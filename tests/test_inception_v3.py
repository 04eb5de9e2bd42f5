"""Inception v3: released architecture, the paper's BN-auxiliary, torchvision/timm oracles."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import classicnets
from classicnets.layers import Renormalize
from classicnets.models.inception_v3 import InceptionV3Aux
from classicnets.tools.summary import summarize
from helpers import meta_model


def test_counts_released_and_paper_aux() -> None:
    p = summarize("inception_v3")
    assert (p.inference_params, p.params) == (23_834_568, 27_161_264)
    assert round(p.macs / 1e9, 3) == 5.713
    paper_aux = summarize("inception_v3", aux_head="paper")
    assert (paper_aux.inference_params, paper_aux.aux_params) == (23_834_568, 4_402_408)
    assert summarize("inception_v3", aux_logits=False).params == 23_834_568


def test_released_layout_and_its_differences_from_the_text() -> None:
    model = meta_model("inception_v3")
    assert model.conv3b.conv.kernel_size == (1, 1)  # Table 1: a 3x3 conv 80
    assert model.mixed5b.b5x5.conv.conv.kernel_size == (5, 5)  # Fig. 5: two 3x3s
    assert model.mixed6b.b7x7.conv1.conv.kernel_size == (1, 7)
    assert model.mixed6b.b7x7.conv2.conv.kernel_size == (7, 1)
    assert model.mixed7b.b3x3.split.conv1x3.conv.kernel_size == (1, 3)
    assert all(m.eps == 1e-3 for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    assert model.aux_loss_weights == (0.4,)
    assert [f.channels for f in model.feature_info] == [64, 80, 288, 768, 2048]
    shapes = {r.name: r.output_shape for r in summarize("inception_v3").rows}
    assert shapes["mixed5d"] == (288, 35, 35) and shapes["mixed6e"] == (768, 17, 17)
    assert shapes["mixed7c"] == (2048, 8, 8)


def test_paper_bn_auxiliary_option() -> None:
    model = classicnets.create_model("inception_v3", aux_head="paper", num_classes=10).train()
    assert isinstance(model.aux, InceptionV3Aux)
    assert isinstance(model.aux.body.bn, nn.BatchNorm1d)
    assert model.aux.body.fc.in_features == 128 * 5 * 5 and model.aux.body.fc.bias is None
    logits, (aux,) = model.forward_with_aux(torch.randn(2, 3, 75, 75))
    assert logits.shape == aux.shape == (2, 10)
    with pytest.raises(ValueError, match="aux_head"):
        classicnets.create_model("inception_v3", aux_head="bn")


def test_input_transform_is_explicit_and_export_works() -> None:
    model = classicnets.create_model("inception_v3", transform_input=True, aux_logits=False)
    assert isinstance(model.input_transform, Renormalize)
    assert set(model.state_dict()) == set(
        classicnets.create_model("inception_v3", aux_logits=False).state_dict()
    )
    model.eval()
    x = torch.randn(1, 3, 75, 75)
    program = torch.export.export(model, (x,))
    with torch.no_grad():
        torch.testing.assert_close(program.module()(x), model(x))
