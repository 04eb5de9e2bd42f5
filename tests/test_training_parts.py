"""The training loop's plain pieces: config, schedules, optimizers, EMA, metrics, checkpoints."""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from classicnets import list_models
from classicnets.runtime import checkpoint_io
from classicnets.runtime.metrics import EvalResult, confusion_matrix, topk_correct
from classicnets.training import checkpoint
from classicnets.training.config import (
    ConfigError,
    TrainConfig,
    apply,
    list_recipes,
    load_recipe,
    parse_overrides,
    resolve,
)
from classicnets.training.optim import ModelEma, RMSpropTF, build_optimizer
from classicnets.training.schedule import LRSchedule

RECIPES = (
    "digits", "resnet_cifar", "densenet_cifar", "resnext_cifar", "resnet_imagenet",
    "vgg_imagenet", "googlenet_imagenet", "inception_v3_imagenet", "densenet_imagenet",
    "senet_imagenet", "resnet110_cifar",
)  # fmt: skip


@pytest.mark.parametrize("name", RECIPES)
def test_recipes_load(name: str) -> None:
    cfg = load_recipe(name)
    assert cfg.recipe == name and cfg.description
    if cfg.model in list_models():  # families that land later are checked once registered
        from classicnets import create_model

        create_model(cfg.model, num_classes=10)


def test_recipe_list_and_paper_settings() -> None:
    assert set(RECIPES) <= set(list_recipes())
    r = load_recipe("resnet_cifar")
    assert (r.batch_size, r.steps, r.milestones, r.weight_decay) == (
        128,
        64000,
        (32000, 48000),
        1e-4,
    )
    v3 = load_recipe("inception_v3_imagenet")
    assert (v3.optimizer, v3.rmsprop_eps, v3.gamma, v3.step_size) == ("rmsprop", 1.0, 0.94, 2)
    assert (v3.label_smoothing, v3.grad_clip_norm) == (0.1, 2.0)


def test_overrides_are_typed_and_checked() -> None:
    overrides = ["lr=0.05", "milestones=0.5,0.75", "nesterov=false"]
    cfg = resolve("digits", parse_overrides([*overrides, "model_options={drop_rate = 0.1}"]))
    assert cfg.lr == 0.05 and cfg.milestones == (0.5, 0.75) and cfg.nesterov is False
    assert cfg.model_options == {"drop_rate": 0.1}
    with pytest.raises(ConfigError, match=r"unknown setting.*did you mean lr"):
        apply(TrainConfig(), {"lrr": 1}, source="test")
    with pytest.raises(ConfigError, match="optimizer must be one of sgd, rmsprop, adamw"):
        apply(TrainConfig(), {"optimizer": "adam"}, source="test")
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_overrides(["lr"])
    with pytest.raises(ConfigError, match=r"unknown recipe 'nope'.*digits"):
        load_recipe("nope")
    from classicnets.training.config import tomllib

    for name in ("digits", "inception_v3_imagenet"):  # config.toml in a run reads back the same
        cfg = load_recipe(name)
        assert apply(TrainConfig(), tomllib.loads(cfg.to_toml()), source="round trip") == cfg


def _lrs(s: LRSchedule, steps: list[int]) -> list[float]:
    return [round(s.lr_at(i), 10) for i in steps]


