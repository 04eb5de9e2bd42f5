"""Per-layer tables and totals: parameters, output shapes and mult-adds.

Counting runs on the ``meta`` device: no memory is allocated and no arithmetic is done, so even
SENet-154 or ResNet-1202 summarise in a second or two. Mult-adds follow the papers' convention
(their "FLOPs"): one multiply-accumulate of a convolution or a linear layer counts as one, for a
single image; batch norm, pooling, activations and additions are not counted.

Auxiliary classifiers (:class:`~classicnets.layers.AuxClassifier`) do not run in eval mode: their
rows show "not run", and ``Profile.aux_params`` counts them apart, so that
``Profile.inference_params`` is the network the papers count.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from ..factory import create_model
from ..layers.auxiliary import AuxClassifier
from ..models.registry import model_info
from ..runtime.table import format_count, format_table

__all__ = ["LayerRow", "Profile", "count_params", "profile_model", "summarize"]


@dataclass
class LayerRow:
    """One module's share: parameters and mult-adds of it and everything inside it."""

    name: str
    kind: str
    depth: int
    output_shape: tuple[int, ...] | None
    params: int
    macs: int


@dataclass
class Profile:
    """All modules of one model, in definition order, with the totals."""

    model_name: str
    input_size: tuple[int, int]
    rows: list[LayerRow]
    params: int
    macs: int
    aux_params: int = 0

    @property
    def inference_params(self) -> int:
        """Parameters without the auxiliary classifiers (training-only heads)."""
        return self.params - self.aux_params

    def table_rows(
        self, depth: int, *, also: Collection[str] = (), subtotals: bool = False
    ) -> list[LayerRow]:
        """Rows at ``depth`` (and leaves above it), each aggregating its subtree: a partition
        of the network, whose rows sum to the totals.

        Modules named in ``also`` are listed too, whatever their depth (e.g. the modules a
        paper's per-layer table describes); their children then follow them indented.
        ``subtotals``: also the modules above ``depth`` (``layer1`` before ``layer1.0``...), as
        the printed table shows them.
        """
        names = [r.name for r in self.rows]
        out = []
        for i, r in enumerate(self.rows):
            if r.depth == 0 or (r.depth > depth and r.name not in also):
                continue
            nxt = names[i + 1] if i + 1 < len(names) else ""
            is_leaf = not nxt.startswith(r.name + ".")
            if r.depth == depth or is_leaf or r.name in also or (subtotals and r.depth < depth):
                out.append(r)
        return out


def count_params(model: nn.Module) -> int:
    """Number of trainable and frozen parameters (buffers such as BN statistics excluded)."""
    return sum(p.numel() for p in model.parameters())


def _macs_of(module: nn.Module, inputs: tuple[Tensor, ...], output: Tensor) -> int:
    """Mult-adds of a conv or linear layer for one image of the batch."""
    batch = output.shape[0] if output.dim() > 1 else 1
    if isinstance(module, nn.Conv2d | nn.Conv1d | nn.Conv3d):
        kernel = module.weight[0].numel()  # (in_channels / groups) * kh * kw
        return output.numel() // batch * kernel
    if isinstance(module, nn.Linear):
        return output.numel() // batch * module.in_features
    return 0


@contextmanager
def _on_meta() -> Iterator[None]:
    with torch.device("meta"):
        yield


def profile_model(
    model: nn.Module, input_size: tuple[int, int], in_chans: int, *, name: str = ""
) -> Profile:
    """Run one meta-tensor image through ``model`` (eval mode) and account every module."""
    names = dict(model.named_modules())
    own_macs: dict[str, int] = dict.fromkeys(names, 0)
    shapes: dict[str, tuple[int, ...]] = {}
    handles = []

    def hook(mod_name: str):
        def fn(module: nn.Module, inputs: tuple[Tensor, ...], output: object) -> None:
            if isinstance(output, Tensor):
                shapes[mod_name] = tuple(output.shape[1:])
                own_macs[mod_name] += _macs_of(module, inputs, output)

        return fn

    for mod_name, module in names.items():
        handles.append(module.register_forward_hook(hook(mod_name)))
    was_training = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
        x = torch.empty(1, in_chans, *input_size, device=device)
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)

    subtree_macs = dict.fromkeys(names, 0)
    for mod_name, macs in own_macs.items():
        if macs and mod_name:
            parts = mod_name.split(".")
            for i in range(1, len(parts) + 1):
                subtree_macs[".".join(parts[:i])] += macs
    rows = []
    for mod_name, module in names.items():
        macs = subtree_macs[mod_name] if mod_name else sum(own_macs.values())
        rows.append(
            LayerRow(
                name=mod_name or "(total)",
                kind=type(module).__name__,
                depth=mod_name.count(".") + 1 if mod_name else 0,
                output_shape=shapes.get(mod_name),
                params=count_params(module),
                macs=macs,
            )
        )
    aux_params = sum(count_params(m) for m in model.modules() if isinstance(m, AuxClassifier))
    return Profile(
        model_name=name or type(model).__name__,
        input_size=input_size,
        rows=rows,
        params=count_params(model),
        macs=sum(own_macs.values()),
        aux_params=aux_params,
    )


