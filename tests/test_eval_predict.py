"""`classicnets eval` and `classicnets predict` on a tiny trained run, and the crop protocols.

``run_dir`` is the session's training run (conftest.py): one epoch, 32 images, 20 test images.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from classicnets.cli import main
from classicnets.evaluation.protocols import googlenet_144_views, protocol_views, ten_crop_views


def test_train_prints_where_the_files_are(run_dir: Path) -> None:
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["model"] == "resnet20" and summary["epochs"] == 1
    assert len(summary["per_class_acc"]) == 10 and summary["steps"] == 2
    assert "model.safetensors" in summary["files"]
    events = list((run_dir / "tensorboard").glob("events.out.tfevents.*"))
    assert events or importlib.util.find_spec("tensorboard") is None


def test_load_weights_on_a_runs_file_returns_its_classes_and_preprocessing(run_dir: Path) -> None:
    from classicnets import create_model
    from classicnets.preprocessing import DATASET_STATS
    from classicnets.weights import load_weights

    model = create_model("resnet20", in_chans=1)
    report = load_weights(model, run_dir / "model.safetensors")
    assert report.ok and report.layout == "classicnets"
    assert report.classes == tuple(str(i) for i in range(10))
    pre = report.preprocessing
    assert pre is not None and pre.geometry == "whole" and pre.input_size == 8
    assert (pre.mean, pre.std) == DATASET_STATS["digits"]
    assert report.info.config["dataset"] == "digits" and report.info.architecture == "resnet20"


def test_eval_checkpoint(run_dir: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert (
        main(["eval", "-c", str(run_dir), "--limit", "20", "--quiet", "--out", str(tmp_path)]) == 0
    )
    out = capsys.readouterr().out
    assert "resnet20 on digits (center, 20 images): top-1" in out and "accuracy" in out
    report = json.loads((tmp_path / "eval_center.json").read_text())
    assert report["images"] == 20 and len(report["confusion_matrix"]) == 10
    assert (tmp_path / "confusion_matrix_center.png").is_file()
    # the evaluation in training used the same images and weights: same accuracy
    summary = json.loads((run_dir / "summary.json").read_text())
    assert report["top1"] == pytest.approx(summary["test_acc"])


def test_eval_safetensors_multiview(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["eval", "--model", "resnet20", "--weights", str(run_dir / "model.safetensors")]
    assert main([*args, "--protocol", "ten_crop", "--limit", "4", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["protocol"] == "ten_crop" and report["images"] == 4


@pytest.mark.parametrize("protocol", ["googlenet_144", "vgg_dense", "resnet_fcn"])
def test_eval_multiscale_protocols_run(
    run_dir: Path, protocol: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["eval", "-c", str(run_dir), "--protocol", protocol, "--limit", "2", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["protocol"] == protocol and report["images"] == 2
    assert 0.0 <= report["top1"] <= report["top5"] <= 1.0


def test_vgg_dense_protocol_uses_the_fully_convolutional_form() -> None:
    """VGG's dense evaluation is its FC layers as convolutions (as_fully_convolutional), not
    the FC form on an adaptively pooled map; other protocols keep the model as it is."""
    from classicnets.evaluation.protocols import evaluate_multiview

    def says(cls: int) -> torch.nn.Module:
        class Constant(torch.nn.Module):
            def forward(self, x: torch.Tensor) -> torch.Tensor:
                return (
                    torch.nn.functional.one_hot(torch.tensor(cls), 2).float().expand(x.shape[0], 2)
                    * 5
                )

        return Constant()

    fc_form = says(1)
    fc_form.as_fully_convolutional = lambda: says(0)  # type: ignore[attr-defined]
    images = [(Image.new("RGB", (12, 10), (40, 80, 120)), 0)]
    kw = {"input_size": 8, "crop_pct": 0.875, "mean": (0.5,) * 3, "std": (0.25,) * 3,
          "num_classes": 2, "device": torch.device("cpu")}  # fmt: skip
    assert evaluate_multiview(fc_form, images, protocol="vgg_dense", **kw).top1 == 1.0
    assert evaluate_multiview(fc_form, images, protocol="resnet_fcn", **kw).top1 == 0.0


def test_predict_table_and_json(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from classicnets.data.datasets import DigitsDataset

    img = DigitsDataset("test").images[0, 0].numpy()
    path = tmp_path / "digit.png"
    Image.fromarray(img).resize((32, 32)).convert("RGBA").save(path)  # any mode, any size
    assert main(["predict", str(path), "-c", str(run_dir), "-k", "3"]) == 0
    table = capsys.readouterr().out
    assert "probability" in table and str(path) in table and table.count("%") == 3
    assert main(["predict", str(path), "-c", str(run_dir / "best.pt"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    probs = [t["prob"] for t in result[0]["top"]]
    assert len(probs) == 5 and probs == sorted(probs, reverse=True)
    (tmp_path / "bad.png").write_bytes(b"nope")
    assert main(["predict", str(tmp_path / "bad.png"), "-c", str(run_dir)]) == 2
    assert "cannot read image" in capsys.readouterr().err


def test_eval_and_predict_with_registered_weights(
    tmp_path: Path, cache: Path, register, capsys: pytest.CaptureFixture[str]
) -> None:
    """--weights ARCH.TAG: the registered file (here already in the cache: no download), its
    classes and its preprocessing (crop fraction, mean, std) are used."""
    import hashlib

    import numpy

    from classicnets import create_model
    from classicnets.weights import Preprocessing, save_weights

    model = create_model("resnet20", num_classes=2).eval()
    body = save_weights(model, cache / "r20-two.safetensors").read_bytes()
    pre = Preprocessing(input_size=32, resize_size=40, mean=(0.5,) * 3, std=(0.25,) * 3)
    url, sha256 = "http://127.0.0.1:9/r20-two.safetensors", hashlib.sha256(body).hexdigest()
    register("evaltest", url, sha256, preprocessing=pre, categories="two", num_classes=2)
    root = tmp_path / "data"
    for split in ("train", "val"):
        for c in ("cat", "dog"):
            (root / split / c).mkdir(parents=True)
            pixels = torch.randint(0, 256, (40, 48, 3), dtype=torch.uint8).numpy()
            Image.fromarray(pixels).save(root / split / c / "a.png")
    args = ["eval", "--weights", "resnet20.evaltest", "--data-dir", str(root), "--json"]
    assert main(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["model"] == "resnet20" and report["images"] == 2
    assert list(report["per_class_acc"]) == ["0", "1"]
    image = root / "val" / "dog" / "a.png"
    assert main(["predict", str(image), "--weights", "resnet20.evaltest", "--json"]) == 0
    top = json.loads(capsys.readouterr().out)[0]["top"]
    x = torch.from_numpy(numpy.array(Image.open(image))).permute(2, 0, 1).float() / 255
    x = (x[:, 4:36, 8:40] - 0.5) / 0.25  # shorter side 40 already: crop 32, mean/std
    with torch.no_grad():
        expected = model(x.unsqueeze(0)).softmax(1)[0]
    assert top[0]["prob"] == pytest.approx(float(expected.max()), abs=1e-5)
    assert main(["eval", "--weights", "resnet20.evaltset", "--data-dir", str(root)]) == 2
    assert "Did you mean: resnet20.evaltest" in capsys.readouterr().err


def test_protocol_views() -> None:
    img = torch.zeros(3, 300, 400, dtype=torch.uint8)
    tens = ten_crop_views(img, 224, 0.875)
    assert len(tens) == 10 and all(v.shape == (3, 224, 224) for v in tens)
    views = googlenet_144_views(img, 224)
    assert len(views) == 144 and all(v.shape == (3, 224, 224) for v in views)
    dense = protocol_views("vgg_dense", 224, 0.875)(img)
    assert [v.shape[-2] for v in dense] == [256, 384, 512] * 2
    fcn = protocol_views("resnet_fcn", 224, 0.875)(img)
    assert [v.shape[-2] for v in fcn] == [224, 256, 384, 480, 640]
    assert abs(fcn[0].shape[-1] - 224 * 4 / 3) < 1  # the whole image, aspect kept


def test_a_model_trained_without_flips_is_not_averaged_over_mirrored_views(
    run_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the digits recipe trains without horizontal flips: ten_crop keeps its five crops
    args = ["eval", "-c", str(run_dir), "--protocol", "ten_crop", "--limit", "2", "--json"]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["mirrored_views"] is False
    assert "trained without horizontal flips" in captured.err
    img = torch.zeros(3, 300, 400, dtype=torch.uint8)
    assert len(ten_crop_views(img, 224, 0.875, mirror=False)) == 5
    assert len(googlenet_144_views(img, 224, mirror=False)) == 72
    assert len(protocol_views("vgg_dense", 224, 0.875, mirror=False)(img)) == 3


# -- a test folder whose classes are not the model's (issue 29, item 3) ---------------------------


def _says(tmp_path: Path, classes: tuple[str, ...] | None, answer: int = 2) -> Path:
    """A 3-class ResNet-20 whose classifier always answers class ``answer`` (zero weights, one
    bias), saved with ``classes`` as its class names (none recorded when None)."""
    from classicnets import create_model
    from classicnets.weights import Preprocessing, save_weights

    model = create_model("resnet20", num_classes=3).eval()
    with torch.no_grad():
        model.head.fc.weight.zero_()
        model.head.fc.bias.zero_()
        model.head.fc.bias[answer] = 5.0
    pre = Preprocessing(input_size=16, resize_size=16, mean=(0.5,) * 3, std=(0.25,) * 3)
    return save_weights(model, tmp_path / "says.safetensors", preprocessing=pre, classes=classes)


def _test_folder(root: Path, images: dict[str, int]) -> Path:
    """``root/val/<class>/<i>.png``: ``images[class]`` random 20x20 images of each class."""
    for name, count in images.items():
        (root / "val" / name).mkdir(parents=True)
        for i in range(count):
            pixels = torch.randint(0, 256, (20, 20, 3), dtype=torch.uint8).numpy()
            Image.fromarray(pixels).save(root / "val" / name / f"{i}.png")
    return root


def _eval_json(weights: Path, folder: Path, *extra: str) -> int:
    args = ["eval", "--weights", str(weights), "--dataset", "imagefolder", "--data-dir"]
    return main([*args, str(folder), "--json", "--quiet", *extra])


def _one_error(err: str) -> str:
    """The error of a refused command: its one line, after the line naming the weights."""
    lines = [line for line in err.splitlines() if not line.startswith("weights: ")]
    assert len(lines) == 1 and lines[0].startswith("classicnets: error:"), err
    return lines[0]


@pytest.mark.parametrize("protocol", ["center", "ten_crop"])
def test_eval_matches_a_folders_classes_to_the_models_by_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], protocol: str
) -> None:
    """The folder's classes sorted (bird, cat, dog) are the model's (dog, bird, cat) in another
    order: a cat image is scored against the model's "cat", not against its third output."""
    weights = _says(tmp_path, ("dog", "bird", "cat"))  # always "cat"
    folder = _test_folder(tmp_path / "data", {"bird": 1, "cat": 2, "dog": 1})
    assert _eval_json(weights, folder, "--protocol", protocol) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["images"] == 4 and report["top1"] == pytest.approx(0.5)
    assert report["per_class_acc"] == {"dog": 0.0, "bird": 0.0, "cat": 1.0}
    assert report["classes_matched"] == "by name"
    assert "matched by name" in captured.err


