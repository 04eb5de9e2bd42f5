"""A new user's first hour (issue 16): export that serves, our own files, one-line errors, the
fast command line, and the conventions timm and torchvision users bring.

``run_dir`` is the session's training run (conftest.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

import classicnets
from classicnets.cli import main
from classicnets.errors import InputShapeError


def _one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    """The error: one line, the last on stderr (after the note naming the weights file)."""
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and err.splitlines()[-1].startswith("classicnets: error:"), err
    return err.splitlines()[-1]


# -- export serves a deployment -------------------------------------------------------------------


def test_export_a_run_directory_at_batch_1_and_3_with_its_metadata(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    out = tmp_path / "digits.onnx"
    assert main(["export", "--format", "onnx", "-c", str(run_dir), "-o", str(out)]) == 0
    assert "dynamic batch" in capsys.readouterr().out
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    for batch in (1, 3):  # the file takes any batch, 1-channel 8x8 images as the run recorded
        logits = session.run(None, {"x": torch.randn(batch, 1, 8, 8).numpy()})[0]
        assert logits.shape == (batch, 10)
    props = {p.key: p.value for p in __import__("onnx").load(str(out)).metadata_props}
    assert json.loads(props["classicnets.classes"]) == [str(i) for i in range(10)]
    assert json.loads(props["classicnets.preprocessing"])["input_size"] == 8
    assert props["classicnets.architecture"] == "resnet20"


@pytest.mark.parametrize("fmt,suffix", [("torchscript", ".ts"), ("exported-program", ".pt2")])
def test_export_metadata_in_the_other_formats(
    run_dir: Path, tmp_path: Path, fmt: str, suffix: str
) -> None:
    from classicnets.deployment.export import read_export_metadata

    out = tmp_path / f"m{suffix}"
    assert main(["export", "--format", fmt, "-c", str(run_dir / "model.safetensors"),
                 "-o", str(out)]) == 0  # fmt: skip
    meta = read_export_metadata(out)
    assert meta.architecture == "resnet20" and meta.in_chans == 1 and len(meta.classes) == 10
    assert meta.preprocessing is not None and meta.preprocessing.input_size == 8


def test_export_fixed_batch(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "m.pt2"
    assert main(["export", "resnet20", "--format", "exported-program", "-o", str(out),
                 "--fixed-batch", "4"]) == 0  # fmt: skip
    assert "fixed batch); checked against eager at batch 4" in capsys.readouterr().out


def test_export_misfit_shows_the_whole_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = classicnets.create_model("resnet20").state_dict()
    del state["layer3.2.conv2.bn.weight"]
    state["extra.weight"] = torch.zeros(3)
    torch.save(state, tmp_path / "bad.pth")
    code = main(["export", "resnet20", "--format", "torchscript", "-c", str(tmp_path / "bad.pth"),
                 "-o", str(tmp_path / "m.ts")])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "layer3.2.conv2.bn.weight" in err and "extra.weight" in err and "missing" in err


# -- loading our own files ------------------------------------------------------------------------


def test_create_model_builds_what_the_file_records(run_dir: Path) -> None:
    model = classicnets.create_model("resnet20", pretrained=run_dir / "model.safetensors")
    assert model.in_chans == 1 and model.num_classes == 10
    cfg = model.pretrained_cfg
    assert cfg["input_size"] == (1, 8, 8) and cfg["label_names"] == tuple(map(str, range(10)))
    other = classicnets.create_model(
        "resnet20", pretrained=run_dir / "model.safetensors", num_classes=3
    )  # the caller asks otherwise: a new head
    assert other.num_classes == 3 and "label_names" not in other.pretrained_cfg


def test_load_run(run_dir: Path) -> None:
    lm = classicnets.load_run(run_dir)
    assert lm.source == run_dir / "model.safetensors"
    assert lm.classes == tuple(map(str, range(10))) and lm.preprocessing.input_size == 8
    image = Image.new("L", (20, 20), 128)
    assert lm.model(lm.transforms()(image).unsqueeze(0)).shape == (1, 10)


def test_predict_and_eval_take_our_files(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    img = tmp_path / "d.png"
    Image.new("L", (16, 16), 200).save(img)
    assert main(["predict", str(img), "-c", str(run_dir / "model.safetensors")]) == 0
    assert main(["predict", str(img), "--weights", str(run_dir / "model.safetensors")]) == 0
    capsys.readouterr()
    assert main(["eval", "-c", str(run_dir), "--limit", "4", "--quiet"]) == 0
    assert f"weights: {run_dir / 'model.safetensors'}" in capsys.readouterr().err
    code = main(["predict", str(img), "-c", str(run_dir), "--model", "resnet32"])
    assert code == 2 and "holds resnet20, not resnet32" in _one_line_error(capsys)


# -- clean errors ---------------------------------------------------------------------------------


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a CPU-only machine")
@pytest.mark.parametrize(
    "argv",
    [["eval", "-c", "RUN", "--device", "cuda"], ["bench", "resnet20", "--device", "cuda"],
     ["predict", "x.png", "-c", "RUN", "--device", "cuda"]],
)  # fmt: skip
def test_device_cuda_without_a_gpu(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = _one_line_error(capsys)
    assert "no CUDA GPU" in err and "--device cpu" in err


def test_uint8_input_says_convert() -> None:
    model = classicnets.create_model("resnet20").eval()
    with pytest.raises(InputShapeError, match=r"uint8.*x\.float\(\)"):
        model(torch.zeros(1, 3, 32, 32, dtype=torch.uint8))


def test_predict_refuses_a_tiny_image(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    Image.new("RGB", (1, 1)).save(tmp_path / "dot.png")
    assert main(["predict", str(tmp_path / "dot.png"), "-c", str(run_dir)]) == 2
    assert "far below" in _one_line_error(capsys)


# -- a fast command line --------------------------------------------------------------------------


@pytest.mark.parametrize("argv", [["--help"], ["--version"], ["list", "--help"]])
def test_help_and_version_do_not_import_torch(argv: list[str]) -> None:
    code = (
        "import sys\nfrom classicnets.cli import main\n"
        f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
    )
    src = str(Path(classicnets.__file__).parents[1])
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={"PYTHONPATH": src}
    )
    assert result.returncode == 0, result.stderr
    if argv == ["--version"]:
        assert result.stdout.strip() == f"classicnets {classicnets.__version__}"


def test_static_figures_cover_the_registry_and_match_a_fresh_count() -> None:
    from classicnets.tools.static_figures import FIGURES, VERSION
    from classicnets.tools.summary import summarize

    assert classicnets.__version__ == VERSION  # regenerate: python -m classicnets.tools.summary
    assert set(FIGURES) == set(classicnets.list_models())
    for name in ("resnet20", "googlenet", "densenet121", "seresnet50"):
        p = summarize(name)
        assert FIGURES[name] == (p.inference_params, p.macs), name


@pytest.mark.slow
def test_static_figures_match_everywhere() -> None:
    from classicnets.tools.static_figures import FIGURES
    from classicnets.tools.summary import figures_table

    assert figures_table() == FIGURES


# -- timm / torchvision conventions ---------------------------------------------------------------


def test_pretrained_listing_and_arch_tag_names() -> None:
    tagged = classicnets.list_models(pretrained=True)
    assert "resnet50_v1_5.tv_in1k" in tagged and "resnet20" not in tagged
    assert "resnet50_v1_5" in classicnets.list_models(pretrained=True, include_tags=False)
    assert "resnet50" not in classicnets.list_models(
        "resnet50*", pretrained=True, include_tags=False
    )
    model = classicnets.create_model("resnet50_v1_5.tv2_in1k")  # no download without pretrained
    assert model.pretrained_cfg["tag"] == "tv2_in1k"
    assert model.pretrained_cfg["crop_pct"] == pytest.approx(224 / 232, abs=1e-3)
    assert classicnets.get_weights("resnet50_v1_5.tv_in1k").arch == "resnet50_v1_5"
    assert "resnet50_v1_5.tv_in1k" in classicnets.list_weights()
    spec = classicnets.get_weights("inception_v3.tv_in1k")
    assert spec.transforms()(Image.new("RGB", (400, 300))).shape == (3, 299, 299)


def test_timm_resolves_our_preprocessing() -> None:
    timm_data = pytest.importorskip("timm.data")
    config = timm_data.resolve_model_data_config(classicnets.create_model("inception_v3"))
    assert config["input_size"] == (3, 299, 299)
    assert (
        tuple(config["mean"]) == classicnets.get_weights("inception_v3.tv_in1k").preprocessing.mean
    )


def test_feature_info_accessors() -> None:
    model = classicnets.create_model("resnet50")
    assert model.feature_info.channels() == [64, 256, 512, 1024, 2048]
    assert model.feature_info.reduction() == [2, 4, 8, 16, 32]
    assert model.feature_info.channels(-1) == 2048
    backbone = classicnets.create_model("resnet50", features_only=True, out_indices=(2, 4))
    assert backbone.feature_info.reduction() == [8, 32]


def test_global_pool_and_drop_path() -> None:
    plain = classicnets.create_model("resnet20")
    assert not any(type(m).__name__ == "DropPath" for m in plain.modules())  # papers' default
    model = classicnets.create_model("resnet20", global_pool="max", drop_path_rate=0.2)
    rates = [m.rate for m in model.modules() if type(m).__name__ == "DropPath"]
    assert rates[0] == 0.0 and rates[-1] == pytest.approx(0.2) and len(rates) == 9
    x = torch.randn(4, 3, 32, 32)
    model.train()
    model(x).sum().backward()
    model.eval()
    assert torch.equal(model(x), model(x))
    assert model.state_dict().keys() == plain.state_dict().keys()


def test_weights_for_a_torchvision_name_and_info(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["weights", "resnet50"]) == 0
    out = capsys.readouterr().out
    assert "resnet50_v1_5" in out and "resnet50_v1_5.tv_in1k" in out
    assert main(["info", "resnet50_v1_5"]) == 0
    assert "weights: resnet50_v1_5.tv_in1k (default: pretrained=True)" in capsys.readouterr().out


def test_summary_depth_2_keeps_the_stage_subtotals(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["summary", "resnet50", "--depth", "2"]) == 0
    rows = [line.split()[0] for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert {"layer1", "layer4", "layer1.0"} <= set(rows)


def test_a_run_directory_stands_for_its_final_then_best_then_last_weights(tmp_path: Path) -> None:
    from classicnets.evaluation.loading import run_weights_file
    from classicnets.runtime.checkpoint_io import CheckpointError

    with pytest.raises(CheckpointError, match="not a training run"):
        run_weights_file(tmp_path)
    for name in ("last.pt", "best.pt", "model.safetensors"):
        (tmp_path / name).write_bytes(b"x")
        assert run_weights_file(tmp_path) == tmp_path / name  # each preferred to the ones before
