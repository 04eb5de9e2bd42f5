"""The model contract, checked on every registered model (new families are covered for free).

Building a model is most of the cost of these tests (VGG: 130M+ parameters), so each model is
built once for this module (``prototype``; the tests run grouped by model, one prototype alive at
a time). A test that changes the model gets its own deep copy (``model``); a test that only runs
it in eval mode under no_grad gets the prototype itself (``eval_model``). Tests whose build
arguments differ make their own builds.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterator

import pytest
import torch
from torch import nn

import classicnets
from classicnets.errors import InputShapeError, UnknownOptionError
from classicnets.models.features import FeatureExtractor
from classicnets.tools.verify import verify_model
from helpers import input_size

ALL = classicnets.list_models()


@pytest.fixture(scope="module", params=ALL)
def name(request: pytest.FixtureRequest) -> str:
    """Every registered model; module scope makes pytest run each model's tests together."""
    return request.param


@pytest.fixture(scope="module")
def prototype(name: str) -> nn.Module:
    """``create_model(name)``, built once per model (seeded, and off the tests' RNG stream)."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return classicnets.create_model(name)


@pytest.fixture
def model(prototype: nn.Module) -> nn.Module:
    """A fresh copy of the default build (in training mode, as create_model returns it)."""
    return copy.deepcopy(prototype)


@pytest.fixture
def eval_model(prototype: nn.Module) -> Iterator[nn.Module]:
    """The default build itself in eval mode, for tests that only run it under no_grad (no
    copy: in eval mode without autograd a forward pass changes nothing)."""
    yield prototype.eval()
    prototype.train()


def _materialize_with(module: nn.Module, source: nn.Module) -> None:
    """Give a meta-device ``module`` real storage holding ``source``'s tensors of the same name
    (parameters and all buffers, non-persistent ones too): a build without a second init."""
    module.to_empty(device="cpu")
    tensors = dict(itertools.chain(source.named_parameters(), source.named_buffers()))
    with torch.no_grad():
        for key, t in itertools.chain(module.named_parameters(), module.named_buffers()):
            t.copy_(tensors[key])


def test_forward_backward_other_classes_and_channels(name: str) -> None:
    model = classicnets.create_model(name, num_classes=50, in_chans=1)
    s = input_size(model)
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


def test_eval_is_deterministic(eval_model: nn.Module) -> None:
    model = eval_model
    s = input_size(model)
    x = torch.randn(2, 3, s, s)
    with torch.no_grad():
        a, b = model(x), model(x)
    # equal_nan: an untrained ResNet-1202 in eval mode overflows (BN running stats are still
    # the identity while 600 residual branches add up); determinism is what is checked here.
    torch.testing.assert_close(a, b, rtol=0, atol=0, equal_nan=True)
    assert a.shape == (2, model.num_classes)


def test_features_agree_with_feature_info(eval_model: nn.Module) -> None:
    model = eval_model
    s = input_size(model, 64)
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


def test_features_only_out_indices(name: str, prototype: nn.Module) -> None:
    with torch.device("meta"):  # structure only; the extractor then gets the prototype's weights
        n = len(classicnets.create_model(name, num_classes=0).feature_info)
        extractor = classicnets.create_model(name, features_only=True, out_indices=(1, -1))
    _materialize_with(extractor.model, prototype)
    extractor.eval()
    assert [f.reduction for f in extractor.feature_info] == sorted(
        f.reduction for f in extractor.feature_info
    )
    s = input_size(extractor.model)
    outs = extractor(torch.randn(1, 3, s, s))
    assert len(outs) == 2 and outs[0].shape[1] == extractor.feature_info[0].channels
    with torch.device("meta"), pytest.raises(ValueError, match="out of range"):
        classicnets.create_model(name, features_only=True, out_indices=(n,))


def test_head_contract(model: nn.Module) -> None:
    model.eval()
    s = input_size(model)
    x = torch.randn(2, 3, s, s)
    with torch.no_grad():
        feats = model.forward_features(x)
        assert model.forward_head(feats, pre_logits=True).shape == (2, model.head_hidden_size)
        model.reset_classifier(7)
        assert model(x).shape == (2, 7)
        model.reset_classifier(0)
        assert model(x).shape == (2, model.head_hidden_size)


def test_bad_input_gets_a_clear_error(eval_model: nn.Module) -> None:
    model = eval_model
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


def test_unknown_option_lists_valid_ones(name: str) -> None:
    with pytest.raises(UnknownOptionError, match="drop_rate"):
        classicnets.create_model(name, dropout_rate=0.5)


def test_figures_match_reference(name: str) -> None:
    """Params and mult-adds pinned to the figures registered with the model."""
    result = verify_model(name)
    ref = [c for c in result.checks if c.what.startswith("ref")]
    assert ref, f"{name} has no reference count to pin"
    assert all(c.ok for c in ref), result.checks
    assert result.passed, result.checks


def test_aux_contract(model: nn.Module) -> None:
    s = input_size(model)
    x = torch.randn(2, 3, s, s)
    logits, aux = model.forward_with_aux(x)
    assert logits.shape == (2, model.num_classes)
    assert len(aux) == len(model.aux_loss_weights)
    assert all(a.shape == logits.shape for a in aux)
    model.eval()
    with torch.no_grad():
        logits, aux = model.forward_with_aux(x)
        assert aux == [] and isinstance(model(x), torch.Tensor)
