"""Real data in CI: a short CIFAR-10 training from the shared JPEG copy, through the CLI.

Only what does not depend on timing is asserted: the run completes, it learns above chance
(10 classes: 10%), and its results are written. Skipped, with the reason, where the shared
datasets folder is not beside the repository (a user's clone); CI has it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARCHIVE = ROOT.parent / "shared" / "datasets" / "cifar10-jpg.tar.gz"

pytestmark = pytest.mark.skipif(
    not ARCHIVE.is_file(),
    reason=f"the shared CIFAR-10 copy is not at {ARCHIVE} (CI has it; a clone need not)",
)


def test_short_cifar10_training_learns_and_writes_its_results(tmp_path: Path) -> None:
    run = tmp_path / "run"
    cmd = [
        sys.executable, "-m", "classicnets", "train", "--recipe", "resnet_cifar",
        "--data-dir", str(ARCHIVE), "--run-dir", str(run), "--quiet",
        "--set", "train_subset=1000", "--set", "test_subset=500", "--set", "batch_size=50",
        "--set", "steps=120", "--set", "schedule=cosine", "--set", "schedule_unit=step",
        "--set", "milestones=[]", "--set", "report=false", "--set", "tensorboard=false",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "1,000 images decoded in memory" in out.stdout  # the subset, decoded once
    summary = json.loads((run / "summary.json").read_text())
    assert summary["steps"] == 120 and summary["dataset"] == "cifar10"
    assert summary["test_acc"] > 0.2, summary["test_acc"]  # chance is 0.1
    assert sum(summary["confusion_matrix"][i][i] for i in range(10)) == round(
        summary["test_acc"] * 500
    )
    for name in ("model.safetensors", "metrics.csv", "accuracy.png", "confusion_matrix.png"):
        assert (run / name).is_file(), name
    rows = (run / "metrics.csv").read_text().splitlines()
    assert len(rows) == 1 + 6  # header + 6 epochs of 20 steps


def test_plain_and_residual_networks_train_and_the_degradation_summary_reads_them(
    tmp_path: Path,
) -> None:
    """plain20 and resnet20 each train a few steps on the shared copy through the CLI (the
    commands benchmarks/degradation.py runs, shortened), and that script's summary reads the
    runs into the JSON the results file holds."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    for model in ("plain20", "resnet20"):
        cmd = [
            sys.executable, "-m", "classicnets", "train", "--recipe", "resnet_cifar",
            "--model", model, "--data-dir", str(ARCHIVE), "--run-dir", str(tmp_path / model),
            "--quiet", "--steps", "20", "--set", "milestones=[10,15]",
            "--set", "train_subset=500", "--set", "test_subset=200", "--set", "batch_size=50",
            "--set", "report=false", "--set", "tensorboard=false",
        ]  # fmt: skip
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
        assert out.returncode == 0, out.stderr[-3000:]
        summary = json.loads((tmp_path / model / "summary.json").read_text())
        assert summary["model"] == model and summary["steps"] == 20
    script = ROOT / "benchmarks" / "degradation.py"
    cmd = [
        sys.executable, str(script), "--no-train", "--runs", str(tmp_path),
        "--models", "plain20", "resnet20", "--epochs", "2", "--out", str(tmp_path / "fig6"),
    ]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads((tmp_path / "fig6.json").read_text())
    assert set(result) >= {"machine", "schedule", "runs"}
    assert [r["model"] for r in result["runs"]] == ["plain20", "resnet20"]
    for r in result["runs"]:
        assert r["epochs"] == 2  # 20 steps of 50 over 500 images
        assert 0 <= r["final_train_error"] <= 100 and 0 <= r["final_test_error"] <= 100
        assert r["train_minutes"] >= 0 and all(c["epoch_seconds"] > 0 for c in r["curve"])
    assert (tmp_path / "fig6.png").stat().st_size > 10_000
