"""`classicnets <command>`: argument parsing and dispatch only."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .errors import ClassicNetsError


def _cmd_list(args: argparse.Namespace) -> int:
    from .registry import list_models, model_info
    from .summary import format_count, summarize
    from .table import format_table

    names = list_models(args.pattern)
    if not names:
        print(f"no registered model matches {args.pattern!r}", file=sys.stderr)
        return 1
    rows = []
    for n in names:
        info = model_info(n)
        p = summarize(n)
        rows.append(
            [
                n,
                info.family,
                str(info.input_size),
                format_count(p.params),
                format_count(p.macs),
                info.summary,
            ]
        )
    header = ["model", "family", "input", "params", "mult-adds", "summary"]
    print(format_table(header, rows, right={2, 3, 4}))
    print(f"\n{len(names)} models; mult-adds for one image at the input size shown.")
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    from .registry import model_info

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
    if fig.ref_gmacs is not None:
        print(f"reference mult-adds: {fig.ref_gmacs:.3f}G")
    for e in fig.errors:
        print(f"reported: {e.describe()}")
    if fig.notes:
        print(f"notes: {fig.notes}")
    if fig.accepted_deviation:
        print(f"accepted deviation: {fig.accepted_deviation}")
    opts = ", ".join(f"{k}={p.default!r}" for k, p in info.options().items())
    print(f"options: {opts}")
    return 0


def _cmd_summary(args: argparse.Namespace) -> int:
    from .summary import render, summarize

    profile = summarize(args.model, input_size=args.input_size, num_classes=args.num_classes)
    print(render(profile, depth=args.depth))
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    from .verify import render_results, verify_models

    results = verify_models(args.pattern)
    if not results:
        print(f"no registered model matches {args.pattern!r}", file=sys.stderr)
        return 1
    print(render_results(results))
    return 0 if all(r.passed for r in results) else 1


# -- bench and export (logic in bench.py / export.py) ---------------------------------------------


def _cmd_bench(args: argparse.Namespace) -> int:
    from .bench import BenchConfig, format_results, run_bench

    fields = (
        "model",
        "mode",
        "batch_size",
        "input_size",
        "dtype",
        "channels_last",
        "compile",
        "deploy",
        "device",
        "grad_checkpointing",
        "warmup",
        "repeats",
        "compare",
    )
    cfg = BenchConfig(**{k: getattr(args, k) for k in fields})
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    print(format_results(cfg, run_bench(cfg)))
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from .export import FORMATS, export_model, load_checkpoint
    from .registry import create_model, model_info

    model = create_model(args.model)
    if args.checkpoint:
        load_checkpoint(model, args.checkpoint)
    if args.deploy:
        from .deploy import deploy

        model = deploy(model, channels_last=False)
    out = args.output or f"{args.model}{FORMATS[args.format]}"
    size = args.input_size or model_info(args.model).input_size
    check = export_model(
        model, out, fmt=args.format, input_size=size, dynamic_batch=args.dynamic_batch
    )
    print(
        f"wrote {check.path} ({args.format}); checked against eager at batch "
        f"{check.checked_batch}: max relative error {check.max_rel_error:.1e}"
    )
    return 0


def _add_bench_export(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="images/s, latency, memory; --compare torchvision|timm")
    p.add_argument("model")
    p.add_argument("--mode", choices=("infer", "train"), default="infer")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--input-size", type=int, default=None, help="default: the paper's")
    p.add_argument(
        "--dtype",
        choices=("fp32", "bf16", "fp16"),
        default="fp32",
        help="bf16/fp16: autocast, or weights in that dtype with --deploy",
    )
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--compile", action="store_true", help="torch.compile (ours only)")
    p.add_argument("--deploy", action="store_true", help="classicnets.deploy (ours only)")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--grad-checkpointing", action="store_true", help="with --mode train")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--repeats", type=int, default=10, help="timed rounds (default 10)")
    p.add_argument(
        "--compare",
        choices=("torchvision", "timm"),
        default=None,
        help="run the same architecture and weights from that library alternately",
    )
    p.set_defaults(fn=_cmd_bench)

    p = sub.add_parser("export", help="ONNX / TorchScript / torch.export, checked against eager")
    p.add_argument("model")
    p.add_argument("--format", choices=("onnx", "torchscript", "exported-program"), required=True)
    p.add_argument("--checkpoint", default=None, help="state dict (.safetensors or torch file)")
    p.add_argument("--output", "-o", default=None, help="default: MODEL.onnx|.ts|.pt2")
    p.add_argument("--input-size", type=int, default=None, help="example size (default: paper)")
    p.add_argument("--dynamic-batch", action="store_true")
    p.add_argument("--deploy", action="store_true", help="export the BN-folded inference form")
    p.set_defaults(fn=_cmd_export)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="classicnets",
        description="The classic CNNs of 2014-2017, faithful to their papers.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

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

    _add_bench_export(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.fn(args))
    except (ClassicNetsError, ValueError) as e:
        print(f"classicnets: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
