"""``classicnets predict`` over folders: every image under them, an unreadable one skipped with
a line while the others are still classified."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from classicnets.cli import main


def _digit(path: Path) -> None:
    from classicnets.data.datasets import DigitsDataset

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(DigitsDataset("test").images[0, 0].numpy()).resize((32, 32)).save(path)


def test_predict_takes_a_folder_and_skips_an_unreadable_image(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "photos"
    _digit(folder / "a.png")
    _digit(folder / "sub" / "deeper" / "b.png")
    (folder / "sub" / "broken.jpg").write_bytes(b"not an image")
    (folder / "notes.txt").write_text("not an image either, and not an image file name")
    assert main(["predict", str(folder), "-c", str(run_dir), "--json"]) == 0
    out = capsys.readouterr()
    images = [r["image"] for r in json.loads(out.out)]
    assert images == [str(folder / "a.png"), str(folder / "sub" / "deeper" / "b.png")]
    skipped = [line for line in out.err.splitlines() if line.startswith("skipped")]
    assert len(skipped) == 1 and "broken.jpg" in skipped[0] and "cannot read image" in skipped[0]


def test_predict_refuses_a_missing_path_and_an_empty_folder(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["predict", str(tmp_path / "nowhere.png"), "-c", str(run_dir)]) == 2
    assert "no such image file or folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["predict", str(tmp_path / "empty"), "-c", str(run_dir)]) == 2
    assert "no image files in" in capsys.readouterr().err
