"""`classicnets report RUN_DIR`: one well-formed, self-contained HTML file with every section.

``run_dir`` is the session's training run (conftest.py).
"""

from __future__ import annotations

import base64
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from classicnets.cli import main
from classicnets.evaluation.report import SECTIONS, write_report

VOID = {"meta", "img", "br", "hr", "link", "input"}


class _Checker(HTMLParser):
    """Collects tag nesting errors, ids, and every src/href."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.ids: list[str] = []
        self.sources: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if "id" in a:
            self.ids.append(str(a["id"]))
        self.sources += [str(a[k]) for k in ("src", "href") if k in a]
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:]}")
        else:
            self.stack.pop()


def _check(path: Path) -> _Checker:
    text = path.read_text()
    assert text.startswith("<!DOCTYPE html>")
    checker = _Checker()
    checker.feed(text)
    checker.close()
    assert checker.errors == [] and checker.stack == []
    return checker


def test_report_is_well_formed_with_every_section_and_embedded_images(run_dir: Path) -> None:
    path = write_report(run_dir, wrong=4)
    assert path == run_dir / "report.html"
    checker = _check(path)
    assert [i for i in checker.ids if i in SECTIONS] == list(SECTIONS)
    # learning curves (2), confusion matrix, wrong images: all embedded, nothing fetched
    assert len(checker.sources) >= 4
    for src in checker.sources:
        assert src.startswith("data:image/png;base64,"), src[:60]
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    text = path.read_text()
    for expected in ("resnet20", "mult-adds", "stage 0", "accuracy", "lr</td>"):
        assert expected in text


def test_report_without_the_cam_library_says_what_to_install(
    run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pytorch_grad_cam", None)
    path = write_report(run_dir, out=tmp_path / "r.html", wrong=2)
    _check(path)
    assert "pip install &#x27;classicnets[explain]&#x27;" in path.read_text()


def test_report_command(run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "page.html"
    assert main(["report", str(run_dir), "--out", str(out), "--wrong", "1"]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    _check(out)
    assert main(["report", str(tmp_path)]) == 2  # no weights: the message, not a traceback
    assert "no weights yet" in capsys.readouterr().err


def _pngs(path: Path) -> dict[str, bytes]:
    """The report's embedded PNGs by their alt text."""
    import re

    found = re.findall(r'<img src="data:image/png;base64,([^"]+)" alt="([^"]*)"', path.read_text())
    return {alt: base64.b64decode(data) for data, alt in found}


def test_report_figures_are_readable(
    run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Captions in words (not "said", not the method's key), the montage no wider than the page
    (so its captions are not scaled down to a few pixels), titled learning curves with whole
    epochs on their axis (issue 29, item 14)."""
    import io

    from PIL import Image

    from classicnets.evaluation import explain
    from classicnets.runtime.plots import curve_figures

    captions: list[str] = []
    montage = explain.save_montage

    def recording(panels, *args, **kwargs):
        captions.extend(p.title for p in panels)
        return montage(panels, *args, **kwargs)

    monkeypatch.setattr(explain, "save_montage", recording)
    path = write_report(run_dir, out=tmp_path / "r.html", wrong=4)
    assert captions and all(
        c.startswith(("true ", "Grad-CAM for ")) and " said " not in c for c in captions
    ), captions
    assert any(", predicted " in c for c in captions), captions
    text = path.read_text()
    pngs = _pngs(path)
    montage = Image.open(io.BytesIO(pngs["most confidently wrong test images"]))
    assert montage.width <= 1100  # the page's max-width: shown at its own size
    assert "loss per epoch" in pngs and "accuracy per epoch" in pngs
    assert "Learning curves: train and test, per epoch" in text
    history = [{"epoch": e, "train_loss": 1.0 / e, "test_loss": 2.0 / e, "train_acc": 0.5,
                "test_acc": None} for e in (1, 2, 3)]  # fmt: skip
    for fig in curve_figures(history):
        ax = fig.axes[0]
        assert ax.get_title() and all(t == int(t) for t in ax.get_xticks())
        fig.canvas.draw()
        inside = fig.bbox
        for artist in (ax.title, ax.xaxis.label, ax.yaxis.label):
            box = artist.get_window_extent()
            assert inside.x0 <= box.x0 and box.x1 <= inside.x1 and box.y1 <= inside.y1
