"""``classicnets list``, ``info``, ``summary`` and ``verify``: the registered models."""

from __future__ import annotations

import argparse
import sys

from .common import SubParsers, register_families


def _cmd_list(args: argparse.Namespace) -> int:
    from ..models.registry import list_models, model_info
    from ..runtime.table import format_count, format_table
    from ..tools.summary import model_figures

    register_families()
    names = list_models(args.pattern)
    if not names:
        print(f"no registered model matches {args.pattern!r}", file=sys.stderr)
        return 1
    rows = []
    for n in names:
        info = model_info(n)
        params, macs = model_figures(n)
        rows.append(
            [n, info.family, str(info.input_size), format_count(params), format_count(macs),
             info.summary]
        )  # fmt: skip
    header = ["model", "family", "input", "params", "mult-adds", "summary"]
    print(format_table(header, rows, right={2, 3, 4}))
    print(
        f"\n{len(names)} models; mult-adds for one image at the input size shown; params "
        "without auxiliary classifiers (training-only heads)."
    )
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    from ..models.registry import model_info

    register_families()
    info = model_info(args.model)
    fig = info.figures
    print(f"{info.name}: {info.summary}")
    print(f"family: {info.family}")
    print(f"paper: {info.paper.cite()}")
    print(f"default input: {info.input_size}x{info.input_size}, {info.num_classes} classes")
    print(f"figures from: {fig.source}")
    if fig.paper_params is not None:
        print(f"paper params: {fig.paper_params / 1e6:g}M")
    if fig.paper_macs is not None:
        print(f"paper mult-adds: {fig.paper_macs / 1e9:g}G")
    if fig.ref_params is not None:
        print(f"reference params: {fig.ref_params:,} ({fig.ref_source})")
    if fig.ref_params_with_aux is not None:
        print(f"reference params with the auxiliary classifiers: {fig.ref_params_with_aux:,}")
    if fig.ref_gmacs is not None:
        print(f"reference mult-adds: {fig.ref_gmacs:.3f}G")
    for e in fig.errors:
        print(f"reported: {e.describe()}")
    if fig.notes:
        print(f"notes: {fig.notes}")
    if fig.accepted_deviation:
        print(f"accepted deviation: {fig.accepted_deviation}")
    opts = ", ".join(f"{k}={v!r}" for k, v in info.default_options().items())
    print(f"options: {opts}")
    _print_weights_of(info.name)
    return 0


def _print_weights_of(arch: str) -> None:
    from ..weights import default_weights, weights_for

    specs = weights_for(arch)
    default = default_weights(arch)
    if not specs:
        print("weights: none registered (`classicnets weights` lists those that are)")
    for spec in specs:
        acc = f", top-1 {spec.accuracy.top1:.2f}%" if spec.accuracy else ""
        mark = " (default: pretrained=True)" if spec is default else ""
        print(f"weights: {spec.name}{mark} ({spec.origin}, {spec.source.split(' (')[0]}{acc})")


def _cmd_summary(args: argparse.Namespace) -> int:
    from ..tools.summary import render, summarize

    profile = summarize(args.model, input_size=args.input_size, num_classes=args.num_classes)
    print(render(profile, depth=args.depth))
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ..models.registry import list_models
    from ..tools.verify import render_results, verify_model

    register_families()
    names = list_models(args.pattern)
    # disable=None: a bar on a terminal, nothing in a log
    bar = tqdm(names, desc="verify", unit="model", leave=False, disable=None)
    results = []
    for name in bar:
        bar.set_postfix_str(name)
        results.append(verify_model(name))
    if not results:
        print(f"no registered model matches {args.pattern!r}", file=sys.stderr)
        return 1
    print(render_results(results))
    return 0 if all(r.passed for r in results) else 1


def add_commands(sub: SubParsers) -> None:
    """``list``, ``info``, ``summary`` and ``verify``."""
    p = sub.add_parser("list", help="registered models with params and mult-adds")
    p.add_argument("pattern", nargs="?", default="*", help="glob, e.g. 'resnet*'")
    p.set_defaults(fn=_cmd_list)

    p = sub.add_parser("info", help="a model's paper, input size and reference figures")
    p.add_argument("model")
    p.set_defaults(fn=_cmd_info)

    p = sub.add_parser("summary", help="per-layer table: output shape, params, mult-adds")
    p.add_argument("model")
    p.add_argument("--input-size", type=int, default=None, help="default: the paper's")
    p.add_argument("--num-classes", type=int, default=None)
    p.add_argument("--depth", type=int, default=2, help="module nesting depth shown (default 2)")
    p.set_defaults(fn=_cmd_summary)

    p = sub.add_parser("verify", help="params and mult-adds against the papers' figures")
    p.add_argument("pattern", nargs="?", default="*", help="glob, e.g. 'resnet*'")
    p.set_defaults(fn=_cmd_verify)
