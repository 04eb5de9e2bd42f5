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
