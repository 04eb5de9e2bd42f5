"""Class activation maps: every family, every method, the sanity checks, the bad inputs."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import classicnets
from classicnets.cli import main
from classicnets.errors import InputShapeError
from classicnets.explain import METHODS, ExplainError, explain, load_source, target_layer
from representatives import smallest_per_family


def _size(model: torch.nn.Module) -> int:
    return max(model.min_input_size, 16)


def _check_maps(model: torch.nn.Module, h: int, w: int, **kwargs: object) -> None:
    x = torch.randn(2, model.in_chans, h, w)
    ex = explain(model, x, **kwargs)
    assert ex.maps.shape == (2, h, w)
    assert torch.isfinite(ex.maps).all()
    assert ex.maps.min() >= 0 and ex.maps.max() <= 1 + 1e-6
    assert len(ex.targets) == 2 and ex.probs.shape == (2, model.num_classes)


# one model per family, plus the two with auxiliary heads and DenseNet-121 (ImageNet form)
DEFAULT_MODELS = sorted({*smallest_per_family(), "googlenet", "inception_v3"})


@pytest.mark.parametrize("name", DEFAULT_MODELS)
def test_every_family_gives_finite_maps_of_the_image_size(name: str) -> None:
    model = classicnets.create_model(name, num_classes=5)
    model.train()  # aux heads are ignored: explain switches to eval mode
    s = _size(model)
    _check_maps(model, s, s + 8)
    assert target_layer(model).name == model.feature_info[-1].module


@pytest.mark.slow
@pytest.mark.parametrize("name", classicnets.list_models())
def test_every_registered_model_gives_finite_maps(name: str) -> None:
    model = classicnets.create_model(name, num_classes=7)
    s = _size(model)
    _check_maps(model, s, s + 8)


@pytest.mark.parametrize("method", list(METHODS))
def test_every_method(method: str) -> None:
    _check_maps(classicnets.create_model("resnet20", num_classes=4), 16, 20, method=method)


def test_every_stage_and_negative_indices() -> None:
    model = classicnets.create_model("resnet20", num_classes=4)
    for stage in range(len(model.feature_info)):
        _check_maps(model, 16, 16, stage=stage)
    assert target_layer(model, -2).stage == len(model.feature_info) - 2


def test_chosen_class_is_explained() -> None:
    model = classicnets.create_model("resnet20", num_classes=4)
    ex = explain(model, torch.randn(2, 3, 16, 16), target=[3, 1])
    assert ex.targets == [3, 1]
    assert explain(model, torch.randn(3, 16, 16), target=2).maps.shape == (1, 16, 16)


# -- bad input -----------------------------------------------------------------------------------


def test_stage_out_of_range_says_which_exist() -> None:
    model = classicnets.create_model("resnet20")
    with pytest.raises(ExplainError, match=r"4 stages .* choose one from 0 to 3"):
        explain(model, torch.randn(1, 3, 16, 16), stage=4)


def test_class_beyond_the_classifier() -> None:
    model = classicnets.create_model("resnet20", num_classes=10)
    with pytest.raises(ExplainError, match=r"class index 10 is beyond .* 10 classes"):
        explain(model, torch.randn(1, 3, 16, 16), target=10)
    with pytest.raises(ExplainError, match="2 target classes given for 1 images"):
        explain(model, torch.randn(1, 3, 16, 16), target=[1, 2])


def test_image_the_model_cannot_take() -> None:
    model = classicnets.create_model("googlenet")
    with pytest.raises(InputShapeError, match=r"too small .* resize"):
        explain(model, torch.randn(1, 3, 16, 16))
    with pytest.raises(InputShapeError, match="channels"):
        explain(model, torch.randn(1, 1, 64, 64))


def test_unknown_method_and_missing_library(monkeypatch: pytest.MonkeyPatch) -> None:
    model = classicnets.create_model("resnet20")
    with pytest.raises(ExplainError, match="use one of gradcam"):
        explain(model, torch.randn(1, 3, 16, 16), method="lime")
    monkeypatch.setitem(sys.modules, "pytorch_grad_cam", None)  # as if not installed
    with pytest.raises(ExplainError, match=r"pip install 'classicnets\[explain\]'"):
        explain(model, torch.randn(1, 3, 16, 16))


def test_run_without_weights(tmp_path: Path) -> None:
    with pytest.raises(ExplainError, match=r"no weights yet .*classicnets train"):
        load_source(tmp_path)
    with pytest.raises(ExplainError, match="say which network"):
        load_source()


# -- the command ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("w") / "resnet20.safetensors"
    classicnets.save_weights(classicnets.create_model("resnet20"), path)
    return path


def test_cli_writes_a_png_per_image_and_class_and_a_montage(
    weights_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for i, size in enumerate(((40, 30), (32, 32))):  # any size: preprocessing resizes
        Image.fromarray(np.uint8(np.random.rand(size[1], size[0], 3) * 255)).save(
            tmp_path / f"im{i}.png"
        )
    out = tmp_path / "out"
    model = ["--model", "resnet20", "--weights", str(weights_file)]
    images = [str(tmp_path / "im0.png"), str(tmp_path / "im1.png")]
    assert main(["explain", *images, *model, "--top-k", "2", "--out", str(out)]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "im0_top1.png", "im0_top2.png", "im1_top1.png", "im1_top2.png", "montage.png"
    ]  # fmt: skip
    with Image.open(out / "montage.png") as m:
        assert m.width > m.height  # four panels side by side
    assert main(["explain", images[0], *model, "--class", "12", "--out", str(out)]) == 2
    assert "beyond the classifier" in capsys.readouterr().err


# -- sanity: the maps mean something -------------------------------------------------------------

CANVAS = 24  # 8x8 digits pasted on a 24x24 blank canvas: chance of a random peak in the box 11%


@pytest.fixture(scope="module")
def canvas_digits() -> dict[str, object]:
    """ResNet-20 trained briefly on digits at random places on a blank canvas, and test images
    with their boxes."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    gen = torch.Generator().manual_seed(0)
    pixels = torch.tensor(digits.images, dtype=torch.float32) / 16
    labels = torch.tensor(digits.target)
    corners = torch.randint(0, CANVAS - 8 + 1, (len(pixels), 2), generator=gen)
    images = torch.zeros(len(pixels), 1, CANVAS, CANVAS)
    for i, (r, c) in enumerate(corners.tolist()):
        images[i, 0, r : r + 8, c : c + 8] = pixels[i]
    images = (images - 0.1) / 0.3
    train, test = slice(0, 1400), slice(1400, 1600)
    torch.manual_seed(0)
    model = classicnets.create_model("resnet20", num_classes=10, in_chans=1)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(4):
        order = torch.randperm(1400, generator=gen)
        for i in range(0, 1400, 50):
            idx = order[i : i + 50]
            loss = F.cross_entropy(model(images[train][idx]), labels[train][idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    return {
        "model": model,
        "images": images[test],
        "labels": labels[test],
        "corners": corners[test],
    }


def _peak_in_box_rate(maps: torch.Tensor, corners: torch.Tensor) -> float:
    peak = maps.flatten(1).argmax(1)
    r, c = peak // CANVAS, peak % CANVAS
    top, left = corners[:, 0], corners[:, 1]
    inside = (r >= top) & (r < top + 8) & (c >= left) & (c < left + 8)
    return float(inside.float().mean())


@pytest.mark.parametrize("method", ["gradcam", "gradcam++"])
def test_cam_peak_falls_on_the_digit(canvas_digits: dict, method: str) -> None:
    """Measured (4 epochs, seed 0): Grad-CAM 0.90, Grad-CAM++ 0.94 of 200 test images, for the
    true class; chance is 64 / 576 = 0.11. Threshold 0.6. (Eigen-CAM, class-agnostic, follows
    the largest variance and peaks on the digit for only 0.09: not asserted.)"""
    d = canvas_digits
    ex = explain(d["model"], d["images"], method=method, target=d["labels"].tolist())
    assert _peak_in_box_rate(ex.maps, d["corners"]) >= 0.6


def _spearman(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Rank correlation of each pair of maps (rows)."""
    ra = a.flatten(1).argsort(1).argsort(1).double()
    rb = b.flatten(1).argsort(1).argsort(1).double()
    ra, rb = ra - ra.mean(1, keepdim=True), rb - rb.mean(1, keepdim=True)
    return (ra * rb).sum(1) / (ra.norm(dim=1) * rb.norm(dim=1)).clamp_min(1e-12)


def test_maps_of_a_reinitialised_network_differ(canvas_digits: dict) -> None:
    """Adebayo et al. 2018's model-randomisation check: the same images and classes through
    the same architecture with fresh random weights. Measured mean rank correlation with the
    trained network's maps: 0.26 (0.14 after 3 epochs); threshold 0.5."""
    d = canvas_digits
    targets = d["labels"].tolist()
    trained = explain(d["model"], d["images"], target=targets).maps
    torch.manual_seed(1)
    fresh = classicnets.create_model("resnet20", num_classes=10, in_chans=1)
    random_maps = explain(fresh, d["images"], target=targets).maps
    assert float(_spearman(trained, random_maps).mean()) < 0.5
