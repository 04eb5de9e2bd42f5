"""`classicnets train --pretrained`: end to end through the CLI, and every bad input refused before
training with the run directory untouched. Registered weights are served from 127.0.0.1 by the
download tests' server (no internet needed)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from classicnets.cli import main
from classicnets.training.config import TrainConfig, apply, resolve
from classicnets.weights import read_weights
from helpers import Route

CLASSES = ("cat", "dog", "fox")


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny ImageFolder: three classes, 4 training and 2 test images each, 32x32."""
    root = tmp_path_factory.mktemp("folder")
    rng = np.random.default_rng(0)
    for split, n in (("train", 4), ("test", 2)):
        for c in CLASSES:
            (root / split / c).mkdir(parents=True)
            for i in range(n):
                pixels = rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(root / split / c / f"{i}.png")
    return root


def _train(folder: Path, run_dir: Path, *extra: str) -> int:
    args = ["train", "--dataset", "imagefolder", "--data-dir", str(folder), "--quiet"]
    return main([*args, "--steps", "2", "--batch-size", "4", "--run-dir", str(run_dir), *extra])


def test_finetune_registered_weights_then_eval_and_predict(
    server,  # the download fixtures of conftest.py
    cache,
    checkpoint,
    register,
    folder,
    tmp_path,
    capsys,
) -> None:
    body, _ = checkpoint
    server.routes["/w/r20.safetensors"] = Route(body)
    register("ft_http", f"{server.base}/w/r20.safetensors", hashlib.sha256(body).hexdigest())
    run = tmp_path / "run"
    assert _train(folder, run, "--pretrained", "resnet20.ft_http", "--freeze", "1") == 0
    out = capsys.readouterr().out
    assert "pretrained: loaded" in out and "classifier re-initialised" in out
    summary = json.loads((run / "summary.json").read_text())
    assert summary["model"] == "resnet20"  # from the weights: --model was not given
    assert summary["fine_tuning"]["pretrained"]["reinitialised"] == [
        "head.fc.bias",
        "head.fc.weight",
    ]
    assert summary["fine_tuning"]["frozen"].startswith("frozen: stem, layer1")
    _, meta = read_weights(run / "model.safetensors")
    assert meta.classes == CLASSES

    assert main(["eval", "--checkpoint", str(run), "--data-dir", str(folder), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)
    image = next((folder / "test" / "dog").iterdir())
    assert main(["predict", "--checkpoint", str(run), str(image), "--top-k", "3"]) == 0
    assert any(c in capsys.readouterr().out for c in CLASSES)


@pytest.fixture(scope="module")
def ours(folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished run of ours on the three classes (a source for --pretrained)."""
    run = tmp_path_factory.mktemp("src") / "run"
    assert _train(folder, run) == 0
    return run


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--pretrained", "no/such/file.safetensors"), "no such file or run directory"),
        (("--pretrained", "RUN", "--model", "resnet32"), "are for resnet20, but the model is"),
        (("--pretrained", "RUN", "--set", "model_options={num_classes = 7}"), "num_classes = 7"),
        (("--pretrained", "RUN", "--freeze", "9"), "stages after it"),
        (("--pretrained", "RUN", "--data-dir", "ONE"), "at least two class"),
        (("--batch-size", "0"), "batch_size must be at least 1"),
        (("--workers", "-1"), "workers must be at least 0"),
        (("--set", "epochs=1.5"), "epochs must be a whole number"),
        (("--set", "learnin_rate=0.1"), "did you mean lr?"),
        (("--pretrained", "RUN", "--set", "num_classes=7"), "one output per class folder"),
    ],
)
def test_bad_input_stops_before_training_and_touches_nothing(
    extra, message, ours, folder, tmp_path, capsys
) -> None:
    one = tmp_path / "one"
    for split in ("train", "test"):
        (one / split).mkdir(parents=True)
        (one / split / "cat").symlink_to(folder / split / "cat")
    run = tmp_path / "existing"
    run.mkdir()
    (run / "notes.txt").write_text("mine")
    swap = {"RUN": str(ours), "ONE": str(one)}
    extra = tuple(swap.get(a, a) for a in extra)
    code = main(["train", "--dataset", "imagefolder", "--data-dir", str(folder), "--quiet",
                 "--steps", "1", "--batch-size", "4", "--run-dir", str(run), *extra])  # fmt: skip
    assert code != 0
    assert message in capsys.readouterr().err
    assert sorted(p.name for p in run.iterdir()) == ["notes.txt"]


def test_list_settings_and_recipes(capsys) -> None:
    assert main(["train", "--list-settings"]) == 0
    out = capsys.readouterr().out
    for name in TrainConfig().to_dict():
        assert f"\n{name} " in out
    assert main(["train", "--list-recipes"]) == 0
    out = capsys.readouterr().out
    assert "finetune" in out and "linear_probe" in out


def test_every_train_flag_has_help() -> None:
    from classicnets.cli import build_parser

    parser = build_parser()
    train = parser._subparsers._group_actions[0].choices["train"]  # type: ignore[union-attr]
    missing = [a.dest for a in train._actions if not a.help]
    assert missing == []


def test_digits_settings_do_not_leak_into_another_dataset() -> None:
    assert resolve(None, {}).input_size == 16  # the digits demo
    cfg = resolve(None, {"dataset": "imagefolder"})
    assert cfg.recipe == "defaults" and cfg.input_size is None and cfg.crop_padding == 4


def test_preprocessing_follows_the_weights_unless_set() -> None:
    from classicnets.preprocessing import Preprocessing

    weights = Preprocessing(224, 248, "bicubic", (0.1, 0.2, 0.3), (0.4, 0.5, 0.6))
    pre = TrainConfig(dataset="imagefolder").data_config(224, weights).preprocessing
    assert (pre.resize_size, pre.interpolation, pre.mean) == (248, "bicubic", (0.1, 0.2, 0.3))
    cfg = apply(TrainConfig(dataset="imagefolder"), {"mean": "0.5,0.5,0.5"}, source="t")
    assert cfg.data_config(224, weights).preprocessing.mean == (0.5, 0.5, 0.5)


def test_parameter_groups_reach_the_optimizer_and_the_schedule() -> None:
    from classicnets import create_model
    from classicnets.training.finetune import param_groups
    from classicnets.training.optim import build_optimizer, set_lr

    model = create_model("resnet20", num_classes=3)
    cfg = TrainConfig(lr=0.1)
    opt = build_optimizer(
        param_groups(model, weight_decay=1e-4, head_lr_scale=10.0, layer_decay=0.5),
        cfg.optimizer_config(),
    )
    set_lr(opt, 0.1)
    lrs = sorted({round(g["lr"], 6) for g in opt.param_groups})
    assert lrs == [0.00625, 0.0125, 0.025, 0.05, 1.0]  # stem, 3 stages, head 0.1 * 10
    plain = build_optimizer(model, cfg.optimizer_config())
    set_lr(plain, 0.1)
    assert len(plain.param_groups) == 1 and plain.param_groups[0]["lr"] == 0.1


def test_resume_with_freezing_and_parameter_groups_is_bit_exact(tmp_path: Path) -> None:
    from classicnets.training.loop import train
    from helpers import assert_same_run, final_state, tiny

    options = {"freeze": "1", "layer_decay": 0.7, "head_lr_scale": 5.0, "norm_weight_decay": 0.0}
    full = train(tiny(tmp_path / "full", **options))
    assert train(tiny(tmp_path / "split", stop_after=4, **options)).status == "stopped"
    assert train(tiny(tmp_path / "split", **options)).step == full.step == 6
    a, b = final_state(tmp_path / "full"), final_state(tmp_path / "split")
    assert_same_run(a, b)
    assert sorted(g["lr_scale"] for g in b["optimizer"]["param_groups"])[-1] == 5.0


def test_rerunning_a_complete_run(ours: Path, folder: Path, capsys) -> None:
    before = (ours / "summary.json").read_text()
    assert _train(folder, ours) == 0
    assert "run already complete" in capsys.readouterr().out
    assert (ours / "summary.json").read_text() == before
    assert _train(folder, ours, "--lr", "0.5") != 0
    err = capsys.readouterr().err
    assert "complete run trained with lr = " in err and "another --run-dir" in err


def test_empty_class_folder_warns_and_strict_refuses(folder: Path, tmp_path: Path) -> None:
    from classicnets.data.datasets import DataError, ImageFolderDataset

    root = tmp_path / "train"
    root.mkdir()
    for c in CLASSES:
        (root / c).symlink_to(folder / "train" / c)
    (root / "zebra").mkdir()
    with pytest.warns(UserWarning, match="without images: zebra"):
        ImageFolderDataset(root)
    with pytest.raises(DataError, match="zebra"):
        ImageFolderDataset(root, strict=True)


def test_epochs_zero_lists_only_written_files(folder: Path, tmp_path: Path, capsys) -> None:
    args = ["--dataset", "imagefolder", "--data-dir", str(folder), "--batch-size", "4"]
    assert main(["train", *args, "--epochs", "0", "--run-dir", str(tmp_path / "r")]) == 0
    listed = capsys.readouterr().out.rsplit("run files in", 1)[1]
    assert "last.pt" not in listed and "metrics.csv" not in listed


def test_cuda_without_a_gpu_is_one_line(capsys, monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main(["train", "--device", "cuda", "--epochs", "1"]) != 0
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "no CUDA GPU" in err


def test_a_data_folder_selects_its_dataset(
    folder: Path, ours: Path, tmp_path: Path, capsys
) -> None:
    """`train --data-dir DIR` without --dataset trains on DIR, not on the built-in digits
    (issue 29, item 1), also when fine-tuning a run with its backbone frozen; the run says
    which dataset it inferred, and config.toml records it."""
    quick = ["--data-dir", str(folder), "--steps", "1", "--batch-size", "4", "--quiet",
             "--set", "report=false", "--set", "tensorboard=false"]  # fmt: skip
    finetune = ["--pretrained", str(ours), "--freeze", "backbone"]
    for name, extra in (("plain", []), ("finetuned", finetune)):
        run = tmp_path / name
        assert main(["train", *quick, *extra, "--run-dir", str(run)]) == 0
        assert "dataset imagefolder, inferred from --data-dir" in capsys.readouterr().out
        config = (run / "config.toml").read_text()
        assert 'dataset = "imagefolder"' in config and "inferred from --data-dir" in config
        assert json.loads((run / "summary.json").read_text())["dataset"] == "imagefolder"
        assert read_weights(run / "model.safetensors")[1].classes == CLASSES


@pytest.mark.parametrize(
    ("extra", "data", "message"),
    [
        (("--dataset", "digits"), "FOLDER", "--dataset digits contradicts --data-dir"),
        (("--set", "dataset=digits"), "FOLDER", "the digits are built in and read no folder"),
        (("--recipe", "digits"), "FOLDER", "recipe digits (dataset = digits) contradicts"),
        (("--pretrained", "RUN", "--dataset", "digits"), "FOLDER", "pass --dataset imagefolder"),
        (("--recipe", "resnet_cifar"), "FOLDER", "3 class folders (cat, dog, fox); pass --datas"),
        (("--dataset", "cifar100"), "FOLDER", "contradicts --data-dir"),
        ((), "FLAT", "cannot tell which dataset --data-dir"),  # class folders without train/
        (("--pretrained", "RUN", "--freeze", "backbone"), "EMPTY", "holds nothing (an empty"),
    ],
)
def test_a_data_folder_that_contradicts_the_dataset_is_refused(
    extra, data, message, folder, ours, tmp_path, capsys
) -> None:
    (tmp_path / "empty").mkdir()
    swap = {"RUN": str(ours), "FOLDER": str(folder), "FLAT": str(folder / "train"),
            "EMPTY": str(tmp_path / "empty")}  # fmt: skip
    run = tmp_path / "existing"
    run.mkdir()
    (run / "notes.txt").write_text("mine")
    extra = tuple(swap.get(a, a) for a in extra)
    code = main(["train", "--data-dir", swap[data], "--steps", "1", "--quiet",
                 "--run-dir", str(run), *extra])  # fmt: skip
    err = capsys.readouterr().err
    assert code != 0 and message in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert sorted(p.name for p in run.iterdir()) == ["notes.txt"]


def test_the_digits_with_a_data_folder_are_refused_below_the_cli(folder: Path) -> None:
    """The Python API and eval reach the data layer without the command line's inference."""
    from classicnets.data import DataError, build_data

    with pytest.raises(DataError, match="digits are built in and read no folder"):
        build_data(TrainConfig(data_dir=str(folder)).data_config(8))