def test_schedules() -> None:
    kw = {"base_lr": 0.1, "total_steps": 100, "steps_per_epoch": 10}
    ms = LRSchedule("multistep", milestones=(0.5, 0.75), **kw)  # fractions of 10 epochs
    assert _lrs(ms, [0, 49, 50, 74, 75, 99]) == [0.1, 0.1, 0.01, 0.01, 0.001, 0.001]
    st = LRSchedule("step", unit="step", step_size=30, gamma=0.5, **kw)
    assert _lrs(st, [29, 30, 60]) == [0.1, 0.05, 0.025]
    ex = LRSchedule("exponential", step_size=2, gamma=0.94, **kw)
    assert math.isclose(ex.lr_at(10), 0.1 * 0.94**0.5)
    cos = LRSchedule("cosine", min_lr=0.001, warmup=1, warmup_lr=0.0, **kw)
    assert cos.lr_at(0) == 0.0 and math.isclose(cos.lr_at(5), 0.05)
    assert math.isclose(cos.lr_at(10), 0.1) and math.isclose(cos.lr_at(100), 0.001)
    warm = LRSchedule("multistep", unit="step", milestones=(32, 48), warmup=4, warmup_lr=0.01,
                      warmup_mode="constant", **kw)  # fmt: skip
    assert _lrs(warm, [0, 3, 4, 32, 48]) == [0.01, 0.01, 0.1, 0.01, 0.001]
    pl = LRSchedule("plateau", patience=2, max_decays=1, **kw)
    assert [pl.on_eval(a) for a in (0.5, 0.6, 0.6, 0.55, 0.7, 0.6, 0.6)] == [
        False, False, False, True, False, False, False,
    ]  # fmt: skip
    assert math.isclose(pl.lr_at(99), 0.01)  # at most one decay
    restored = LRSchedule("plateau", **kw)
    restored.load_state_dict(pl.state_dict())
    assert restored.lr_at(0) == pl.lr_at(0)
    with pytest.raises(ValueError, match="unknown schedule"):
        LRSchedule("linear", **kw)
    cfg = load_recipe("resnet_cifar")
    s = cfg.lr_schedule(total_steps=64000, steps_per_epoch=390)
    assert _lrs(s, [31999, 32000, 48000]) == [0.1, 0.01, 0.001]


def test_warmup_until_train_error() -> None:
    """ResNet-110: 0.01 until the training error over the window is below 80%, then 0.1."""
    kw = {"base_lr": 0.1, "total_steps": 100, "steps_per_epoch": 10, "unit": "step"}
    s = LRSchedule("multistep", milestones=(50,), warmup=20, warmup_lr=0.01,
                   warmup_mode="constant", warmup_until_error=0.8, warmup_error_window=2,
                   **kw)  # fmt: skip
    # errors out of 10 per step; 2-step windows: -, 0.85, 0.85, 0.8 (not below), 0.75 (below)
    ends = []
    for step, errors in enumerate((9, 8, 9, 7, 8, 9), start=1):
        assert s.lr_at(step - 1) == 0.01
        ends.append(s.on_train_step(step, 10 - errors, 10))
        if ends[-1]:
            break
    assert ends == [False, False, False, False, True] and s.warmup_ended_at == 5
    assert _lrs(s, [4, 5, 49, 50]) == [0.01, 0.1, 0.1, 0.01]
    assert s.window_error == 0.75
    assert not s.on_train_step(6, 0, 10) and s.warmup_ended_at == 5  # over for good
    restored = apply(
        TrainConfig(), {"schedule": "multistep", "schedule_unit": "step", "milestones": [50],
        "warmup": 20, "warmup_lr": 0.01, "warmup_mode": "constant",
        "warmup_until_train_error": 0.8, "warmup_error_window": 2}, source="t",
    ).lr_schedule(total_steps=100, steps_per_epoch=10)  # fmt: skip
    assert restored.lr_at(5) == 0.01
    restored.load_state_dict(s.state_dict())
    assert restored.warmup_ended_at == 5 and _lrs(restored, [4, 5]) == [0.01, 0.1]
    # a window that is not full yet never ends the warm-up; the bound always does
    b = LRSchedule("constant", warmup=3, warmup_lr=0.01, warmup_mode="constant",
                   warmup_until_error=0.8, warmup_error_window=5, **kw)  # fmt: skip
    assert [b.on_train_step(i, 10, 10) for i in (1, 2, 3)] == [False, False, True]
    assert b.warmup_ended_at == 3 and _lrs(b, [2, 3]) == [0.01, 0.1]
    # cosine decays from where the warm-up ended
    c = LRSchedule("cosine", warmup=50, warmup_lr=0.01, warmup_mode="constant",
                   warmup_until_error=0.8, warmup_error_window=1, **kw)  # fmt: skip
    c.on_train_step(10, 10, 10)
    assert c.lr_at(10) == 0.1 and math.isclose(c.lr_at(55), 0.05)
    with pytest.raises(ValueError, match="warmup_mode = 'constant' and warmup > 0"):
        LRSchedule("constant", warmup=0, warmup_until_error=0.8, **kw)
    with pytest.raises(ValueError, match=r"fraction in \(0, 1\]"):
        LRSchedule("constant", warmup=5, warmup_mode="constant", warmup_until_error=80, **kw)
    r110 = load_recipe("resnet110_cifar")
    assert (r110.model, r110.warmup_lr, r110.warmup_until_train_error) == ("resnet110", 0.01, 0.8)


