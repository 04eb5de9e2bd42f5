"""The README's journeys, run as written: every fenced block after a ``<!-- journey -->`` line,
in order, in one fresh directory (shell lines through the CLI's ``main``, Python blocks
executed)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from classicnets.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"
JOURNEY = re.compile(r"<!-- journey -->\n```(\w+)\n(.*?)```", re.DOTALL)


def journeys() -> list[tuple[str, str]]:
    return JOURNEY.findall(README.read_text(encoding="utf-8"))


def test_the_readme_has_journeys() -> None:
    kinds = [kind for kind, _ in journeys()]
    assert "bash" in kinds and "python" in kinds


def test_readme_journeys_run_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    for kind, code in journeys():
        if kind == "python":
            exec(compile(code, "README.md", "exec"), {})
            continue
        for line in code.splitlines():
            argv = shlex.split(line, comments=True)
            if not argv:
                continue
            assert argv[0] == "classicnets", line
            try:
                rc = main(argv[1:])
            except SystemExit as e:  # --version and --help exit through argparse
                rc = e.code or 0
            assert rc == 0, f"{line}: exit {rc}\n{capsys.readouterr().err}"


def test_every_extra_is_in_the_readme_install_section() -> None:
    """Each optional extra of pyproject.toml has its own install line in the README."""
    import tomllib

    pyproject = README.parent / "pyproject.toml"
    extras = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"][
        "optional-dependencies"
    ]
    install = README.read_text(encoding="utf-8").split("## Install", 1)[1].split("\n## ", 1)[0]
    missing = [n for n in extras if f'pip install ".[{n}]"' not in install and n != "dev"]
    if 'pip install -e ".[dev]"' not in install:
        missing.append("dev")
    assert not missing, f"extras without an install line in the README: {missing}"


def test_the_main_job_accuracy_is_stated_per_cpu_kind() -> None:
    """Kernels differ between CPU kinds, so the README names the CPU of each accuracy figure
    and never promises one figure for every run."""
    intro = README.read_text(encoding="utf-8").split("## Install", 1)[0]
    assert "AMD EPYC" in intro and "Intel Xeon" in intro
    assert "in every run" not in intro
