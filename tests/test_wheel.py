"""The package as a user installs it: a wheel built from this tree, installed outside the checkout.

The wheel is built from a copy of the source tree and installed offline (``--no-index
--no-deps --no-build-isolation``: the build backend and the runtime dependencies come from the
test's own environment) into a target folder that goes first on ``PYTHONPATH``; the commands
run from a directory outside the repository. So the run sees only what the wheel ships: a file
left out of the package data (the recipes) fails here although the editable checkout works.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(args: list[str], cwd: Path, env: dict[str, str], timeout: int = 600) -> str:
    proc = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert proc.returncode == 0, f"{' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """(an empty working directory outside the repository, the environment to run in)."""
    base = tmp_path_factory.mktemp("wheel")
    build_env = {**os.environ, "PIP_NO_INPUT": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    pip = [sys.executable, "-m", "pip"]
    source = base / "source"  # a copy, so that the build leaves nothing in the checkout
    shutil.copytree(
        ROOT / "src", source / "src", ignore=shutil.ignore_patterns("*.egg-info", "__pycache__")
    )
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    _run(
        [*pip, "wheel", "--no-deps", "--no-index", "--no-build-isolation", "-w", str(base), "."],
        source,
        build_env,
    )
    (wheel,) = base.glob("classicnets-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        assert "classicnets/training/recipes/digits.toml" in zf.namelist(), (
            "the recipes are not packaged"
        )
    target = base / "site"
    _run(
        [*pip, "install", "--no-deps", "--no-index", "--target", str(target), str(wheel)],
        base,
        build_env,
    )
    workdir = base / "elsewhere"
    workdir.mkdir()
    env = {**build_env, "PYTHONPATH": str(target), "OMP_NUM_THREADS": "1"}
    return workdir, env


def test_the_installed_package_is_the_wheel(installed: tuple[Path, dict[str, str]]) -> None:
    workdir, env = installed
    out = _run(
        [sys.executable, "-c", "import classicnets; print(classicnets.__file__)"], workdir, env
    )
    assert out.strip().startswith(env["PYTHONPATH"]), out


def test_train_and_verify_from_the_wheel(installed: tuple[Path, dict[str, str]]) -> None:
    workdir, env = installed
    target = Path(env["PYTHONPATH"])
    cli = (
        [str(target / "bin" / "classicnets")]
        if (target / "bin" / "classicnets").exists()
        else [
            sys.executable,
            "-m",
            "classicnets",
        ]
    )
    out = _run([*cli, "train", "--epochs", "1", "--quiet", "--run-dir", "run"], workdir, env)
    assert (workdir / "run" / "model.safetensors").is_file(), out
    out = _run([*cli, "verify", "resnet2*"], workdir, env)
    assert "resnet20" in out
