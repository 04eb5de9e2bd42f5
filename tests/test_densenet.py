"""DenseNet specifics: depths, B/C options, dropout, memory-efficient mode, torchvision oracle."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

import classicnets
from classicnets.models.densenet import (
    CIFAR_CONFIGS,
    IMAGENET_CONFIGS,
    DenseBlock,
    DenseLayer,
    DenseNet,
    Transition,
    cifar_layers_per_block,
)
from conversions import densenet_from_torchvision
from helpers import meta_model


def _count(model: nn.Module, kind: type[nn.Module]) -> int:
    return sum(isinstance(m, kind) for m in model.modules())


def _depth(model: nn.Module) -> int:
    """The paper's L: convolutions and fully-connected layers."""
    return _count(model, nn.Conv2d) + _count(model, nn.Linear)


@pytest.mark.parametrize("depth", sorted(IMAGENET_CONFIGS))
def test_imagenet_depth_and_stages(depth: int) -> None:
    model = meta_model(f"densenet{depth}", DenseNet)
    k, layers = IMAGENET_CONFIGS[depth]
    # Table 1's "DenseNet-264" blocks (6, 12, 64, 48) make 265 layers by the paper's own count
    assert _depth(model) == (265 if depth == 264 else depth)
    assert model.stem.conv.out_channels == 2 * k and model.stem.conv.kernel_size == (7, 7)
    channels, expected = 2 * k, []
    for i, n in enumerate(layers):
        channels = (channels // 2 if i else channels) + n * k
        expected.append(channels)
    assert [f.channels for f in model.feature_info] == [2 * k, *expected]
    assert [f.reduction for f in model.feature_info] == [2, 4, 8, 16, 32]
    assert model.min_input_size == 29


@pytest.mark.parametrize("name", sorted(CIFAR_CONFIGS))
def test_cifar_depth_and_options(name: str) -> None:
    depth, k, bc = CIFAR_CONFIGS[name]
    model = meta_model(name, DenseNet)
    assert _depth(model) == depth
    assert model.bottleneck is bc and model.compression == (0.5 if bc else 1.0)
    assert model.stem.conv.out_channels == (2 * k if bc else 16)
    assert model.stem.conv.kernel_size == (3, 3) and isinstance(model.stem.bn, nn.Identity)
    assert _count(model, Transition) == 2 and model.min_input_size == 4
    for t in (model.transition1, model.transition2):
        m = t.conv.in_channels
        assert t.conv.out_channels == (m // 2 if bc else m)
    first = model.block1.layer1
    assert first.conv1.kernel_size == ((1, 1) if bc else (3, 3))
    assert (first.conv2 is not None) is bc
    if bc:
        assert first.conv1.out_channels == 4 * k and first.conv2.out_channels == k


def test_b_and_c_are_separate_options() -> None:
    # DenseNet-B: 12 bottleneck layers per block
    b = meta_model("densenet40_k12", DenseNet, bottleneck=True)
    c = meta_model("densenet40_k12", DenseNet, compression=0.5)
    assert b.compression == 1.0 and b.block1.layer1.conv2 is not None
    assert b.stem.conv.out_channels == 16  # 2k only for BC, as in the paper
    assert c.block1.layer1.conv2 is None
    assert c.transition1.conv.out_channels == (16 + 12 * 12) // 2
    theta = meta_model("densenet121", DenseNet, compression=0.3)
    assert theta.transition1.conv.out_channels == int(0.3 * 256)


def test_bad_options_are_explained() -> None:
    with pytest.raises(ValueError, match=r"3 \* 2 \* n \+ 4"):
        cifar_layers_per_block(101, True)
    assert cifar_layers_per_block(190, True) == 31 and cifar_layers_per_block(40, False) == 12
    with pytest.raises(ValueError, match="compression"):
        meta_model("densenet121", DenseNet, compression=0.0)


def test_dropout_after_every_conv_but_the_first() -> None:
    """Sec. 4.2: "a dropout layer after each convolutional layer (except the first one)"."""
    model = classicnets.create_model("densenet_bc100_k12", conv_drop_rate=0.2).train()
    calls = {"conv": 0, "drop": 0}

    def hook(kind: str):
        def fn(*_: object) -> None:
            calls[kind] += 1

        return fn

    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            m.register_forward_hook(hook("conv"))
        elif isinstance(m, nn.Dropout) and m.p == 0.2:
            m.register_forward_hook(hook("drop"))
    x = torch.randn(2, 3, 32, 32)
    a = model(x)
    assert calls["conv"] == 99 and calls["drop"] == 98
    assert not torch.equal(a, model(x))
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(x), model(x), rtol=0, atol=0)


# -- memory-efficient mode ------------------------------------------------------------------------


class _CountForwardOps(TorchDispatchMode):
    """Counts forward concatenations and batch norms (not their backward ops)."""

    def __init__(self) -> None:
        super().__init__()
        self.cats = self.batch_norms = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        name = func.name()
        if "backward" not in name:
            self.cats += name.startswith("aten::cat")
            self.batch_norms += "batch_norm" in name
        return func(*args, **(kwargs or {}))


def _pair(name: str, **options: object) -> tuple[DenseNet, DenseNet]:
    standard = classicnets.create_model(name, **options)
    efficient = classicnets.create_model(name, memory_efficient=True, **options)
    efficient.load_state_dict(standard.state_dict())
    assert isinstance(standard, DenseNet) and isinstance(efficient, DenseNet)
    return standard, efficient


def _train_step(model: nn.Module, x: torch.Tensor, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(seed)
    x = x.clone().requires_grad_(True)
    out = model(x)
    out.logsumexp(1).sum().backward()
    assert x.grad is not None
    return out.detach(), x.grad


def test_memory_efficient_gives_the_standard_gradients_and_statistics() -> None:
    standard, efficient = _pair("densenet_bc100_k12", conv_drop_rate=0.2, num_classes=10)
    standard.train()
    efficient.train()
    x = torch.randn(4, 3, 32, 32)
    out_s, dx_s = _train_step(standard, x, seed=1)
    out_e, dx_e = _train_step(efficient, x, seed=1)
    torch.testing.assert_close(out_e, out_s, rtol=0, atol=0)
    torch.testing.assert_close(dx_e, dx_s, rtol=1e-5, atol=1e-7)
    grads_s = dict(standard.named_parameters())
    for name, p in efficient.named_parameters():
        assert p.grad is not None, name
        torch.testing.assert_close(p.grad, grads_s[name].grad, rtol=1e-5, atol=1e-7, msg=name)
    # the recomputation must not update BN's running averages a second time
    buffers_s = dict(standard.named_buffers())
    for name, b in efficient.named_buffers():
        torch.testing.assert_close(b, buffers_s[name], rtol=0, atol=0, msg=name)


def test_memory_efficient_really_recomputes() -> None:
    """The backward pass re-runs each layer's concatenation and BN; the standard mode's does not.

    Guards against a flag that silently does nothing (the known failure elsewhere), and checks
    that the tensors kept for backward shrink.
    """
    standard, efficient = _pair("densenet40_k12", num_classes=10)
    layers, blocks = _count(efficient, DenseLayer), _count(efficient, DenseBlock)
    x = torch.randn(2, 3, 32, 32)  # an input that does not require grad
    for model, recomputed in ((standard, 0), (efficient, layers)):
        model.train()
        saved: list[int] = []

        def pack(t: torch.Tensor, saved: list[int] = saved) -> torch.Tensor:
            saved.append(t.numel() * t.element_size())
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            loss = model(x).sum()
        counter = _CountForwardOps()
        with counter:
            loss.backward()
        assert counter.batch_norms == recomputed
        # a block's first layer reads the block input itself: nothing to concatenate
        assert counter.cats == max(recomputed - blocks, 0)
        model.saved_bytes = sum(saved)  # type: ignore[attr-defined]
    assert efficient.saved_bytes < 0.5 * standard.saved_bytes  # type: ignore[attr-defined]


def test_memory_efficient_can_be_switched_on_a_built_model() -> None:
    model = meta_model("densenet121", DenseNet)
    assert not model.memory_efficient
    model.memory_efficient = True
    assert model.memory_efficient and model.block4.layer16.memory_efficient


def test_memory_efficient_does_nothing_without_autograd() -> None:
    standard, efficient = _pair("densenet40_k12", num_classes=10)
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(efficient.eval()(x), standard.eval()(x), rtol=0, atol=0)


# -- torchvision key layout (the oracles for every foreign DenseNet are in test_weights.py) ----


def test_published_key_layout_maps_too() -> None:
    """torchvision's weight files name the layers "norm.1", "conv.2" (its loader renames them)."""
    tvm = pytest.importorskip("torchvision.models")
    with torch.device("meta"):
        sd = tvm.densenet121(weights=None).state_dict()
    legacy = {
        k.replace(".norm1.", ".norm.1.")
        .replace(".conv1.", ".conv.1.")
        .replace(".norm2.", ".norm.2.")
        .replace(".conv2.", ".conv.2."): v
        for k, v in sd.items()
    }
    assert legacy.keys() != sd.keys()
    assert (
        densenet_from_torchvision(legacy).keys()
        == meta_model("densenet121", DenseNet).state_dict().keys()
    )
