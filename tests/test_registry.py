from __future__ import annotations

import pytest
from torch import nn

import classicnets
from classicnets.errors import UnknownModelError, UnknownOptionError
from classicnets.models.registry import register_model
from classicnets.models.specs import Paper, PaperFigures


def test_list_models_glob_and_natural_order() -> None:
    names = classicnets.list_models("resnet*")
    assert names[:3] == ["resnet18", "resnet20", "resnet32"]
    assert "resnet1202" in names and "resnet50_v1_5" in names
    assert classicnets.list_models("no-such-*") == []
    assert set(classicnets.list_models(family="resnet")) >= {"resnet18", "resnet110"}


def test_unknown_name_suggests_close_names() -> None:
    with pytest.raises(UnknownModelError) as err:
        classicnets.create_model("resnet5")
    msg = str(err.value)
    assert "resnet50" in msg and "resnet56" in msg and "classicnets list" in msg
    with pytest.raises(KeyError):  # also a KeyError, for code that expects one
        classicnets.model_info("resnett18")


def test_registering_a_name_twice_raises() -> None:
    paper = Paper("x", "x", "x", 2000, "0000.00000")

    def resnet18() -> nn.Module:
        return nn.Identity()

    with pytest.raises(ValueError, match="already registered"):
        register_model(family="x", paper=paper, figures=PaperFigures(source="x"))(resnet18)


def test_model_info_has_paper_and_figures() -> None:
    info = classicnets.model_info("resnet50")
    assert info.paper.arxiv == "1512.03385"
    assert info.input_size == 224 and info.num_classes == 1000
    assert info.figures.ref_params == 25_557_032
    assert any(e.top1 == 22.85 for e in info.figures.errors)
    assert {"shortcut", "stride_in", "drop_rate", "zero_init_last"} <= set(info.options())
    cifar = classicnets.model_info("resnet20")
    assert cifar.input_size == 32 and cifar.num_classes == 10


def test_defaults_and_overrides() -> None:
    assert classicnets.create_model("resnet20").num_classes == 10
    assert classicnets.create_model("resnet20", num_classes=100).num_classes == 100
    m = classicnets.create_model("resnet18", drop_rate=0.3)
    assert m.head.drop.p == 0.3 and m.model_name == "resnet18"


def test_option_errors() -> None:
    with pytest.raises(UnknownOptionError, match="shortcut"):
        classicnets.create_model("resnet18", shortcutt="A")
    with pytest.raises(ValueError, match="'A', 'B' or 'C'"):
        classicnets.create_model("resnet18", shortcut="D")
    with pytest.raises(ValueError, match="only applies with features_only"):
        classicnets.create_model("resnet18", out_indices=(1,))


def test_default_options_are_what_the_builder_passes() -> None:
    opts = classicnets.model_info("resnet50_v1_5").default_options()
    assert opts["stride_in"] == "3x3" and opts["layers"] == (3, 4, 6, 3)
    assert opts["num_classes"] == 1000 and opts["shortcut"] == "B"
    assert classicnets.model_info("resnet20").default_options()["shortcut"] == "A"
    # the spy is removed again: building still works normally afterwards
    assert classicnets.create_model("resnet20").num_classes == 10
