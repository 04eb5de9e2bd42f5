"""Our one weight-file layout: written by one writer, read by one reader, and the files written
before it (train.py's JSON object, save_weights' unversioned entries, training states, foreign
state dicts) still read with their classes and preprocessing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

import classicnets
from classicnets.evaluation.loading import load_trained
from classicnets.preprocessing import Preprocessing, for_dataset
from classicnets.tools.untrained import stand_in_batchnorm
from classicnets.weights import WeightsMetadata, load_weights, read_weights, save_weights
from classicnets.weights.metadata import FORMAT_VERSION

CLASSES = tuple("abcdefghij")
#: The record train.py keeps of a run (``_meta``) and the parts of its config the reader uses.
RUN_META = {
    "model": "resnet20",
    "classes": list(CLASSES),
    "in_chans": 3,
    "input_size": 32,
    "mean": [0.4914, 0.4822, 0.4465],
    "std": [0.2470, 0.2435, 0.2616],
    "dataset": "cifar10",
}
RUN_CONFIG = {"model": "resnet20", "dataset": "cifar10", "model_options": {}, "eval_crop_pct": 0.9}


def _model() -> torch.nn.Module:
    return stand_in_batchnorm(classicnets.create_model("resnet20")).eval()


def _assert_same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    for k, v in a.state_dict().items():
        torch.testing.assert_close(b.state_dict()[k], v, msg=k)


def _expected_run_preprocessing() -> Preprocessing:
    return for_dataset(
        "cifar10", 32, crop_fraction=0.9, mean=tuple(RUN_META["mean"]), std=tuple(RUN_META["std"])
    )


def test_round_trip_of_the_one_layout(tmp_path: Path) -> None:
    model = _model()
    pre = Preprocessing(input_size=32, resize_size=36, interpolation="bicubic", note="a note")
    path = save_weights(
        model,
        tmp_path / "w.safetensors",
        preprocessing=pre,
        classes=CLASSES,
        categories="letters",
        options={"drop_rate": 0.0},
        source="a test",
        sha256="ab" * 32,
        config={"dataset": "cifar10", "epochs": 1},
    )
    tensors, meta = read_weights(path)
    assert sorted(tensors) == sorted(model.state_dict())
    for k, v in model.state_dict().items():
        torch.testing.assert_close(tensors[k], v, msg=k)
    assert meta == WeightsMetadata(
        architecture="resnet20",
        options={"drop_rate": 0.0},
        num_classes=10,
        in_chans=3,
        classes=CLASSES,
        categories="letters",
        preprocessing=pre,
        layout="classicnets",
        source="a test",
        sha256="ab" * 32,
        config={"dataset": "cifar10", "epochs": 1},
        version=classicnets.__version__,
        format_version=FORMAT_VERSION,
    )
    other = classicnets.create_model("resnet20")
    report = load_weights(other, path)
    assert report.ok and report.classes == CLASSES and report.preprocessing == pre
    _assert_same_weights(model, other)


def _write_old_run_file(model: torch.nn.Module, path: Path) -> None:
    """Copied from train.py's ``_finish`` before format 2 (one JSON object, key "classicnets");
    kept here as it was, so that files written then stay readable."""
    from safetensors.torch import save_file

    meta = {**RUN_META, "config": RUN_CONFIG}
    weights = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(weights, str(path), metadata={"classicnets": json.dumps(meta)})


def _write_old_save_weights_file(model: torch.nn.Module, path: Path) -> None:
    """Copied from ``save_weights`` and ``write_safetensors`` before format 2 (one entry per key,
    no version); kept here as it was, so that files written then stay readable."""
    from safetensors.torch import save_file

    metadata: dict[str, Any] = {
        "architecture": model.model_name,
        "layout": "classicnets",
        "num_classes": model.num_classes,
        "in_chans": model.in_chans,
        "options": {},
        "version": "0.1.0",
        # catalog.Preprocessing.as_dict() as it was (no geometry)
        "preprocessing": {
            "input_size": 32,
            "resize_size": 36,
            "crop_fraction": round(32 / 36, 6),
            "interpolation": "bilinear",
            "mean": [0.5, 0.5, 0.5],
            "std": [0.25, 0.25, 0.25],
            "channel_order": "RGB",
            "value_range": "0-1",
        },
        "classes": list(CLASSES),
        "source": "an old file",
    }
    meta = {"format": "pt"}
    for k, v in metadata.items():
        meta[f"classicnets.{k}"] = v if isinstance(v, str) else json.dumps(v)
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, str(path), metadata=meta)


def test_files_written_the_old_ways_load_with_classes_and_preprocessing(tmp_path: Path) -> None:
    model = _model()
    run_file, saved_file = tmp_path / "run.safetensors", tmp_path / "saved.safetensors"
    _write_old_run_file(model, run_file)
    _write_old_save_weights_file(model, saved_file)

    _, meta = read_weights(run_file)
    assert meta.architecture == "resnet20" and meta.classes == CLASSES and meta.in_chans == 3
    assert meta.preprocessing == _expected_run_preprocessing()
    assert meta.preprocessing.geometry == "whole" and meta.config == RUN_CONFIG
    _, meta = read_weights(saved_file)
    assert meta.classes == CLASSES and meta.source == "an old file" and meta.format_version == 1
    assert meta.preprocessing == Preprocessing(
        input_size=32, resize_size=36, mean=(0.5,) * 3, std=(0.25,) * 3
    )

    for path in (run_file, saved_file):
        other = classicnets.create_model("resnet20")
        report = load_weights(other, path)
        assert report.ok and report.layout == "classicnets" and report.classes == CLASSES
        _assert_same_weights(model, other)
        loaded = load_trained(model_name="resnet20", weights=path)
        assert loaded.classes == CLASSES and loaded.preprocessing == report.preprocessing
        _assert_same_weights(model, loaded.model)


def test_training_state_and_foreign_state_dict(tmp_path: Path) -> None:
    model, averaged = _model(), _model()
    state = {
        "format": 1,
        "config": RUN_CONFIG,
        "meta": RUN_META,
        "model": model.state_dict(),
        "ema": {"module": averaged.state_dict(), "decay": 0.99},
        "step": 3,
    }
    torch.save(state, tmp_path / "last.pt")
    tensors, meta = read_weights(tmp_path)  # a run directory: its last.pt
    torch.testing.assert_close(tensors["head.fc.weight"], model.head.fc.weight)
    assert meta.classes == CLASSES and meta.preprocessing == _expected_run_preprocessing()
    tensors, _ = read_weights(tmp_path / "last.pt", ema=True)
    torch.testing.assert_close(tensors["head.fc.weight"], averaged.head.fc.weight)
    loaded = load_trained(tmp_path)  # eval and predict: the EMA
    _assert_same_weights(averaged, loaded.model)

    torch.save({"state_dict": model.state_dict()}, tmp_path / "foreign.pth")
    tensors, meta = read_weights(tmp_path / "foreign.pth")
    assert meta == WeightsMetadata() and sorted(tensors) == sorted(model.state_dict())


def test_a_file_without_metadata_gets_the_papers_geometry(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    save_file(_model().state_dict(), str(tmp_path / "bare.safetensors"))
    loaded = load_trained(model_name="resnet20", weights=tmp_path / "bare.safetensors")
    assert loaded.classes == tuple(str(i) for i in range(10))
    assert loaded.preprocessing.geometry == "whole" and loaded.input_size == 32


@pytest.mark.parametrize("name", ["w.pt", "w.bin"])
def test_writer_refuses_other_suffixes(tmp_path: Path, name: str) -> None:
    from classicnets.errors import WeightsFileError

    with pytest.raises(WeightsFileError, match="name it"):
        save_weights(_model(), tmp_path / name)


@pytest.mark.parametrize("low_byte", [0x80, 0x78])  # safetensors pads to 8 bytes
def test_safetensors_header_length_never_passes_for_a_pickle(tmp_path: Path, low_byte: int) -> None:
    """The header length's first byte depends on the metadata (paths, names): 0x80 is also
    pickle's first opcode, and such a file must still read as the safetensors file it is."""
    model = classicnets.create_model("resnet20")
    path = tmp_path / "w.safetensors"
    for pad in range(300):
        save_weights(model, path, classes=CLASSES, source="x" * pad)
        if path.read_bytes()[0] == low_byte:
            break
    assert path.read_bytes()[0] == low_byte
    tensors, read = read_weights(path)
    assert read.architecture == "resnet20" and read.classes == CLASSES
    assert torch.equal(tensors["head.fc.weight"], model.state_dict()["head.fc.weight"])
