"""`classicnets eval` and `classicnets predict` on a tiny trained run, and the crop protocols."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from classicnets.cli import main
from classicnets.evaluate import googlenet_144_views, protocol_views, ten_crop_views


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("run")
    code = main([
        "train", "--quiet", "--run-dir", str(d), "--epochs", "1", "--batch-size", "16",
        "--threads", "1", "--set", "input_size=8", "--set", "train_subset=32",
        "--set", "test_subset=20",
    ])  # fmt: skip
    assert code == 0
    return d


def test_train_prints_where_the_files_are(run_dir: Path) -> None:
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["model"] == "resnet20" and summary["epochs"] == 1
    assert len(summary["per_class_acc"]) == 10 and summary["steps"] == 2
    assert "model.safetensors" in summary["files"]
    events = list((run_dir / "tensorboard").glob("events.out.tfevents.*"))
    assert events or importlib.util.find_spec("tensorboard") is None


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
    from classicnets.evaluate import evaluate_multiview

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