def test_rmsprop_tf_update_rule() -> None:
    p = nn.Parameter(torch.tensor([1.0]))
    opt = RMSpropTF([p], lr=0.1, decay=0.9, momentum=0.5, eps=1.0)
    mom, ms, w = 0.0, 1.0, 1.0
    for g in (2.0, -1.0, 0.5):
        p.grad = torch.tensor([g])
        opt.step()
        ms = 0.9 * ms + 0.1 * g * g
        mom = 0.5 * mom + 0.1 * g / math.sqrt(ms + 1.0)
        w -= mom
        assert math.isclose(float(p.detach()), w, rel_tol=1e-6)


def test_optimizer_choices() -> None:
    model = nn.Linear(2, 2)
    cfg = apply(TrainConfig(), {"optimizer": "sgd", "nesterov": True}, source="t")
    assert build_optimizer(model, cfg.optimizer_config()).param_groups[0]["nesterov"] is True
    adamw = apply(cfg, {"optimizer": "adamw"}, source="t").optimizer_config()
    assert isinstance(build_optimizer(model, adamw), torch.optim.AdamW)


def test_ema_averages_parameters_and_copies_buffers() -> None:
    model = nn.BatchNorm1d(1)
    ema = ModelEma(model, decay=0.5)
    with torch.no_grad():
        model.weight.fill_(3.0)
        model.running_mean.fill_(7.0)
    ema.updates = 100  # past the start-up phase: plain decay
    ema.update(model)
    assert float(ema.module.weight) == 2.0 and float(ema.module.running_mean) == 7.0


def test_clipping_mixing_and_bf16_autocast() -> None:
    from classicnets.runtime.device import autocast
    from classicnets.training.mix import build_mixer
    from classicnets.training.optim import clip_gradients

    w = nn.Parameter(torch.zeros(2))
    w.grad = torch.tensor([3.0, 4.0])
    assert clip_gradients(nn.ParameterList([w]), 2.0) == 5.0  # the norm before clipping
    assert math.isclose(float(w.grad.norm()), 2.0, rel_tol=1e-6)
    assert clip_gradients(nn.ParameterList([w]), None) is None
    assert build_mixer(3) is None  # off by default
    x, y = torch.rand(4, 3, 8, 8), torch.tensor([0, 1, 2, 0])
    for kind in ("mixup_alpha", "cutmix_alpha"):
        alpha = {kind: 1.0}
        never = build_mixer(3, **alpha, prob=0.0)
        x0, t0 = never(x, y)
        assert torch.equal(x0, x) and torch.equal(t0, nn.functional.one_hot(y, 3).float())
        always = build_mixer(3, **alpha)
        x1, t1 = always(x, y)
        assert not torch.equal(x1, x) and torch.allclose(t1.sum(1), torch.ones(4))
        assert ((t1 > 0) & (t1 < 1)).any()  # soft targets: two labels mixed
    conv = nn.Conv2d(3, 2, 3)
    with autocast(torch.device("cpu"), "bf16"):
        assert conv(x).dtype == torch.bfloat16
    with pytest.raises(ValueError, match="fp16 autocast needs a CUDA device"):
        autocast(torch.device("cpu"), "fp16")


def test_metrics() -> None:
    logits = torch.tensor([[0.1, 0.9, 0.0], [0.8, 0.1, 0.1], [0.2, 0.3, 0.5]])
    target = torch.tensor([1, 2, 2])
    assert topk_correct(logits, target, (1, 2)) == [2, 2]
    cm = confusion_matrix(logits.argmax(1), target, 3)
    assert cm.tolist() == [[0, 0, 0], [0, 1, 0], [1, 0, 1]]
    r = EvalResult(3)
    r.add(logits, target, loss_sum=3.0)
    assert math.isclose(r.top1, 2 / 3) and r.top5 == 1.0 and r.loss == 1.0
    assert r.per_class() == [0.0, 1.0, 0.5]
    back = EvalResult.from_tensor(r.as_tensor(), 3)
    assert torch.equal(back.cm, r.cm) and back.top5_hits == r.top5_hits


