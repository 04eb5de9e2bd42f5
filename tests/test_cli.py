from __future__ import annotations

import subprocess
import sys

import pytest

from classicnets.cli import main


def test_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "resnet5*"]) == 0
    out = capsys.readouterr().out
    assert "resnet50" in out and "25.56M" in out and "3.858G" in out
    assert "resnet56" in out and "resnet18" not in out


def test_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["summary", "resnet34", "--depth", "1"]) == 0
    out = capsys.readouterr().out
    assert "21,797,672" in out and "layer4" in out and "512x7x7" in out


def test_summary_input_size(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["summary", "resnet20", "--input-size", "64"]) == 0
    assert "64x16x16" in capsys.readouterr().out


def test_verify_passes_and_explains(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", "resnet3*"]) == 0
    out = capsys.readouterr().out
    assert "resnet34_a" in out and "21.624M" in out and "0 fail" in out


def test_info(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", "resnet110"]) == 0
    out = capsys.readouterr().out
    assert "6.43" in out and "1512.03385" in out and "shortcut='A'" in out


def test_unknown_model_suggests(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["summary", "resnet5"]) == 2
    err = capsys.readouterr().err
    assert "unknown model 'resnet5'" in err and "resnet50" in err


def test_module_entry_point() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "classicnets", "verify", "resnet18"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "1 pass" in proc.stdout
