from __future__ import annotations

import time

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import classicnets
from classicnets.tools.summary import profile_model, render, summarize


@pytest.mark.parametrize("name", ["resnet18", "resnet50", "resnet20"])
def test_mult_adds_agree_with_torch_flop_counter(name: str) -> None:
    info = classicnets.model_info(name)
    s = info.input_size
    with torch.device("meta"):
        model = classicnets.create_model(name).eval()
        x = torch.empty(1, 3, s, s)
        with FlopCounterMode(display=False) as counter:
            model(x)
    assert summarize(name).macs == counter.get_total_flops() // 2


def test_rows_aggregate_their_subtree() -> None:
    p = summarize("resnet50")
    top = p.table_rows(depth=1)
    assert [r.name for r in top] == [
        "stem",
        "maxpool",
        "layer1",
        "layer2",
        "layer3",
        "layer4",
        "head",
    ]
    assert sum(r.params for r in top) == p.params == 25_557_032
    assert sum(r.macs for r in top) == p.macs
    assert top[2].output_shape == (256, 56, 56)
    deeper = p.table_rows(depth=2)
    assert any(r.name == "layer3.22" for r in summarize("resnet101").table_rows(2))
    assert sum(r.macs for r in deeper) == p.macs


def test_counting_on_meta_is_fast_even_for_the_deepest_model() -> None:
    t = time.perf_counter()
    p = summarize("resnet1202")
    assert p.params == 19_421_274
    assert time.perf_counter() - t < 60  # generous: meta tensors allocate nothing


def test_non_default_input_size_scales_mult_adds() -> None:
    a = summarize("resnet18", input_size=224).macs
    b = summarize("resnet18", input_size=448).macs
    fc = 512 * 1000
    assert b - fc == 4 * (a - fc)


def test_render_states_the_unit() -> None:
    text = render(summarize("resnet20"), depth=1)
    assert "mult-adds" in text and "'FLOPs'" in text and "269,722" in text


def test_profile_real_model_restores_training_mode() -> None:
    model = classicnets.create_model("resnet20")
    model.train()
    profile_model(model, (32, 32), 3)
    assert model.training