def test_atomic_save_keeps_the_old_file_when_writing_fails(tmp_path: Path) -> None:
    path = tmp_path / "last.pt"
    checkpoint_io.atomic_save({"model": {"w": torch.ones(2)}}, path)

    class Unpicklable:
        def __reduce__(self) -> object:
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        checkpoint_io.atomic_save({"model": {}, "x": Unpicklable()}, path)
    assert torch.equal(checkpoint_io.load(path)["model"]["w"], torch.ones(2))
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # no temporary file left
    path.write_bytes(b"garbage")
    with pytest.raises(checkpoint_io.CheckpointError, match="cannot read checkpoint"):
        checkpoint_io.load(path)


def test_rng_capture_and_restore() -> None:
    import random

    import numpy as np

    state = checkpoint.capture_rng()
    a = (random.random(), float(np.random.rand()), float(torch.rand(())))
    checkpoint.restore_rng(state)
    assert (random.random(), float(np.random.rand()), float(torch.rand(()))) == a


def test_the_precision_names_are_the_dtype_table() -> None:
    from typing import get_args

    from classicnets.runtime.device import PRECISIONS, Precision

    assert get_args(Precision) == tuple(PRECISIONS)


def test_what_a_train_call_continues_from(tmp_path: Path) -> None:
    from classicnets.errors import ClassicNetsError
    from classicnets.training.rundir import resume_source

    with pytest.raises(ClassicNetsError, match="--resume without a path needs --run-dir"):
        resume_source("", None)
    assert resume_source("", str(tmp_path)) == str(tmp_path)  # a bare --resume
    assert resume_source(None, str(tmp_path)) is None  # an empty run directory: a fresh run
    (tmp_path / "last.pt").write_bytes(b"")
    assert resume_source(None, str(tmp_path)) == str(tmp_path)  # running again continues it
    assert resume_source("elsewhere", str(tmp_path)) == "elsewhere"


def test_a_full_disk_names_the_file_and_keeps_the_previous_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno
    import shutil

    path = tmp_path / "last.pt"
    checkpoint_io.atomic_save({"model": {"w": torch.ones(2)}}, path)

    def no_space(obj: object, f: io.BufferedWriter) -> None:
        f.write(b"partial" * 100)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", no_space)
    with pytest.raises(checkpoint_io.CheckpointError) as e:
        checkpoint_io.atomic_save({"model": {"w": torch.zeros(2)}}, path)
    assert f"could not write {path}: no space left on the device" in str(e.value)
    assert "the previous last.pt is intact" in str(e.value) and "\n" not in str(e.value)
    # PyTorch's own form of the same failure, with the device reporting no free space
    zip_error = "[enforce fail at inline_container.cc:858] . PytorchStreamWriter failed writing"

    def stream_failure(obj: object, f: io.BufferedWriter) -> None:
        raise RuntimeError(zip_error)

    monkeypatch.setattr(torch, "save", stream_failure)
    monkeypatch.setattr(shutil, "disk_usage", lambda _: shutil._ntuple_diskusage(1, 1, 0))
    with pytest.raises(checkpoint_io.CheckpointError, match="no space left on the device"):
        checkpoint_io.atomic_save({"model": {}}, tmp_path / "best.pt")
    monkeypatch.undo()
    assert torch.equal(checkpoint_io.load(path)["model"]["w"], torch.ones(2))
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # no temporary file left


