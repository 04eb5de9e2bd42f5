"""set_grad_checkpointing on every registered model: same gradients, same BN statistics, and
less memory kept for the backward pass.

The default suite checks the smallest model of each family (the mechanism is generic over
set_stages, so a family is covered by one model); the whole registry runs under ``slow``.
"""

from __future__ import annotations

import copy

import pytest
import torch

import classicnets
import classicnets.layers.grad_checkpoint as gc
from classicnets.tools.bench.harness import saved_activation_bytes
from helpers import input_size
from representatives import smallest_per_family

ALL = classicnets.list_models()
REPRESENTATIVES = smallest_per_family()


@pytest.mark.parametrize("name", REPRESENTATIVES)
def test_checkpointing_keeps_gradients_and_statistics(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _check_checkpointing(name, monkeypatch)


@pytest.mark.slow
@pytest.mark.parametrize("name", ALL)
def test_checkpointing_registry(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _check_checkpointing(name, monkeypatch)


def _check_checkpointing(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    plain = classicnets.create_model(name, num_classes=10).train()
    s = input_size(plain)
    x = torch.randn(2, 3, s, s)
    kept = saved_activation_bytes(copy.deepcopy(plain), x)
    lean = copy.deepcopy(plain)
    lean.set_grad_checkpointing()
    assert saved_activation_bytes(lean, x) < 0.7 * kept, "checkpointing saved little memory"
    ckpt = copy.deepcopy(plain)
    ckpt.set_grad_checkpointing()
    calls = []
    original = gc._checkpoint
    monkeypatch.setattr(gc, "_checkpoint", lambda m, x: calls.append(m) or original(m, x))
    torch.manual_seed(1)
    plain(x).logsumexp(1).mean().backward()
    torch.manual_seed(1)
    ckpt(x).logsumexp(1).mean().backward()
    assert calls, "set_grad_checkpointing() had no effect: forward bypasses the stages"
    for (n, p), (_, q) in zip(plain.named_parameters(), ckpt.named_parameters(), strict=True):
        torch.testing.assert_close(q.grad, p.grad, msg=f"gradient of {n}", equal_nan=True)
    for (n, b), (_, c) in zip(plain.named_buffers(), ckpt.named_buffers(), strict=True):
        torch.testing.assert_close(c, b, msg=f"buffer {n}", equal_nan=True)


def test_checkpointing_is_off_in_eval_and_can_be_switched_off() -> None:
    model = classicnets.create_model("resnet20")
    model.set_grad_checkpointing()
    assert model.grad_checkpointing
    model.set_grad_checkpointing(False)
    assert not model.grad_checkpointing
