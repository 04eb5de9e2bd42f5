"""The model contract, checked on every registered model (new families are covered for free)."""

from __future__ import annotations

import copy

import pytest
import torch

import classicnets
from classicnets.errors import InputShapeError, UnknownOptionError
from classicnets.features import FeatureExtractor
from classicnets.verify import verify_model

ALL = classicnets.list_models()


def _size(model: torch.nn.Module) -> int:
    """A small input every model takes: its minimum, but at least 32 pixels."""
    return max(model.min_input_size, 32)


@pytest.mark.parametrize("name", ALL)
def test_forward_backward_other_classes_and_channels(name: str) -> None:
    model = classicnets.create_model(name, num_classes=50, in_chans=1)
    s = _size(model)
    x = torch.randn(2, 1, s, s)
    # through forward_with_aux, as training code does, so auxiliary heads get gradients too
    out, aux = model.forward_with_aux(x)
    assert out.shape == (2, 50) and all(a.shape == (2, 50) for a in aux)
    loss = out.logsumexp(1).mean()
    for weight, a in zip(model.aux_loss_weights, aux, strict=True):
        loss = loss + weight * a.logsumexp(1).mean()
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing, f"parameters without a gradient: {missing[:5]}"
    bad = [n for n, p in model.named_parameters() if not torch.isfinite(p.grad).all()]
    assert not bad, f"non-finite gradients: {bad[:5]}"


@pytest.mark.parametrize("name", ALL)
def test_eval_is_deterministic(name: str) -> None:
    model = classicnets.create_model(name).eval()
    s = _size(model)
    x = torch.randn(2, 3, s, s)
    with torch.no_grad():
        a, b = model(x), model(x)
    # equal_nan: an untrained ResNet-1202 in eval mode overflows (BN running stats are still
    # the identity while 600 residual branches add up); determinism is what is checked here.
    torch.testing.assert_close(a, b, rtol=0, atol=0, equal_nan=True)
    assert a.shape == (2, model.num_classes)


@pytest.mark.parametrize("name", ALL)
def test_features_agree_with_feature_info(name: str) -> None:
    model = classicnets.create_model(name).eval()
    s = max(_size(model), 64)
    x = torch.randn(1, 3, s, s)
    with torch.no_grad():
        last = model.forward_features(x)
        feats = FeatureExtractor(copy.deepcopy(model))(x)
    info = model.feature_info
    assert len(feats) == len(info)
    for f, fi in zip(feats, info, strict=True):
        assert f.shape[1] == fi.channels, fi
        expected = s / fi.reduction
        assert f.shape[-1] >= 1 and abs(f.shape[-1] - expected) <= max(3, 0.15 * expected), fi
    torch.testing.assert_close(feats[-1], last, equal_nan=True)
    assert model.num_features == info[-1].channels == last.shape[1]


@pytest.mark.parametrize("name", ALL)
def test_features_only_out_indices(name: str) -> None:
    n = len(classicnets.create_model(name, num_classes=0).feature_info)
    extractor = classicnets.create_model(name, features_only=True, out_indices=(1, -1)).eval()
    assert [f.reduction for f in extractor.feature_info] == sorted(
        f.reduction for f in extractor.feature_info
    )
    s = max(extractor.model.min_input_size, 32)
    outs = extractor(torch.randn(1, 3, s, s))
    assert len(outs) == 2 and outs[0].shape[1] == extractor.feature_info[0].channels
    with pytest.raises(ValueError, match="out of range"):
        classicnets.create_model(name, features_only=True, out_indices=(n,))


@pytest.mark.parametrize("name", ALL)
def test_head_contract(name: str) -> None:
    model = classicnets.create_model(name).eval()
    s = _size(model)
    x = torch.randn(2, 3, s, s)
    with torch.no_grad():
        feats = model.forward_features(x)
        assert model.forward_head(feats, pre_logits=True).shape == (2, model.head_hidden_size)
        model.reset_classifier(7)
        assert model(x).shape == (2, 7)
        model.reset_classifier(0)
        assert model(x).shape == (2, model.head_hidden_size)


@pytest.mark.parametrize("name", ALL)
def test_bad_input_gets_a_clear_error(name: str) -> None:
    model = classicnets.create_model(name).eval()
    m = model.min_input_size
    with torch.no_grad():
        assert model(torch.randn(1, 3, m, m)).shape == (1, model.num_classes)
        with pytest.raises(InputShapeError, match="in_chans=1"):
            model(torch.randn(1, 1, m, m))
        with pytest.raises(InputShapeError, match=r"shaped \(N, C, H, W\)"):
            model(torch.randn(3, m, m))
        if m > 1:
            with pytest.raises(InputShapeError, match=f"minimum is {m}x{m}"):
                model(torch.randn(1, 3, m - 1, m))


@pytest.mark.parametrize("name", ALL)
def test_unknown_option_lists_valid_ones(name: str) -> None:
    with pytest.raises(UnknownOptionError, match="drop_rate"):
        classicnets.create_model(name, dropout_rate=0.5)


@pytest.mark.parametrize("name", ALL)
def test_figures_match_reference(name: str) -> None:
    """Params and mult-adds pinned to the figures registered with the model."""
    result = verify_model(name)
    ref = [c for c in result.checks if c.what.startswith("ref")]
    assert ref, f"{name} has no reference count to pin"
    assert all(c.ok for c in ref), result.checks
    assert result.passed, result.checks


@pytest.mark.parametrize("name", ALL)
def test_aux_contract(name: str) -> None:
    model = classicnets.create_model(name)
    s = _size(model)
    x = torch.randn(2, 3, s, s)
    logits, aux = model.forward_with_aux(x)
    assert logits.shape == (2, model.num_classes)
    assert len(aux) == len(model.aux_loss_weights)
    assert all(a.shape == logits.shape for a in aux)
    model.eval()
    with torch.no_grad():
        logits, aux = model.forward_with_aux(x)
        assert aux == [] and isinstance(model(x), torch.Tensor)
