"""GoogLeNet: Table 1 as data, the paper's layers, per-row figures, aux heads, torchvision."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import classicnets
from classicnets.layers import IMAGENET, AuxPool, Renormalize
from classicnets.models.googlenet import (
    TABLE1,
    TORCHVISION_INPUT,
    GoogLeNetAux,
    InceptionV1Block,
)
from classicnets.tools.summary import profile_model, render, summarize
from classicnets.tools.untrained import stand_in_batchnorm
from conversions import googlenet_from_torchvision
from helpers import meta_model

# -- Table 1 and the paper's layers --------------------------------------------------------------


def test_table1_rows_are_data() -> None:
    assert TABLE1["3a"] == (64, 96, 128, 16, 32, 32)
    assert [TABLE1[k].out_channels for k in ("3a", "3b", "4a", "4d", "4e", "5b")] == [
        256,
        480,
        512,
        528,
        832,
        1024,
    ]
    model = meta_model("googlenet")
    for name, row in TABLE1.items():
        block = getattr(model, f"inception{name}")
        assert block.out_channels == row.out_channels
        assert block.b5x5.conv.conv.out_channels == row.ch5x5
        assert block.pool_proj.proj.conv.out_channels == row.pool_proj


def test_paper_network_has_lrn_biases_real_5x5_and_no_batch_norm() -> None:
    model = meta_model("googlenet")
    kinds = {type(m) for m in model.modules()}
    assert nn.BatchNorm2d not in kinds
    assert sum(isinstance(m, nn.LocalResponseNorm) for m in model.modules()) == 2
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert all(c.bias is not None for c in convs)
    assert all(getattr(model, f"inception{n}").b5x5.conv.conv.kernel_size == (5, 5) for n in TABLE1)
    assert model.head.drop.p == 0.4
    assert model.pool4.kernel_size == 3 and model.pool4.ceil_mode
    relus = sum(isinstance(m, nn.ReLU) for m in model.modules())
    assert relus == len(convs) + 2  # after every conv, and after each aux FC 1024


def test_aux_heads_as_specified() -> None:
    model = meta_model("googlenet")
    assert model.aux_loss_weights == (0.3, 0.3)
    assert [type(a) for a in model.aux_heads()] == [GoogLeNetAux, GoogLeNetAux]
    for aux, channels in zip(model.aux_heads(), (512, 528), strict=True):
        assert (aux.pool.kernel_size, aux.pool.stride, aux.pool.grid) == (5, 3, 4)
        assert aux.body.conv.conv.in_channels == channels
        assert aux.body.conv.conv.out_channels == 128
        assert (aux.body.fc.in_features, aux.body.fc.out_features) == (2048, 1024)
        assert aux.head.drop.p == 0.7 and aux.head.fc.out_features == 1000
    bare = meta_model("googlenet", aux_logits=False)
    assert bare.aux_loss_weights == () and not hasattr(bare, "aux1")


# -- counts ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name,inference,total",
    [
        ("googlenet", 6_998_552, 13_378_280),
        ("googlenet_bn", 7_005_832, 13_385_816),
        ("googlenet_torchvision", 6_624_904, 13_004_888),
    ],
)
def test_params_with_and_without_aux(name: str, inference: int, total: int) -> None:
    p = summarize(name)
    assert (p.inference_params, p.params) == (inference, total)
    assert summarize(name, aux_logits=False).params == inference
    assert summarize(name, aux_logits=False).aux_params == 0


def test_mult_adds() -> None:
    assert round(summarize("googlenet").macs / 1e9, 3) == 1.583
    assert round(summarize("googlenet_torchvision").macs / 1e9, 3) == 1.498


# Our per-row figures (params, mult-adds) at 224x224: the faithful network, row by row.
OWN_ROWS = {
    "conv1": (9_472, 118_013_952),
    "conv2": (114_944, 359_661_568),
    "inception3a": (163_696, 128_049_152),
    "inception3b": (388_736, 304_267_264),
    "inception4a": (376_176, 73_608_192),
    "inception4b": (449_160, 87_908_352),
    "inception4c": (510_104, 99_850_240),
    "inception4d": (605_376, 118_515_712),
    "inception4e": (868_352, 169_996_288),
    "inception5a": (1_043_456, 51_079_168),
    "inception5b": (1_444_080, 70_697_984),
    "head": (1_025_000, 1_024_000),
}


def test_per_row_figures_pinned_beside_the_papers() -> None:
    p = summarize("googlenet")
    rows = {r.name: r for r in p.rows}
    assert {n: (rows[n].params, rows[n].macs) for n in OWN_ROWS} == OWN_ROWS
    assert sum(v[0] for v in OWN_ROWS.values()) == p.inference_params
    assert sum(v[1] for v in OWN_ROWS.values()) == p.macs
    paper = {r.module: r for r in classicnets.model_info("googlenet").figures.rows}
    assert set(paper) == set(OWN_ROWS)
    assert sum(r.params for r in paper.values()) == 6_797_700  # Table 1's column sums
    assert sum(r.macs for r in paper.values()) == 1_502_000_000
    # every ops row but conv1 is within 1% of the layer it describes (5a within 6%; the linear
    # layer's 1M is 1,024,000 rounded)
    for name, r in paper.items():
        if name not in ("conv1", "inception5a", "head"):
            assert abs(OWN_ROWS[name][1] - r.macs) <= 0.01 * r.macs, name


@pytest.mark.parametrize("depth", [1, 2])
def test_summary_prints_paper_rows_beside_ours(depth: int) -> None:
    text = render(summarize("googlenet"), depth=depth)
    line = next(ln for ln in text.splitlines() if ln.startswith("inception4c "))
    assert "510,104" in line and "463,000" in line and "100,000,000" in line
    assert "paper params" in text and "6,797,700" in text and "1,502,000,000" in text
    assert "total without the auxiliary classifiers" in text and "13,378,280" in text
    aux = next(ln for ln in text.splitlines() if ln.strip().startswith("aux1"))
    assert "not run" in aux


def test_verify_explains_the_accepted_deviation() -> None:
    from classicnets.tools.verify import verify_model

    r = verify_model("googlenet")
    assert r.status == "accepted" and "conv1" in (r.accepted_deviation or "")
    assert all(c.ok for c in r.checks if c.what.startswith("ref"))
    assert {c.what for c in r.checks if not c.ok} == {"paper params", "paper mult-adds"}


# -- the module as a building block ---------------------------------------------------------------


def test_inception_block_standalone() -> None:
    block = InceptionV1Block(3, 64, 32, 64, 64, 96, 32)
    assert block.out_channels == 256
    p = profile_model(block, (256, 256), 3)  # on the real device, but cheap: shapes via meta below
    assert p.params == sum(q.numel() for q in block.parameters())
    with torch.device("meta"):
        out = InceptionV1Block(3, 64, 32, 64, 64, 96, 32)(torch.empty(1, 3, 256, 256))
    assert out.shape == (1, 256, 256, 256)
    x = torch.randn(2, 192, 9, 7)  # any size, even non-square
    assert InceptionV1Block(192, 64, 96, 128, 16, 32, 32)(x).shape == (2, 256, 9, 7)
    with pytest.raises(ValueError, match=">= 1"):
        InceptionV1Block(192, 64, 0, 128, 16, 32, 32)


def test_1x1_reduction_saving_shown_with_the_summary_tooling() -> None:
    direct = nn.Conv2d(512, 64, 5, padding=2, bias=False)
    reduced = nn.Sequential(
        nn.Conv2d(512, 24, 1, bias=False), nn.Conv2d(24, 64, 5, padding=2, bias=False)
    )
    a = profile_model(direct, (14, 14), 512)
    b = profile_model(reduced, (14, 14), 512)
    assert (a.params, b.params) == (819_200, 50_688)
    assert (a.macs, b.macs) == (819_200 * 196, 50_688 * 196)
    # the same branch inside inception 4b (512 -> 24 -> 64), biases included
    branch = profile_model(InceptionV1Block(512, *TABLE1["4b"]), (14, 14), 512)
    assert next(r for r in branch.rows if r.name == "b5x5").params == 50_688 + 24 + 64


# -- auxiliary heads and the output contract -------------------------------------------------------


def test_forward_is_plain_logits_and_aux_comes_through_forward_with_aux() -> None:
    model = classicnets.create_model("googlenet", num_classes=10).train()
    x = torch.randn(2, 3, 64, 64)  # below 224: the aux pool falls back to adaptive 4x4
    out = model(x)
    assert isinstance(out, torch.Tensor) and out.shape == (2, 10)
    logits, aux = model.forward_with_aux(x)
    assert logits.shape == (2, 10) and [a.shape for a in aux] == [(2, 10), (2, 10)]
    model.eval()
    with torch.no_grad():
        assert model.forward_with_aux(x)[1] == []
    model.reset_classifier(5)
    assert all(a.head.fc.out_features == 5 for a in model.aux_heads())


def test_aux_pool_is_the_papers_at_224_and_adaptive_elsewhere() -> None:
    pool = AuxPool(4)
    x = torch.randn(1, 8, 14, 14)
    torch.testing.assert_close(pool(x), F.avg_pool2d(x, 5, 3), rtol=0, atol=0)
    for size in (3, 8, 20, 28):
        y = torch.randn(1, 8, size, size)
        torch.testing.assert_close(pool(y), F.adaptive_avg_pool2d(y, 4), rtol=0, atol=0)
    assert AuxPool(4, window=None)(x).shape == (1, 8, 4, 4)
    wide = AuxPool(5, larger_ok=True)(torch.randn(1, 2, 30, 30))
    assert wide.shape == (1, 2, 9, 9)  # the released Inception v3 head pools larger maps as is


def test_export_of_the_eval_model() -> None:
    model = classicnets.create_model("googlenet").eval()
    x = torch.randn(1, 3, 64, 64)
    program = torch.export.export(model, (x,))
    with torch.no_grad():
        torch.testing.assert_close(program.module()(x), model(x))


def test_bad_options() -> None:
    with pytest.raises(ValueError, match="norm must be"):
        classicnets.create_model("googlenet", norm="gn")
    with pytest.raises(ValueError, match="in_chans=3"):
        classicnets.create_model("googlenet_torchvision", in_chans=1, transform_input=True)


# -- torchvision: checkpoints load exactly ---------------------------------------------------------


def test_input_transform_is_an_explicit_module() -> None:
    model = classicnets.create_model("googlenet_torchvision", transform_input=True)
    assert isinstance(model.input_transform, Renormalize)
    assert model.feature_info[0].module == "conv1"
    assert not any(k.startswith("input_transform") for k in model.state_dict())
    pixels = torch.rand(1, 3, 4, 4)
    mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in (IMAGENET.mean, IMAGENET.std))
    t_mean, t_std = (
        torch.tensor(v).view(1, 3, 1, 1) for v in (TORCHVISION_INPUT.mean, TORCHVISION_INPUT.std)
    )
    out = model.input_transform((pixels - mean) / std)
    torch.testing.assert_close(out, (pixels - t_mean) / t_std)


def test_torchvision_checkpoint_without_aux() -> None:
    tvm = pytest.importorskip("torchvision.models")
    reference = tvm.googlenet(weights=None, aux_logits=True, init_weights=False).eval()
    stand_in_batchnorm(reference)
    model = classicnets.create_model("googlenet_torchvision", aux_logits=False).eval()
    model.load_state_dict(
        googlenet_from_torchvision(reference.state_dict(), aux_logits=False), strict=True
    )
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x), rtol=1e-5, atol=1e-5)