def test_eval_on_a_folder_with_some_of_the_models_classes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    weights = _says(tmp_path, ("dog", "bird", "cat"))
    folder = _test_folder(tmp_path / "data", {"cat": 2, "dog": 1})
    assert _eval_json(weights, folder) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["top1"] == pytest.approx(2 / 3)
    assert report["per_class_acc"] == {"dog": 0.0, "cat": 1.0}  # the folder's classes only
    assert len(report["confusion_matrix"]) == 3  # the model still answers among its three
    assert "2 of the model's 3 classes" in captured.err and "bird" in captured.err


@pytest.mark.parametrize(
    "images",
    [{"bird": 1, "cat": 1, "fish": 1}, {"bird": 1, "cat": 1, "dog": 1, "fish": 1}],
    ids=["same-count", "one-more"],
)
def test_eval_refuses_a_folder_class_the_model_does_not_know(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], images: dict[str, int]
) -> None:
    weights = _says(tmp_path, ("dog", "bird", "cat"))
    folder = _test_folder(tmp_path / "data", images)
    assert _eval_json(weights, folder) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    err = _one_error(captured.err)
    assert "fish" in err and "dog, bird, cat" in err and ", ".join(images) in err


def test_eval_of_weights_without_class_names_compares_classes_by_index(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    weights = _says(tmp_path, None)  # always output 2
    folder = _test_folder(tmp_path / "three", {"bird": 1, "cat": 1, "dog": 2})
    assert _eval_json(weights, folder) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["top1"] == pytest.approx(0.5)  # dog is the third folder: output 2
    assert report["classes_matched"] == "by index"
    assert "record no class names" in captured.err and "dog = 2" in captured.err
    folder = _test_folder(tmp_path / "two", {"cat": 1, "dog": 1})
    assert _eval_json(weights, folder) == 2
    err = _one_error(capsys.readouterr().err)
    assert "3 classes" in err and "cat, dog" in err


def test_eval_takes_wordnet_id_folders_in_imagenet_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """ImageNet's val/ folders are WordNet IDs, not the class names: sorted, they are the
    classifier's order (by index, said in a line)."""
    weights = _says(tmp_path, ("tench", "goldfish", "great white shark"))
    images = {"n01440764": 1, "n01443537": 1, "n01484850": 2}
    assert _eval_json(weights, _test_folder(tmp_path / "data", images)) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["top1"] == pytest.approx(0.5)
    assert "WordNet IDs" in captured.err and "n01484850 = great white shark" in captured.err


def test_top5_is_not_reported_with_five_classes_or_fewer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With 3 classes every image is in the top 5: the figure says nothing, so none is shown."""
    weights = _says(tmp_path, ("ant", "bee", "cow"))
    folder = _test_folder(tmp_path / "data", {"ant": 1, "bee": 1, "cow": 1})
    assert _eval_json(weights, folder) == 0
    assert json.loads(capsys.readouterr().out)["top5"] is None
    args = ["eval", "--weights", str(weights), "--dataset", "imagefolder", "--data-dir"]
    assert main([*args, str(folder), "--quiet"]) == 0
    table = capsys.readouterr().out
    assert "top-1 33.33%" in table and "top-5" not in table