def summarize(
    name: str, *, input_size: int | None = None, num_classes: int | None = None, **options: object
) -> Profile:
    """Profile a registered model at ``input_size`` (default: its paper's), built on meta."""
    info = model_info(name)
    size = input_size or info.input_size
    with _on_meta():
        model = create_model(name, num_classes=num_classes, **options)
    return profile_model(model, (size, size), model.in_chans, name=name)


def model_figures(name: str) -> tuple[int, int]:
    """A registered model's (inference params, mult-adds) at its paper's input size: from the
    table generated for this release (``static_figures.py``), counted now for a model
    registered after it (a plug-in, or a new family)."""
    from .static_figures import FIGURES

    if name in FIGURES:
        return FIGURES[name]
    profile = summarize(name)
    return profile.inference_params, profile.macs


def figures_table(pattern: str = "*") -> dict[str, tuple[int, int]]:
    """Computed now: each registered model's (inference params, mult-adds) at its paper's input
    size, the figures ``classicnets list`` shows (``static_figures.py`` holds them)."""
    from ..models.registry import list_models

    out = {}
    for name in list_models(pattern):
        p = summarize(name)
        out[name] = (p.inference_params, p.macs)
    return out


def write_figures_table(path: str | Path) -> Path:
    """Regenerate ``static_figures.py`` (``python -m classicnets.tools.summary``): the figures are
    static per release, so ``classicnets list`` reads them instead of building 79 models."""
    from .. import __version__

    rows = "".join(f'    "{n}": ({p}, {m}),\n' for n, (p, m) in figures_table().items())
    text = (
        '"""Generated by ``python -m classicnets.tools.summary`` '
        "(``summary.write_figures_table``): "
        "each\nregistered model's (inference params, mult-adds) at its paper's input size, "
        'for\n``classicnets list``. A test checks them against a fresh count."""\n\n'
        f'VERSION = "{__version__}"\n\n'
        f"FIGURES: dict[str, tuple[int, int]] = {{\n{rows}}}\n"
    )
    out = Path(path)
    out.write_text(text)
    return out


if __name__ == "__main__":
    print(write_figures_table(Path(__file__).with_name("static_figures.py")))


def render(profile: Profile, *, depth: int = 2) -> str:
    """The per-layer table as text, with totals and the unit stated."""
    info = model_info(profile.model_name) if profile.model_name else None
    paper_rows = {r.module: r for r in info.figures.rows} if info else {}
    header = ["layer", "type", "output (C, H, W)", "params", "mult-adds"]
    if paper_rows:
        header += ["paper params", "paper mult-adds"]
    lines = []
    for r in profile.table_rows(depth, also=paper_rows, subtotals=True):
        shape = "x".join(map(str, r.output_shape)) if r.output_shape else "- (not run)"
        row = ["  " * (r.depth - 1) + r.name, r.kind, shape, f"{r.params:,}", f"{r.macs:,}"]
        if paper_rows:
            p = paper_rows.get(r.name)
            row += [
                f"{p.params:,}" if p and p.params is not None else "",
                f"{p.macs:,}" if p and p.macs is not None else "",
            ]
        lines.append(row)
    paper_total = [
        f"{sum(p.params or 0 for p in paper_rows.values()):,}",
        f"{sum(p.macs or 0 for p in paper_rows.values()):,}",
    ]
    macs = f"{profile.macs:,}"
    footer = [["total", "", "", f"{profile.params:,}", macs]]
    if profile.aux_params:
        footer = [
            [
                "total without the auxiliary classifiers",
                "",
                "",
                f"{profile.inference_params:,}",
                macs,
            ],
            ["total with them (training)", "", "", f"{profile.params:,}", macs],
        ]
    if paper_rows:  # the paper's sums go beside the network the papers count: the first row
        footer = [row + (paper_total if i == 0 else ["", ""]) for i, row in enumerate(footer)]
    h, w = profile.input_size
    params_line = f"params: {profile.params:,} ({format_count(profile.params)})"
    if profile.aux_params:
        params_line = (
            f"params: {profile.inference_params:,} ({format_count(profile.inference_params)}) "
            f"+ {profile.aux_params:,} in auxiliary classifiers (training only, not run here) = "
            f"{profile.params:,}"
        )
    out = [
        f"{profile.model_name} at {h}x{w}, one image",
        format_table(header, lines, right=set(range(3, len(header))), footer=footer),
        "",
        f"{params_line}; mult-adds: {profile.macs:,} ({format_count(profile.macs)})",
        "mult-adds = multiply-accumulates of conv and linear layers (the papers' 'FLOPs'); "
        "batch norm, pooling, activations and additions are not counted.",
    ]
    return "\n".join(out)
