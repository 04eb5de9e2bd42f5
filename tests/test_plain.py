"""The ResNet paper's plain networks: its residual networks with every shortcut removed and
nothing else changed (models/plain.py)."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

import classicnets
from classicnets.models.registry import model_info
from classicnets.models.resnet import ResidualBlock

PAIRS = [
    ("plain20", "resnet20"),
    ("plain56", "resnet56"),
    ("plain18", "resnet18"),
    ("plain34", "resnet34"),
]


class _NoShortcut(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return torch.zeros((), dtype=x.dtype)


@pytest.mark.parametrize(("plain", "residual"), PAIRS)
def test_plain_network_is_the_residual_network_without_its_shortcuts(
    plain: str, residual: str
) -> None:
    torch.manual_seed(0)
    p = classicnets.create_model(plain).eval()
    r = classicnets.create_model(residual).eval()
    r_state = r.state_dict()
    shortcut_keys = {k for k in r_state if ".shortcut." in k}
    # same layers, same names: only the residual network's projections (option B) are extra
    assert set(p.state_dict()) == set(r_state) - shortcut_keys
    p.load_state_dict({k: v for k, v in r_state.items() if k not in shortcut_keys})
    blocks = [m for m in p.modules() if isinstance(m, ResidualBlock)]
    assert blocks and all(b.shortcut is None for b in blocks)
    size = model_info(plain).input_size
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        with_shortcuts = r(x)
        for b in (m for m in r.modules() if isinstance(m, ResidualBlock)):
            b.shortcut = _NoShortcut()
        assert torch.allclose(p(x), r(x), atol=1e-5)
        assert not torch.allclose(p(x), with_shortcuts, atol=1e-3)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"shortcut": "A"}, "no shortcuts"),
        ({"drop_path_rate": 0.1}, "plain network"),
        ({"zero_init_last": True}, "plain network"),
    ],
)
def test_options_that_need_a_shortcut_are_refused(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        classicnets.create_model("plain20", **options)


def test_plain_networks_form_their_own_family_with_the_paper_figures() -> None:
    names = classicnets.list_models("plain*")
    assert set(names) == {"plain18", "plain34", "plain20", "plain32", "plain44", "plain56",
                          "plain110"}  # fmt: skip
    for name in names:
        info = model_info(name)
        assert info.family == "plain" and info.paper.key == "resnet"
    errors = {n: model_info(n).figures.errors for n in ("plain18", "plain34")}
    assert errors["plain18"][0].top1 == 27.94 and errors["plain34"][0].top1 == 28.54
