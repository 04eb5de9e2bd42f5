"""Class activation maps: every family, every method, the sanity checks, the bad inputs."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import classicnets
from classicnets.cli import main
from classicnets.errors import InputShapeError
from classicnets.evaluation import explain as explain_module
from classicnets.evaluation.explain import (
    METHODS,
    ExplainError,
    Panel,
    explain,
    name_inputs,
    target_layer,
)
from classicnets.evaluation.loading import load_source
from helpers import input_size
from representatives import smallest_per_family


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
    s = input_size(model, 16)
    _check_maps(model, s, s + 8)
    assert model.training  # left as it was
    assert target_layer(model).name == model.feature_info[-1].module


@pytest.mark.slow
@pytest.mark.parametrize("name", classicnets.list_models())
def test_every_registered_model_gives_finite_maps(name: str) -> None:
    model = classicnets.create_model(name, num_classes=7)
    s = input_size(model, 16)
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


def _random_image(path: Path, size: tuple[int, int] = (32, 32)) -> str:
    """A random RGB PNG of ``size`` (width, height) at ``path`` (folders made); its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.uint8(np.random.rand(size[1], size[0], 3) * 255)).save(path)
    return str(path)


def test_cli_writes_a_png_per_image_and_class_and_a_montage(
    weights_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for i, size in enumerate(((40, 30), (32, 32))):  # any size: preprocessing resizes
        _random_image(tmp_path / f"im{i}.png", size)
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


def test_cli_keeps_every_output_when_images_share_a_file_name(
    weights_file: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """An image folder repeats file names across its class folders: each output is kept, named
    and captioned after the image's path below the folder that holds all the inputs."""
    images = [_random_image(tmp_path / "data" / c / "0000.png") for c in ("cat", "ship")]
    titles: list[str] = []
    save_montage = explain_module.save_montage

    def recording_montage(panels: list[Panel], path: Path) -> Path:
        titles.extend(p.title.split(":")[0] for p in panels)
        return save_montage(panels, path)

    monkeypatch.setattr(explain_module, "save_montage", recording_montage)
    out = tmp_path / "out"
    model = ["--model", "resnet20", "--weights", str(weights_file)]
    assert main(["explain", *images, *model, "--top-k", "2", "--out", str(out)]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "cat_0000_top1.png", "cat_0000_top2.png", "montage.png",
        "ship_0000_top1.png", "ship_0000_top2.png",
    ]  # fmt: skip
    assert len(set(capsys.readouterr().out.split())) == 5  # every path printed is its own file
    assert titles == ["cat/0000.png", "cat/0000.png", "ship/0000.png", "ship/0000.png"]


def test_cli_refuses_images_it_cannot_name_apart_before_writing(
    weights_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    image = _random_image(tmp_path / "im.png")
    out = tmp_path / "out"
    model = ["--model", "resnet20", "--weights", str(weights_file)]
    assert main(["explain", image, image, *model, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("classicnets: error: image") and "is given twice" in err
    assert err.count("\n") == 1  # one line, no traceback
    assert not out.exists()


def test_input_names_take_the_plainest_form_that_tells_the_inputs_apart() -> None:
    def named(*paths: str) -> list[tuple[str, str]]:
        return [(n.stem, n.title) for n in name_inputs(paths)]

    assert named("x/im0.png", "y/im1.jpg") == [("im0", "im0.png"), ("im1", "im1.jpg")]
    assert named("d/train/cat/0.jpg", "d/val/cat/0.jpg") == [
        ("train_cat_0", "train/cat/0.jpg"),
        ("val_cat_0", "val/cat/0.jpg"),
    ]
    assert named("cat/0.jpg", "cat/0.png") == [("0.jpg", "0.jpg"), ("0.png", "0.png")]
    # A_top1.png and a_top1.png are one file where case is not told apart (macOS, Windows)
    assert named("x/A.png", "y/a.png") == [("x_A", "x/A.png"), ("y_a", "y/a.png")]
    assert named("a_b/c.png", "a/b_c.png") == [("c", "c.png"), ("b_c", "b_c.png")]
    with pytest.raises(ExplainError, match=r"a_b/c.png and a/b_c.png .* written as a_b_c.png_"):
        name_inputs(["a_b/c.png", "a/b_c.png", "z/c.png"])  # c repeats: folders joined clash


# -- sanity: the maps mean something -------------------------------------------------------------


@dataclass
class CanvasDigits:
    """A ResNet-20 trained on 8x8 digits pasted at random places on a blank square canvas, and
    200 test images (not trained on) with the top-left corners of their digits."""

    model: torch.nn.Module
    canvas: int
    images: torch.Tensor
    labels: torch.Tensor
    corners: torch.Tensor

    def peak_in_box_rate(self, maps: torch.Tensor) -> float:
        """Share of the maps whose maximum falls inside the digit's 8x8 box."""
        peak = maps.flatten(1).argmax(1)
        r, c = peak // self.canvas, peak % self.canvas
        top, left = self.corners[:, 0], self.corners[:, 1]
        inside = (r >= top) & (r < top + 8) & (c >= left) & (c < left + 8)
        return float(inside.float().mean())


def _train_canvas_digits(
    canvas: int, epochs: int, n_train: int, lr: float = 1e-2, batch: int = 50
) -> CanvasDigits:
    from sklearn.datasets import load_digits

    digits = load_digits()
    gen = torch.Generator().manual_seed(0)
    pixels = torch.tensor(digits.images, dtype=torch.float32) / 16
    labels = torch.tensor(digits.target)
    corners = torch.randint(0, canvas - 8 + 1, (len(pixels), 2), generator=gen)
    images = torch.zeros(len(pixels), 1, canvas, canvas)
    for i, (r, c) in enumerate(corners.tolist()):
        images[i, 0, r : r + 8, c : c + 8] = pixels[i]
    images = (images - 0.1) / 0.3
    torch.manual_seed(0)
    model = classicnets.create_model("resnet20", num_classes=10, in_chans=1)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(n_train, generator=gen)
        for i in range(0, n_train, batch):
            idx = order[i : i + batch]
            loss = F.cross_entropy(model(images[idx]), labels[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    test = slice(1400, 1600)
    return CanvasDigits(model.eval(), canvas, images[test], labels[test], corners[test])


@pytest.fixture(scope="module")
def quick_canvas() -> CanvasDigits:
    """Canvas 20x20 (a random peak lands in the box 64 / 400 = 16% of the time), 2 epochs of
    800 images: short enough for the default suite."""
    return _train_canvas_digits(20, epochs=2, n_train=800)


@pytest.mark.parametrize(("method", "threshold"), [("gradcam", 0.25), ("gradcam++", 0.6)])
def test_cam_peak_falls_on_the_digit(quick_canvas: CanvasDigits, method: str, threshold: float):
    """Share of the 200 test images whose map for the true class peaks inside the digit,
    against 0.16 by chance. Measured after this short training (the network is only ~20%
    accurate): Grad-CAM++ 0.82, Grad-CAM 0.53; Grad-CAM varies with the training (0.31 with
    batch 25, lr 3e-3), Grad-CAM++ does not (0.95), hence the two thresholds."""
    d = quick_canvas
    ex = explain(d.model, d.images, method=method, target=d.labels.tolist())
    assert d.peak_in_box_rate(ex.maps) >= threshold


@pytest.mark.slow
@pytest.mark.parametrize(("method", "threshold"), [("gradcam", 0.5), ("gradcam++", 0.8)])
def test_cam_peak_falls_on_the_digit_for_most_images(method: str, threshold: float) -> None:
    """Canvas 24x24 (chance 64 / 576 = 0.11), 4 epochs of 1400 images in batches of 25:
    measured Grad-CAM 0.74 / 0.90, Grad-CAM++ 0.95 / 0.985 (one / two threads). Across
    trainings Grad-CAM ranged 0.60-0.90 and Grad-CAM++ 0.94-0.99. Eigen-CAM is not asserted:
    class-agnostic, and the sign of its principal component is arbitrary, so it peaks on the
    digit (0.90) or on the background (0.09) depending on the training."""
    d = _train_canvas_digits(24, epochs=4, n_train=1400, lr=3e-3, batch=25)
    ex = explain(d.model, d.images, method=method, target=d.labels.tolist())
    assert d.peak_in_box_rate(ex.maps) >= threshold


def _spearman(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Rank correlation of each pair of maps (rows)."""
    ra = a.flatten(1).argsort(1).argsort(1).double()
    rb = b.flatten(1).argsort(1).argsort(1).double()
    ra, rb = ra - ra.mean(1, keepdim=True), rb - rb.mean(1, keepdim=True)
    return (ra * rb).sum(1) / (ra.norm(dim=1) * rb.norm(dim=1)).clamp_min(1e-12)


def test_maps_of_a_reinitialised_network_differ(quick_canvas: CanvasDigits) -> None:
    """Adebayo et al. 2018's model-randomisation check: the same images and classes through
    the same architecture with fresh random weights. Measured mean rank correlation with the
    trained network's Grad-CAM maps: 0.13 (0.07 to 0.26 for other trainings); threshold 0.5."""
    d = quick_canvas
    targets = d.labels.tolist()
    trained = explain(d.model, d.images, target=targets).maps
    torch.manual_seed(1)
    fresh = classicnets.create_model("resnet20", num_classes=10, in_chans=1)
    random_maps = explain(fresh, d.images, target=targets).maps
    assert float(_spearman(trained, random_maps).mean()) < 0.5
