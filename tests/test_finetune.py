"""Freezing and parameter groups through the stage description, one model per family."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import classicnets
from classicnets.training.finetune import (
    FreezeError,
    freeze,
    freeze_batchnorm_stats,
    layer_ids,
    param_groups,
)
from representatives import smallest_per_family

FAMILIES = smallest_per_family()


def _small_input(model: nn.Module) -> torch.Tensor:
    size = model.min_input_size
    return torch.randn(2, model.in_chans, size, size)


def _snapshot(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _train_steps(model: nn.Module, steps: int = 1) -> None:
    groups = param_groups(model, weight_decay=1e-4)
    opt = torch.optim.SGD(groups, lr=0.1, momentum=0.9)
    model.train()
    x = _small_input(model)
    for _ in range(steps):
        logits, aux = model.forward_with_aux(x)
        loss = logits.square().mean() + sum(a.square().mean() for a in aux)
        opt.zero_grad()
        loss.backward()
        opt.step()


@pytest.mark.parametrize("name", FAMILIES)
def test_frozen_stages_and_their_statistics_do_not_change(name: str) -> None:
    torch.manual_seed(0)
    model = classicnets.create_model(name, num_classes=5)
    report = freeze(model, 1)  # the stem and the first stage after it
    frozen = {n for n in report.modules}
    assert report.params > 0 and report.batchnorms >= 0
    before = _snapshot(model)
    _train_steps(model)
    after = model.state_dict()
    changed_frozen = [
        k for k in before if k.split(".", 1)[0] in frozen and not torch.equal(before[k], after[k])
    ]
    assert not changed_frozen, f"frozen entries changed: {changed_frozen[:5]}"
    trained = [
        k
        for k in before
        if k.split(".", 1)[0] not in frozen
        and after[k].is_floating_point()
        and not torch.equal(before[k], after[k])
    ]
    assert any(k.startswith("head.") for k in trained), "the head did not train"
    assert len(trained) > 2


@pytest.mark.parametrize("name", FAMILIES)
def test_linear_probe_trains_the_head_only(name: str) -> None:
    torch.manual_seed(0)
    model = classicnets.create_model(name, num_classes=5)
    freeze(model, "backbone")
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all(n.startswith("head.") for n in trainable)
    before = _snapshot(model)
    _train_steps(model)
    changed = [k for k, v in model.state_dict().items() if not torch.equal(before[k], v)]
    assert changed and all(k.startswith("head.") for k in changed), changed[:5]


@pytest.mark.parametrize("name", FAMILIES)
def test_layer_decay_and_head_scale_give_the_stated_rates(name: str) -> None:
    with torch.device("meta"):
        model = classicnets.create_model(name, num_classes=5)
    ids, num_layers = layer_ids(model)
    groups = param_groups(
        model, weight_decay=1e-4, head_lr_scale=10.0, layer_decay=0.5, norm_weight_decay=0.0
    )
    scale_of = {id(p): g["lr_scale"] for g in groups for p in g["params"]}
    decay_of = {id(p): g["weight_decay"] for g in groups for p in g["params"]}
    for pname, p in model.named_parameters():
        layer = ids[pname]
        expected = 0.5 ** (num_layers - 1 - layer) * (10.0 if pname.startswith("head.") else 1.0)
        assert scale_of[id(p)] == pytest.approx(expected), pname
        assert decay_of[id(p)] == (0.0 if p.ndim <= 1 else 1e-4), pname
    assert min(scale_of.values()) == pytest.approx(0.5 ** (num_layers - 1))


def test_default_groups_are_the_plain_setting() -> None:
    model = classicnets.create_model("resnet20")
    (group,) = param_groups(model, weight_decay=1e-4)
    assert group["lr_scale"] == 1.0 and group["weight_decay"] == 1e-4
    assert [id(p) for p in group["params"]] == [id(p) for p in model.parameters()]


def test_frozen_batchnorm_stays_in_eval_mode_and_keeps_its_keys() -> None:
    model = classicnets.create_model("resnet20")
    keys = list(model.state_dict())
    assert freeze_batchnorm_stats(model) > 0
    model.train()
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns and not any(m.training for m in bns)
    assert list(model.state_dict()) == keys
    before = _snapshot(model)
    _train_steps(model, steps=1)
    after = model.state_dict()
    stats = [k for k in keys if k.endswith(("running_mean", "running_var"))]
    assert all(torch.equal(before[k], after[k]) for k in stats)
    assert not torch.equal(before["head.fc.weight"], after["head.fc.weight"])


@pytest.mark.parametrize("value", ["9", "stage3", -1])
def test_a_freeze_the_model_cannot_honour_names_the_valid_values(value: object) -> None:
    with torch.device("meta"):
        model = classicnets.create_model("resnet20")
    with pytest.raises(FreezeError, match=r"stem and 3 stages after it .*from 0 to 3"):
        freeze(model, value)  # type: ignore[arg-type]
