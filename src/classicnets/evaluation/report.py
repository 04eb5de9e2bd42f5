"""``classicnets report RUN_DIR``: one self-contained HTML page about a training run.

The page holds the configuration, the learning curves, the confusion matrix, the per-class
accuracy, the test images the model gets most confidently wrong with their class activation maps
(:mod:`classicnets.evaluation.explain`), and the model summary per stage (params and mult-adds).
Every picture is a PNG embedded as base64 and the style is inline, so the one file opens offline
in any browser and can be mailed or attached as it is. Without the optional ``grad-cam`` package
the wrong images are shown without their maps, with a line saying what to install. The model is
loaded as ``classicnets explain`` loads it (:func:`.loading.load_source`).
"""

from __future__ import annotations

import base64
import csv
import html
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..runtime.metrics import EvalResult
from ..tools.summary import format_count, profile_model
from .explain import ExplainError, ModelSource, Panel, to_rgb
from .loading import load_source

__all__ = ["SECTIONS", "write_report"]

#: Section ids, in page order (the tests check each is present).
SECTIONS = ("configuration", "curves", "confusion", "per-class", "wrong", "summary")


@dataclass
class TestOutputs:
    """The model's test-set outputs: probabilities per image, labels, and the images as shown."""

    probs: torch.Tensor  # N x classes
    labels: torch.Tensor  # N
    inputs: list[torch.Tensor]  # normalized network inputs, one per image


