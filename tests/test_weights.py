"""Weights: torchvision/timm interchange (oracles both ways), fitting, safe files, the registry."""

from __future__ import annotations

import os
import pickle
import random
from pathlib import Path

import pytest
import torch
from torch import nn

import classicnets
from classicnets.errors import (
    ArchitectureMismatchError,
    UnknownWeightsError,
    WeightsError,
    WeightsFileError,
    WeightsMismatchError,
)
from classicnets.tools.untrained import stand_in_batchnorm
from classicnets.weights import (
    FOREIGN_ARCHS,
    ForeignArch,
    WeightsAdaptedWarning,
    export_weights,
    get_weights,
    list_weights,
    load_weights,
    read_file,
    save_weights,
)
from classicnets.weights.interchange import build_foreign
from helpers import assert_same_values, foreign_state, input_size, meta_model

tvm = pytest.importorskip("torchvision.models")


def _assert_same_logits(a: nn.Module, b: nn.Module, size: int) -> None:
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        assert_same_values(a(x), b(x))


# -- oracles: every entry of FOREIGN_ARCHS, both directions ------------------------------------
#
# The one place that checks torchvision/timm interchange: every entry of the table, so a new entry
# is checked without a line here. Their model with random weights (and random BN statistics) ->
# load_weights into ours -> the same logits; ours with new weights -> export_weights -> loaded
# strictly by theirs -> the same logits. Random BN statistics and convolution biases (the SE
# blocks' FCs), so that no mapping error hides behind an identity. The entries with auxiliary
# heads are also compared in training mode, heads included.


def _oracle_params(entries: tuple[ForeignArch, ...] | list[ForeignArch]) -> list[object]:
    # Every entry runs in the default suite (CI): each is a different foreign model, and a
    # deeper copy of a checked architecture can still differ in a layer's key or shape.
    return [pytest.param(e, id=f"{e.library}-{e.name}") for e in entries]


def _oracle_size(model: nn.Module) -> int:
    """An odd size of at least 64 pixels: odd sizes are where Caffe's ceil-mode pooling (timm's
    legacy SE ports, torchvision's GoogLeNet) differs from zero padding."""
    return input_size(model, 64) | 1


def _new_weights(model: nn.Module) -> nn.Module:
    """Other weights than those loaded: random BN statistics, every parameter nudged."""
    stand_in_batchnorm(model)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))
    return model


@pytest.mark.parametrize("entry", _oracle_params(FOREIGN_ARCHS))
def test_oracle_both_directions(entry: ForeignArch) -> None:
    # timm's Inception v3 runs its auxiliary head in eval mode too (and its published weights
    # have none): compare it with ours built without one
    timm_aux = entry.library == "timm" and "aux_logits" in entry.mirror
    model = classicnets.create_model(entry.ours, **({"aux_logits": False} if timm_aux else {}))
    model.eval()
    if entry.library == "timm":
        pytest.importorskip("timm")
    reference = stand_in_batchnorm(build_foreign(entry, model, device="cpu"), conv_bias=True).eval()
    size = _oracle_size(model)

    report = load_weights(model, reference.state_dict())  # layout detected, strict
    assert report.ok and report.layout == entry.rules
    _assert_same_logits(reference, model, size)

    # the reverse: new weights in ours, exported to their layout, loaded strictly by them
    _new_weights(model).eval()
    reference.load_state_dict(export_weights(model, entry.library), strict=True)
    _assert_same_logits(model, reference.eval(), size)


_AUX_ENTRIES = [e for e in FOREIGN_ARCHS if "aux_logits" in e.mirror]
# Inception v3's auxiliary head pools 5x5/3 and convolves 5x5 the 17x17 map of a 299x299 image
_AUX_INPUT = {"inception_v3": 299}


def _with_aux_heads(entry: ForeignArch, **options: object) -> nn.Module:
    """Their model for ``entry`` with its auxiliary heads, random weights (and BN statistics)."""
    if entry.library == "torchvision":
        theirs = tvm.get_model(entry.name, weights=None, aux_logits=True, **entry.kwargs, **options)
    else:
        theirs = pytest.importorskip("timm").create_model(entry.name, aux_logits=True, **options)
    return stand_in_batchnorm(theirs, conv_bias=True)


