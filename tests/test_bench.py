"""bench, the reference pairing and the bench/export commands (tiny settings, no timing)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from classicnets.cli import main
from classicnets.factory import create_model
from classicnets.tools.bench.format import format_results
from classicnets.tools.bench.harness import run_bench, run_variants, saved_activation_bytes
from classicnets.tools.bench.steps import BenchConfig
from classicnets.tools.reference import NoReferenceError, paired_models


@pytest.mark.parametrize(
    ("name", "library"), [("resnet50_v1_5", "torchvision"), ("resnet18", "timm")]
)
def test_reference_pair_has_the_same_weights_and_logits(name: str, library: str) -> None:
    if library == "timm":
        pytest.importorskip("timm")
    ours, ref = paired_models(name, library, check_size=32)
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), ref(x), rtol=1e-4, atol=1e-5)


def test_reference_refuses_a_different_architecture() -> None:
    with pytest.raises(NoReferenceError, match="resnet50_v1_5"):
        paired_models("resnet50", "torchvision")
    with pytest.raises(NoReferenceError, match="no counterpart of our 'resnet20'"):
        paired_models("resnet20", "torchvision")


def test_bench_compare_reports_both_sides_and_a_ratio() -> None:
    cfg = BenchConfig(model="resnet18", batch_size=1, input_size=32, warmup=0, repeats=2,
                      compare="torchvision", deploy=True)  # fmt: skip
    ours, ref = run_bench(cfg)
    assert len(ours.times_s) == len(ref.times_s) == 2
    assert ours.ratio is not None and ours.ratio > 0 and ref.ratio is None
    assert ours.macs_per_step == pytest.approx(1.814e9 * (32 / 224) ** 2, rel=0.05)
    assert ours.efficiency > 0 and ours.peak_mem_bytes >= 0
    text = format_results(cfg, [ours, ref])
    assert "speed ratio ours / torchvision" in text and "load average" in text
    assert "deploy: BN folded" in text


def test_bench_variants_train_and_checkpointing() -> None:
    base = BenchConfig(model="resnet20", mode="train", batch_size=2, warmup=0, repeats=1)
    a, b = run_variants([base, BenchConfig(**{**base.__dict__, "grad_checkpointing": True})])
    assert "grad checkpointing" in b.label
    assert a.macs_per_step == b.macs_per_step > 0
    model = create_model("resnet20")
    x = torch.randn(2, 3, 32, 32)
    plain = saved_activation_bytes(model, x)
    model.set_grad_checkpointing()
    assert 0 < saved_activation_bytes(model, x) < plain / 2


def test_bench_config_errors() -> None:
    with pytest.raises(ValueError, match="inference path"):
        BenchConfig(model="resnet20", mode="train", deploy=True)
    with pytest.raises(ValueError, match="fp32, bf16, fp16"):
        BenchConfig(model="resnet20", precision="fp8")


def test_cli_bench_and_export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "resnet20", "--batch-size", "2", "--warmup", "0", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    assert "images/s" in out and "matmul peak fp32" in out
    assert main(["bench", "resnet50", "--compare", "timm", "--repeats", "1"]) == 2
    assert "resnet50_v1_5" in capsys.readouterr().err
    ckpt = tmp_path / "w.pt"
    torch.save({"model": create_model("resnet20").state_dict()}, ckpt)
    target = tmp_path / "r20.pt2"
    args = ["export", "resnet20", "--format", "exported-program", "--checkpoint", str(ckpt)]
    assert main([*args, "--dynamic-batch", "--deploy", "-o", str(target)]) == 0
    assert target.is_file() and "max relative error" in capsys.readouterr().out
