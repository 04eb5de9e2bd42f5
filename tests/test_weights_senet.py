"""Weights for ResNeXt and SENet: what maps to timm's non-legacy models, what does not, and the
variant named when a checkpoint fits another one. (The oracles of every FOREIGN_ARCHS entry,
both directions, are in test_weights.py.)"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import classicnets
from classicnets.errors import WeightsMismatchError
from classicnets.models import resnet
from classicnets.weights import get_weights, load_weights, remap_keys

timm = pytest.importorskip("timm")
tvm = pytest.importorskip("torchvision.models")


def _randomized(model: nn.Module) -> nn.Module:
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.0)
                m.bias.uniform_(-0.1, 0.1)
    return model.eval()


def _max_diff(a: nn.Module, b: nn.Module, size: int = 64) -> tuple[float, float]:
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        expected, got = a(x), b(x)
    return float((expected - got).abs().max()), float(expected.abs().max())


def _meta_state(fn: object, name: str) -> dict[str, torch.Tensor]:
    with torch.device("meta"):
        return fn(name).state_dict()  # type: ignore[operator]


@pytest.mark.parametrize(
    ("theirs", "ours", "options"),
    [
        ("seresnet50", "seresnet50", {"stride_in": "3x3", "stem_pool": "pad"}),
        ("seresnext50_32x4d", "seresnext50_32x4d", {"stem_pool": "pad"}),
    ],
)
def test_timm_non_legacy_se_models_are_ours_with_options(
    theirs: str, ours: str, options: dict[str, str]
) -> None:
    """timm's seresnet50 / seresnext50_32x4d: exact with the options, not with the paper's."""
    torch.manual_seed(0)
    reference = _randomized(timm.create_model(theirs))
    state = remap_keys(reference.state_dict(), resnet.TORCHVISION_KEY_RULES)
    model = classicnets.create_model(ours, **options).eval()
    assert load_weights(model, state, layout="classicnets").ok
    diff, scale = _max_diff(reference, model)
    assert diff <= 1e-5 * max(scale, 1.0)

    paper = classicnets.create_model(ours).eval()  # Caffe max pool (and 1x1 stride): another net
    load_weights(paper, state, layout="classicnets")
    diff, scale = _max_diff(reference, paper)
    assert diff > 1e-3 * max(scale, 1.0)


def test_timm_seresnet18_se_width_differs() -> None:
    """timm rounds 64 // 16 = 4 hidden SE units up to 8: no option of ours builds that."""
    theirs = remap_keys(_meta_state(timm.create_model, "seresnet18"), resnet.TORCHVISION_KEY_RULES)
    with torch.device("meta"):
        ours = classicnets.create_model("seresnet18").state_dict()
    assert set(theirs) == set(ours)
    differ = sorted(k for k in ours if theirs[k].shape != ours[k].shape)
    assert differ and all(k.startswith("layer1.") and ".se.fc" in k for k in differ)
    assert theirs["layer1.0.se.fc1.weight"].shape[0] == 8
    assert ours["layer1.0.se.fc1.weight"].shape[0] == 4


def test_legacy_seresnet18_loads_with_a_warning_and_differs() -> None:
    """timm's legacy_seresnet18 has a ReLU before SE: the keys map, the function does not."""
    torch.manual_seed(0)
    reference = _randomized(timm.create_model("legacy_seresnet18"))
    model = classicnets.create_model("seresnet18").eval()
    with pytest.warns(UserWarning, match="ReLU to the residual before SE"):
        report = load_weights(model, reference.state_dict())
    assert report.ok and report.layout == "timm"
    diff, scale = _max_diff(reference, model)
    assert diff > 1e-3 * max(scale, 1.0)
    with pytest.raises(classicnets.errors.WeightsError, match="no timm equivalent"):
        classicnets.weights.export_weights(model, "timm")


@pytest.mark.parametrize(
    ("source", "fn", "target", "advice"),
    [
        ("legacy_seresnext50_32x4d", "timm", "seresnet50", "seresnext50_32x4d"),
        ("legacy_seresnet50", "timm", "seresnext50_32x4d", "seresnet50"),
        ("resnext101_32x8d", "tv", "resnext101_64x4d", "resnext101_32x8d"),
        ("resnext50_32x4d", "tv", "resnext101_32x4d", "resnext50_32x4d"),
    ],
)
def test_a_checkpoint_of_another_variant_names_it(
    source: str, fn: str, target: str, advice: str
) -> None:
    build = timm.create_model if fn == "timm" else tvm.get_model
    state = _meta_state(build, source)
    with torch.device("meta"):
        model = classicnets.create_model(target)
    with pytest.raises(WeightsMismatchError, match=rf"create_model\('{advice}'\)"):
        load_weights(model, state)


def test_registered_weights_resolve_to_the_right_layout() -> None:
    assert classicnets.weights.default_weights("resnext50_32x4d").tag == "tv_in1k"
    assert get_weights("resnext101_32x8d.tv2_in1k").preprocessing.resize_size == 232
    assert get_weights("resnext50_32x4d.tv_in1k").preprocessing.resize_size == 256
    for arch in ("seresnet50", "seresnet101", "seresnet152", "seresnext50_32x4d", "senet154"):
        spec = classicnets.weights.default_weights(arch)
        assert spec is not None and spec.layout == "timm" and spec.tag == "legacy_in1k"
    assert classicnets.weights.default_weights("seresnet18") is None