def _logits_and_aux(model: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """Main then auxiliary logits (ours: aux1, aux2, ...) in training mode, with dropout and BN
    in eval mode so that both models compute the same function."""
    model.train()
    for m in model.modules():
        if isinstance(m, nn.Dropout | nn.BatchNorm2d):
            m.eval()
    with torch.no_grad():
        if hasattr(model, "forward_with_aux"):  # ours
            logits, aux = model.forward_with_aux(x)
            return [logits, *aux]
        out = model(x)
    if hasattr(out, "_fields"):  # torchvision's GoogLeNetOutputs / InceptionOutputs
        heads = sorted(f for f in out._fields if f.startswith("aux"))
        return [out.logits, *(getattr(out, f) for f in heads)]
    return list(out)  # timm: (logits, aux)


def _assert_same_with_aux(a: nn.Module, b: nn.Module, size: int) -> None:
    x = torch.randn(1, 3, size, size)
    expected, got = _logits_and_aux(a, x), _logits_and_aux(b, x)
    assert len(expected) == len(got) > 1
    for e, g in zip(expected, got, strict=True):
        assert_same_values(e, g)


@pytest.mark.parametrize("entry", _oracle_params(_AUX_ENTRIES))
def test_oracle_auxiliary_heads_both_directions(entry: ForeignArch) -> None:
    """Every entry whose export mirrors aux_logits: the heads too, in training mode. torchvision's
    networks also with transform_input=True (its setting for its released weights)."""
    options = {"transform_input": True} if entry.library == "torchvision" else {}
    reference = _with_aux_heads(entry, **options)
    model = classicnets.create_model(entry.ours, **options)
    report = load_weights(model, reference.state_dict())
    assert report.ok and report.layout == entry.rules
    assert not report.aux_initialised and not report.aux_dropped
    size = _AUX_INPUT.get(entry.ours, _oracle_size(model))
    _assert_same_with_aux(reference, model, size)

    _new_weights(model)
    reference.load_state_dict(export_weights(model, entry.library), strict=True)  # aux mirrored
    _assert_same_with_aux(model, reference, size)


def test_foreign_table_names_real_architectures() -> None:
    registered = set(classicnets.list_models())
    tv = set(tvm.list_models())
    for e in FOREIGN_ARCHS:
        assert e.ours in registered, e
        assert e.rules in ("torchvision", "timm"), e
        if e.library == "torchvision":
            assert e.name in tv, e
    timm = pytest.importorskip("timm")
    assert all(timm.is_model(e.name) for e in FOREIGN_ARCHS if e.library == "timm")


# -- architecture checks: the compatible variant is named ------------------------------------


def test_torchvision_resnet50_into_the_paper_resnet50_names_v1_5() -> None:
    theirs = foreign_state("torchvision", "resnet50")
    with pytest.raises(ArchitectureMismatchError, match=r"resnet50_v1_5.*stride on the 3x3"):
        load_weights(meta_model("resnet50"), theirs)
    report = load_weights(meta_model("resnet50"), theirs, check_arch=False)
    assert report.ok and report.layout == "torchvision"


_TV_GOOGLENET = {"aux_logits": False, "init_weights": False}


@pytest.mark.parametrize(
    ("library", "theirs", "options", "ours", "variant", "error"),
    [
        # the paper's Inception networks are not the releases
        ("torchvision", "googlenet", _TV_GOOGLENET, "googlenet", "googlenet_torchvision",
         WeightsMismatchError),
        ("torchvision", "googlenet", _TV_GOOGLENET, "googlenet_bn", "googlenet_torchvision",
         WeightsMismatchError),
        ("timm", "inception_v4", {}, "inception_v4", "inception_v4_tf", WeightsMismatchError),
        ("timm", "inception_resnet_v2", {}, "inception_resnet_v2", "inception_resnet_v2_tf",
         WeightsMismatchError),
        # timm's SE networks: the paper's keys and shapes, another function
        ("timm", "legacy_seresnet18", {}, "seresnet18", "seresnet18_timm_legacy",
         ArchitectureMismatchError),
        ("timm", "seresnet50", {}, "seresnet50", "seresnet50_timm", ArchitectureMismatchError),
        ("timm", "seresnext50_32x4d", {}, "seresnext50_32x4d", "seresnext50_32x4d_timm",
         ArchitectureMismatchError),
        # a checkpoint of another of our variants
        ("timm", "legacy_seresnext50_32x4d", {}, "seresnet50", "seresnext50_32x4d",
         WeightsMismatchError),
        ("timm", "legacy_seresnet50", {}, "seresnext50_32x4d", "seresnet50", WeightsMismatchError),
        ("torchvision", "resnext101_32x8d", {}, "resnext101_64x4d", "resnext101_32x8d",
         WeightsMismatchError),
        ("torchvision", "resnext50_32x4d", {}, "resnext101_32x4d", "resnext50_32x4d",
         WeightsMismatchError),
    ],
)  # fmt: skip
def test_a_checkpoint_for_another_network_names_the_one_to_build(
    library: str,
    theirs: str,
    options: dict[str, object],
    ours: str,
    variant: str,
    error: type[Exception],
) -> None:
    """A checkpoint that fits another network, theirs or ours, is refused with the network to
    build named: create_model('<variant>')."""
    state = foreign_state(library, theirs, **options)
    with pytest.raises(error, match=rf"create_model\('{variant}'\)"):
        load_weights(meta_model(ours), state)


def test_export_refuses_an_architecture_they_do_not_have() -> None:
    with pytest.raises(WeightsError, match=r"torchvision's resnet50 is our resnet50_v1_5"):
        export_weights(meta_model("resnet50"), "torchvision")
    with pytest.raises(WeightsError, match="no torchvision equivalent"):
        export_weights(meta_model("resnet56"), "torchvision")


def test_mismatch_is_a_readable_table_not_a_key_error() -> None:
    theirs = foreign_state("torchvision", "resnet18")
    with pytest.raises(WeightsMismatchError) as info:
        load_weights(meta_model("resnet34"), theirs)
    text = str(info.value)
    assert not isinstance(info.value, KeyError)
    assert "80 missing" in text and "layer1.2.conv1.conv.weight" in text and "64x64x3x3" in text
    assert "... and 60 more" in text and "create_model('resnet18')" in text


def test_strict_false_loads_what_fits_and_reports_the_rest() -> None:
    source = classicnets.create_model("resnet20")
    target = classicnets.create_model("resnet32")
    report = load_weights(target, source.state_dict(), strict=False)
    assert not report.ok and len(report.missing) == 2 * 2 * 3 * 5  # 2 blocks/stage x 3 stages
    assert report.loaded == len(source.state_dict())
    torch.testing.assert_close(target.stem.conv.weight, source.stem.conv.weight)
    assert "layer1.3.conv1.conv.weight" in report.table() and "... and 40 more" in report.table()


def test_unknown_layout_says_so() -> None:
    with pytest.raises(WeightsMismatchError, match="none of the layouts known"):
        load_weights(meta_model("resnet18"), {"features.0.weight": torch.zeros(64, 3, 3, 3)})


# -- adapting the classifier and the first conv ----------------------------------------------------


@pytest.fixture(scope="module")
def tv_resnet18() -> nn.Module:
    torch.manual_seed(1)
    return stand_in_batchnorm(tvm.resnet18()).eval()


def test_other_num_classes_reinitialises_the_classifier(tv_resnet18: nn.Module) -> None:
    model = classicnets.create_model("resnet18", num_classes=10)
    with torch.no_grad():
        model.head.fc.weight.fill_(1.0)  # so that "re-initialised" is visible
    with pytest.warns(WeightsAdaptedWarning, match=r"1000 classes and the model 10.*re-init"):
        report = load_weights(model, tv_resnet18.state_dict())
    assert report.reinitialised == ["head.fc.weight", "head.fc.bias"]
    fc = model.head.fc.weight.detach()
    assert fc.shape == (10, 512) and float(fc.std()) < 0.02
    ours, theirs = model.layer4[1].conv2.conv.weight, tv_resnet18.layer4[1].conv2.weight
    torch.testing.assert_close(ours, theirs)


def test_no_classifier_drops_the_checkpoints(tv_resnet18: nn.Module) -> None:
    model = classicnets.create_model("resnet18", num_classes=0)
    with pytest.warns(WeightsAdaptedWarning, match="no classifier"):
        assert load_weights(model, tv_resnet18.state_dict()).ok


def test_grayscale_sums_the_first_conv(tv_resnet18: nn.Module) -> None:
    model = classicnets.create_model("resnet18", in_chans=1).eval()
    with pytest.warns(WeightsAdaptedWarning, match="summed"):
        load_weights(model, tv_resnet18.state_dict())
    gray = torch.randn(1, 1, 64, 64)
    with torch.no_grad():  # a gray image through the adapted net = the same image as RGB
        torch.testing.assert_close(model(gray), tv_resnet18(gray.repeat(1, 3, 1, 1)))


def test_more_channels_repeat_and_rescale(tv_resnet18: nn.Module) -> None:
    model = classicnets.create_model("resnet18", in_chans=5)
    with pytest.warns(WeightsAdaptedWarning, match="repeated"):
        load_weights(model, tv_resnet18.state_dict())
    w, rgb = model.stem.conv.weight, tv_resnet18.conv1.weight
    torch.testing.assert_close(w[:, :3], rgb * 3 / 5)
    torch.testing.assert_close(w[:, 3:], rgb[:, :2] * 3 / 5)


def test_adapt_false_reports_instead(tv_resnet18: nn.Module) -> None:
    with pytest.raises(WeightsMismatchError, match=r"head.fc.weight\s+1000x512\s+10x512"):
        load_weights(
            classicnets.create_model("resnet18", num_classes=10),
            tv_resnet18.state_dict(),
            adapt=False,
        )


# -- our files: safetensors with metadata --------------------------------------------------------


def test_safetensors_round_trip_with_metadata(tmp_path: Path) -> None:
    model = stand_in_batchnorm(classicnets.create_model("resnet20")).eval()
    path = save_weights(
        model, tmp_path / "r20.safetensors", categories="cifar-10", classes=list("abcdefghij")
    )
    _, meta = read_file(path)
    assert meta["classicnets.architecture"] == "resnet20" and meta["classicnets.in_chans"] == "3"
    other = classicnets.create_model("resnet20")
    report = load_weights(other, path)
    assert report.layout == "classicnets" and report.metadata["classes"][0] == "a"
    for k, v in model.state_dict().items():
        torch.testing.assert_close(other.state_dict()[k], v)
    with pytest.raises(ArchitectureMismatchError, match=r"for resnet20, but the model is resnet32"):
        load_weights(classicnets.create_model("resnet32"), path)


def test_checkpoint_wrappers_and_prefixes(tmp_path: Path, tv_resnet18: nn.Module) -> None:
    wrapped = {"epoch": 3, "model": {f"module.{k}": v for k, v in tv_resnet18.state_dict().items()}}
    torch.save(wrapped, tmp_path / "ckpt.pt")
    assert load_weights(classicnets.create_model("resnet18"), tmp_path / "ckpt.pt").ok


class _Payload:
    """Unpickling this creates a file: the kind of code a checkpoint can smuggle in."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.marker), "w"))


@pytest.mark.parametrize("writer", ["torch.save", "pickle.dump"])
def test_malicious_pickle_is_refused_and_never_runs(tmp_path: Path, writer: str) -> None:
    def plant(path: Path, marker: Path) -> None:
        obj = {"stem.conv.weight": torch.zeros(1), "x": _Payload(marker)}
        if writer == "torch.save":
            torch.save(obj, path)
        else:
            with path.open("wb") as f:
                pickle.dump(obj, f, protocol=2)

    # the payload is real: an unsafe load runs it
    proof = tmp_path / "proof-it-runs"
    plant(tmp_path / "proof.pth", proof)
    with (tmp_path / "proof.pth").open("rb") as f:
        torch.load(f, weights_only=False) if writer == "torch.save" else pickle.load(f)
    assert proof.exists()

    marker = tmp_path / "pwned"
    plant(tmp_path / "evil.pth", marker)
    with pytest.raises(WeightsFileError, match=r"refused to load .*evil\.pth.*weights_only"):
        load_weights(classicnets.create_model("resnet20"), tmp_path / "evil.pth")
    assert not marker.exists()


def test_random_bytes_and_empty_files_name_the_file(tmp_path: Path) -> None:
    rng = random.Random(0)
    model = classicnets.create_model("resnet20")
    cases = {
        "empty.pth": (b"", "is empty"),
        "noise.safetensors": (b"\x00" + rng.randbytes(4095), "neither a safetensors"),
        "noise.pth": (b"\x80" + rng.randbytes(4095), "not a readable PyTorch checkpoint"),
        "zip.pt": (b"PK\x03\x04" + rng.randbytes(100), "not a readable PyTorch checkpoint"),
    }
    for name, (data, message) in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(WeightsFileError, match=message) as info:
            load_weights(model, tmp_path / name)
        assert name in str(info.value)
    good = save_weights(model, tmp_path / "cut.safetensors")
    good.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(WeightsFileError, match=r"cut\.safetensors is a corrupt or truncated"):
        load_weights(model, good)
    with pytest.raises(WeightsFileError, match="no such file"):
        load_weights(model, tmp_path / "absent.safetensors")
    with pytest.raises(WeightsFileError, match="neither an existing file nor a registered"):
        load_weights(model, "resnet20.nothing")


# -- the registry of published weights -----------------------------------------------------------


def test_registry_entries_are_complete() -> None:
    registered = set(classicnets.list_models())
    names = list_weights()
    assert {"resnet18.tv_in1k", "resnet50_v1_5.tv_in1k", "resnet50_v1_5.a1_in1k"} <= set(names)
    for name in names:
        s = get_weights(name)
        assert s.arch in registered and s.url.startswith("https://"), name
        assert s.filename in s.url and s.sha256 in s.filename, name  # the published prefix
        assert s.license and s.recipe, name
        # an accuracy with its protocol, except for weights that do not classify
        assert s.features_only or (s.accuracy is not None and s.accuracy.protocol), name
        assert 0.8 < s.preprocessing.crop_fraction <= 1.0, name
        assert s.layout == "classicnets" or any(
            e.ours == s.arch and e.library == s.layout for e in FOREIGN_ARCHS
        ), name
    assert classicnets.weights.default_weights("resnet50_v1_5").tag == "tv_in1k"
    names = get_weights("resnet18.tv_in1k").class_names()
    assert len(names) == 1000 and names[0] == "tench"


def test_pretrained_for_the_paper_variant_names_the_right_one() -> None:
    with pytest.raises(UnknownWeightsError, match=r"resnet50_v1_5.*pretrained=True"):
        classicnets.create_model("resnet50", pretrained=True)
    with pytest.raises(UnknownWeightsError, match="tags registered for resnet18: tv_in1k"):
        classicnets.create_model("resnet18", pretrained="nope")
    with pytest.raises(ArchitectureMismatchError, match="are for resnet34"):
        classicnets.create_model("resnet18", pretrained="resnet34.tv_in1k")


def test_local_file_without_network(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "no-cache"))
    source = stand_in_batchnorm(classicnets.create_model("resnet20")).eval()
    path = save_weights(source, tmp_path / "mine.safetensors")
    model = classicnets.create_model("resnet20", pretrained=str(path))
    torch.testing.assert_close(model.stem.conv.weight, source.stem.conv.weight)
    model = classicnets.create_model("resnet20", pretrained=path)  # a PathLike as well
    assert not (tmp_path / "no-cache").exists() and os.path.exists(path)


# -- command line ----------------------------------------------------------------------------------


def test_cli_weights_lists_provenance(capsys: pytest.CaptureFixture[str]) -> None:
    from classicnets.cli import main

    assert main(["weights", "resnet50*"]) == 0
    out = capsys.readouterr().out
    assert "resnet50_v1_5.tv2_in1k" in out and "prefix 0676ba61" in out and "80.86" in out
    assert "resnet18" not in out
    assert main(["weights", "resnet18.tv_in1k"]) == 0
    out = capsys.readouterr().out
    assert "https://download.pytorch.org/models/resnet18-f37072fd.pth" in out
    assert "fraction 0.875" in out and "ResNet18_Weights.IMAGENET1K_V1" in out
    assert main(["weights", "vgg99*"]) == 1


def test_cli_convert_both_ways(tmp_path: Path, tv_resnet18: nn.Module) -> None:
    from classicnets.cli import main

    torch.save(tv_resnet18.state_dict(), tmp_path / "tv.pth")
    out = tmp_path / "ours.safetensors"
    argv = ["convert", str(tmp_path / "tv.pth"), "--arch", "resnet18", "--from", "torchvision"]
    assert main([*argv, "--out", str(out)]) == 0
    _, meta = read_file(out)
    assert meta["classicnets.architecture"] == "resnet18" and "tv.pth" in meta["classicnets.source"]
    model = classicnets.create_model("resnet18", pretrained=str(out)).eval()
    _assert_same_logits(tv_resnet18, model, 64)

    back = tmp_path / "tv.safetensors"
    assert (
        main(["convert", str(out), "--arch", "resnet18", "--to", "torchvision", "--out", str(back)])
        == 0
    )
    reference = tvm.resnet18()
    reference.load_state_dict(read_file(back)[0], strict=True)
    _assert_same_logits(tv_resnet18, reference.eval(), 64)

    # a 1000-class checkpoint into a 10-class model is not a faithful conversion: refused
    assert main([*argv, "--num-classes", "10", "--out", str(tmp_path / "x.safetensors")]) == 2


def test_registered_weights_for_another_variant_are_refused_before_downloading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(ArchitectureMismatchError, match="v1_5, but the model is resnet50"):
        load_weights(meta_model("resnet50"), "resnet50_v1_5.tv_in1k")
    assert not any(tmp_path.iterdir())