def test_a_truncated_last_checkpoint_offers_best_pt(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from classicnets.cli import main

    checkpoint_io.atomic_save({"model": {"w": torch.ones(2)}, "step": 7}, tmp_path / "best.pt")
    whole = (tmp_path / "best.pt").read_bytes()
    (tmp_path / "last.pt").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(checkpoint_io.CheckpointError) as e:
        checkpoint_io.load(tmp_path)
    message = str(e.value)
    assert message.startswith(f"cannot read checkpoint {tmp_path / 'last.pt'}: the file is")
    assert f"best.pt beside it reads (step 7): --resume {tmp_path / 'best.pt'}" in message
    assert "PytorchStreamReader" not in message and "\n" not in message
    assert main(["train", "--resume", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--resume" in err and "best.pt" in err


def _class_folders(root: Path, classes: tuple[str, ...]) -> Path:
    from PIL import Image

    for split in ("train", "val"):
        for i, c in enumerate(classes):
            (root / split / c).mkdir(parents=True)
            for j in range(2):
                Image.new("RGB", (8, 8), (40 * i, 20 * j, 90)).save(root / split / c / f"{j}.png")
    return root


def test_a_run_directory_of_other_classes_is_refused_untouched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Training into a run directory whose run classified other classes (another data folder)
    stops in one line naming both, and the run's checkpoint is left as it was."""
    from classicnets.cli import main

    run = tmp_path / "run"
    common = ["--dataset", "imagefolder", "--run-dir", str(run), "--model", "resnet20", "--quiet"]
    common += ["--input-size", "8", "--batch-size", "2", "--steps", "1"]
    common += ["--set", "report=false", "--set", "tensorboard=false"]
    first = _class_folders(tmp_path / "three", ("ant", "bee", "cow"))
    assert main(["train", "--data-dir", str(first), *common]) == 0
    before = (run / "last.pt").read_bytes()
    capsys.readouterr()
    other = _class_folders(tmp_path / "two", ("cat", "dog"))
    assert main(["train", "--data-dir", str(other), *common, "--steps", "2"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "3 classes (ant, bee, cow)" in err and "another --run-dir" in err
    assert (run / "last.pt").read_bytes() == before


def test_a_run_continued_on_renamed_classes_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same folder, its classes renamed (same count, so the weights would load): continuing
    the run is refused in one line that names both lists."""
    import shutil

    from classicnets.cli import main

    run, data = tmp_path / "run", tmp_path / "data"
    common = ["--dataset", "imagefolder", "--data-dir", str(data), "--run-dir", str(run)]
    common += ["--model", "resnet20", "--quiet", "--input-size", "8", "--batch-size", "2"]
    common += ["--set", "report=false", "--set", "tensorboard=false"]
    _class_folders(data, ("ant", "bee", "cow"))
    assert main(["train", *common, "--steps", "1"]) == 0
    shutil.rmtree(data)
    _class_folders(data, ("dog", "eel", "fox"))
    capsys.readouterr()
    assert main(["train", *common, "--steps", "2"]) == 2
    errors = [x for x in capsys.readouterr().err.splitlines() if x.startswith("classicnets:")]
    assert len(errors) == 1, errors  # (the decoded-image cache notes that the folder changed)
    assert "3 classes (ant, bee, cow)" in errors[0] and "3 classes (dog, eel, fox)" in errors[0]


def test_a_recipe_typo_gets_did_you_mean() -> None:
    from classicnets.training.config import ConfigError, recipe_path

    with pytest.raises(ConfigError, match=r"unknown recipe 'resnet_cifr' \(did you mean resnet_c"):
        recipe_path("resnet_cifr")


@pytest.mark.parametrize(
    ("given", "crop", "padding"),
    [
        ({"model": "resnet20"}, "pad_crop", 4),  # 32x32: CIFAR's kind
        ({"model": "resnet18", "input_size": 96}, "random_resized_crop", None),
        ({"model": "resnet20", "train_crop": "none"}, "none", None),  # asked for: kept
    ],
)
def test_an_own_folder_run_without_a_recipe_gets_an_augmentation(
    tmp_path: Path, given: dict[str, Any], crop: str, padding: int | None
) -> None:
    from classicnets.training.config import resolve

    folder = _class_folders(tmp_path / "data", ("ant", "bee"))
    said: list[str] = []
    cfg = resolve(None, {"data_dir": str(folder), **given}, log=said.append)
    assert cfg.train_crop == crop
    if crop == "none":
        assert not any(line.startswith("augmentation:") for line in said)
        return
    assert cfg.hflip and any(line.startswith("augmentation:") for line in said), said
    if padding is not None:
        assert cfg.crop_padding == padding