def _data_uri(png: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode("ascii")


def _png_data(draw: Callable[[Path], Any]) -> str:
    """The data: URI of the PNG that ``draw(path)`` writes (the plotting helpers take a path)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "figure.png"
        draw(path)
        return _data_uri(path)


def _img(uri: str, alt: str) -> str:
    return f'<img src="{uri}" alt="{html.escape(alt)}">'


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


# -- reading the run ------------------------------------------------------------------------------


def _read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """metrics.csv as plot_curves' history rows (numbers as floats, empty cells as None)."""
    path = run_dir / "metrics.csv"
    if not path.is_file():
        return []
    with path.open(newline="") as f:
        return [
            {k: float(v) if v not in ("", None) else None for k, v in r.items()}
            for r in csv.DictReader(f)
        ]


def _test_outputs(src: ModelSource, limit: int | None) -> TestOutputs:
    """Run the model over the test split of the dataset it was trained on (``limit`` images, or
    the run's ``test_subset``, spread evenly over the split)."""
    from ..data.datasets import BadSample, open_split

    dataset = open_split(
        src.config.get("dataset", "digits"),
        "test",
        src.config.get("data_dir"),
        in_chans=src.model.in_chans,
    )
    transform = src.preprocessing.eval_transform()
    total = len(dataset)
    n = min(limit or src.config.get("test_subset") or total, total)
    inputs, labels = [], []
    for i in range(n):  # spread over the split (its images may be sorted by class)
        item = dataset[i * total // n]
        if isinstance(item, BadSample):
            continue
        inputs.append(transform(item[0]))
        labels.append(int(item[1]))
    src.model.eval()
    with torch.no_grad():
        probs = torch.cat(
            [
                src.model(torch.stack(inputs[i : i + 128])).float().softmax(1)
                for i in range(0, len(inputs), 128)
            ]
        )
    return TestOutputs(probs, torch.tensor(labels), inputs)


# -- sections ------------------------------------------------------------------------------------


def _configuration(src: ModelSource, run_dir: Path, per_row: int = 3) -> str:
    """Every setting of the run, ``per_row`` (setting, value) pairs to a table row."""
    pairs = [(k, v) for k, v in src.config.items()]
    rows = [
        [cell for pair in pairs[i : i + per_row] for cell in pair]
        for i in range(0, len(pairs), per_row)
    ]
    rows[-1] += [""] * (2 * per_row - len(rows[-1]))
    return (
        f"<p>Run directory <code>{html.escape(str(run_dir))}</code>; evaluation preprocessing: "
        f"{html.escape(src.preprocessing.describe())}.</p>"
        + _table(["setting", "value"] * per_row, rows)
    )


def _curves(history: list[dict[str, Any]]) -> str:
    if not history:
        return "<p>No metrics.csv in the run directory: no epoch has finished.</p>"
    from ..runtime.plots import plot_curves

    with tempfile.TemporaryDirectory() as tmp:
        loss, acc = Path(tmp) / "loss.png", Path(tmp) / "accuracy.png"
        plot_curves(history, loss, acc)
        return (
            "<p>Learning curves: train and test, per epoch.</p>"
            + _img(_data_uri(loss), "loss per epoch")
            + _img(_data_uri(acc), "accuracy per epoch")
        )


def _confusion(result: EvalResult, classes: Sequence[str], name: str) -> str:
    from ..runtime.plots import plot_confusion

    title = f"{name}: top-1 {result.top1:.2%} on {result.count} test images"
    uri = _png_data(lambda p: plot_confusion(result.cm, classes, p, title))
    return f"<p>{html.escape(title)}; rows: true class, columns: predicted.</p>" + _img(
        uri, "confusion matrix"
    )


def _per_class(result: EvalResult, classes: Sequence[str]) -> str:
    totals = result.cm.sum(dim=1).tolist()
    rows = [
        [c, f"{acc:.2%}", int(total)]
        for c, acc, total in zip(classes, result.per_class(), totals, strict=True)
    ]
    return _table(["class", "accuracy", "test images"], rows)


def _wrong(src: ModelSource, out: TestOutputs, count: int, method: str) -> str:
    """The most confidently wrong test images, each beside its CAM for the predicted class."""
    from . import explain as explaining
    from .explain import METHOD_NAMES, explain

    conf, pred = out.probs.max(dim=1)
    wrong = (pred != out.labels).nonzero().flatten()
    if wrong.numel() == 0:
        return "<p>The model gets every test image right.</p>"
    order = wrong[conf[wrong].argsort(descending=True)][:count].tolist()
    pre, classes = src.preprocessing, src.classes
    panels, note = [], ""
    for i in order:
        x = out.inputs[i]
        image = to_rgb(x, pre.mean, pre.std)
        said = f"{classes[pred[i]]} ({float(conf[i]):.0%})"
        caption = f"true {classes[out.labels[i]]}, predicted {said}"
        try:
            cam = explain(src.model, x, method=method, target=int(pred[i])).maps[0].numpy()
        except ExplainError as e:  # grad-cam not installed: the images alone
            cam, note = None, f"<p>{html.escape(str(e))}</p>"
        panels.append(Panel(image, None, caption))
        if cam is not None:
            panels.append(Panel(image, cam, f"{METHOD_NAMES[method]} for {classes[pred[i]]}"))
    # four panels a row, about 1,050 pixels: shown at its own size on the page (six panels of 3
    # inches made it 1,800, scaled down until the captions were a few pixels high)
    uri = _png_data(lambda p: explaining.save_montage(panels, p, columns=4, panel_inches=2.6))
    intro = f"<p>The {len(order)} test images predicted wrong with the highest confidence.</p>"
    return intro + note + _img(uri, "most confidently wrong test images")


def _summary(src: ModelSource) -> str:
    """Params and mult-adds per stage (top-level modules grouped by ``feature_info``)."""
    size = src.preprocessing.input_size
    profile = profile_model(src.model, (size, size), src.model.in_chans, name=src.name)
    ends = [f.module for f in src.model.feature_info]
    rows, stage, params, macs, members = [], 0, 0, 0, []
    for row in profile.table_rows(1):
        top = row.name.split(".")[0]
        if row.name != top:
            continue
        members.append(top)
        params, macs = params + row.params, macs + row.macs
        if stage < len(ends) and top == ends[stage]:
            shape = "x".join(map(str, row.output_shape or ()))
            rows.append(
                [
                    f"stage {stage}",
                    ", ".join(members),
                    shape,
                    format_count(params),
                    format_count(macs),
                ]
            )
            stage, params, macs, members = stage + 1, 0, 0, []
    if members:
        rows.append(["head", ", ".join(members), "", format_count(params), format_count(macs)])
    rows.append(
        ["total", "", "", format_count(profile.inference_params), format_count(profile.macs)]
    )
    caption = f"<p>{html.escape(src.name)} at {size}x{size}, one image.</p>"
    return caption + _table(["stage", "modules", "output", "params", "mult-adds"], rows)


# -- the page ------------------------------------------------------------------------------------

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;font-size:.9em}td,th{border:1px solid #ddd;padding:.25em .6em;
text-align:left}th{background:#f4f4f4}img{max-width:100%;margin:.3em;vertical-align:top}
#curves img{max-width:48%}code{background:#f4f4f4}
"""


def render_page(title: str, sections: Sequence[tuple[str, str, str]]) -> str:
    """The HTML document: ``sections`` are (id, heading, inner HTML)."""
    body = "".join(
        f'<section id="{sid}"><h2>{html.escape(head)}</h2>{inner}</section>\n'
        for sid, head, inner in sections
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>\n"
        f"<body><h1>{html.escape(title)}</h1>\n{body}</body></html>\n"
    )


def write_report(
    run_dir: str | Path,
    *,
    out: str | Path | None = None,
    wrong: int = 8,
    method: str = "gradcam",
    limit: int | None = None,
) -> Path:
    """Write ``report.html`` (or ``out``) for the run in ``run_dir``; returns its path.

    ``wrong``: how many confidently wrong test images to show; ``limit``: only the first N test
    images are evaluated (quick looks at large test sets).
    """
    run = Path(run_dir)
    src = load_source(run)
    outputs = _test_outputs(src, limit)
    result = EvalResult(len(src.classes))
    result.add(outputs.probs, outputs.labels)
    sections = [
        ("configuration", "Configuration", _configuration(src, run)),
        ("curves", "Learning curves", _curves(_read_metrics(run))),
        ("confusion", "Confusion matrix", _confusion(result, src.classes, src.name)),
        ("per-class", "Per-class accuracy", _per_class(result, src.classes)),
        ("wrong", "Most confidently wrong", _wrong(src, outputs, wrong, method)),
        ("summary", "Model summary per stage", _summary(src)),
    ]
    path = Path(out) if out is not None else run / "report.html"
    path.write_text(
        render_page(f"classicnets run: {src.name} on {src.config.get('dataset')}", sections)
    )
    return path
