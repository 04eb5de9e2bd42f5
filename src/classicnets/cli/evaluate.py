"""``classicnets eval``, ``predict``, ``explain`` and ``report`` (their logic:
:mod:`classicnets.evaluation`)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..evaluation import PROTOCOLS
from .common import (
    SubParsers,
    add_model_source,
    add_precision,
    check_device,
    load_model,
    retain_memory,
)

#: eval's flags that are run_eval's arguments of the same name
_EVAL_FLAGS = ("dataset", "data_dir", "protocol", "batch_size", "limit", "precision")


def _cmd_eval(args: argparse.Namespace) -> int:
    check_device(args.device)
    retain_memory()
    from ..evaluation.loop import render_report, run_eval

    lm = load_model(args.checkpoint, args.model, args.weights)
    given = {k: getattr(args, k) for k in _EVAL_FLAGS}
    quiet = args.quiet or args.json
    report = run_eval(lm, **given, device_name=args.device, out_dir=args.out, quiet=quiet)
    print(json.dumps(report, indent=2) if args.json else render_report(report))
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    check_device(args.device)
    retain_memory()
    from ..data import BadImageError
    from ..evaluation.predict import image_files, predict, render

    images = image_files(args.images)  # a folder: its images at any depth
    lm = load_model(args.checkpoint, args.model, args.weights)

    def skipped(path: Path, reason: str) -> None:
        print(f"skipped {path}: {reason}", file=sys.stderr)

    one = len(images) == 1  # a single image that fails is the error itself
    on_skip = None if one else skipped
    results = predict(lm, images, top_k=args.top_k, device=args.device, on_skip=on_skip)
    if not results:
        raise BadImageError(f"none of the {len(images)} images could be classified (see above)")
    print(render(results, args.json))
    return 0


def add_eval_predict(sub: SubParsers) -> None:
    """``eval`` and ``predict``."""
    p = sub.add_parser("eval", help="top-1/top-5, per-class accuracy, confusion matrix")
    add_model_source(p)
    p.add_argument("--dataset", default=None, help="default: the one the model was trained on")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--protocol", default="center", choices=PROTOCOLS)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--limit", type=int, default=None, help="only the first N test images")
    add_precision(p, "autocast precision")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto")
    p.add_argument("--out", default=None, help="folder for eval_<protocol>.json and a PNG")
    p.add_argument("--quiet", "-q", action="store_true")
    p.set_defaults(fn=_cmd_eval)

    p = sub.add_parser("predict", help="top-k classes of images, as a table or JSON")
    p.add_argument(
        "images",
        nargs="+",
        metavar="IMAGE",
        help="image files, or folders (their images at any depth); an unreadable image is "
        "skipped with a line",
    )
    add_model_source(p)
    p.add_argument("--top-k", "-k", type=int, default=5)
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
    p.set_defaults(fn=_cmd_predict)


def _cmd_explain(args: argparse.Namespace) -> int:
    from ..evaluation.explain import explain_files
    from ..evaluation.loading import load_source

    src = load_source(args.checkpoint, model_name=args.model, weights=args.weights)
    written = explain_files(
        src,
        args.images,
        args.out,
        method=args.method,
        target=args.class_,
        top_k=args.top_k,
        stage=args.stage,
        native_size=args.native_size,
    )
    print("\n".join(str(p) for p in written))
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from ..evaluation.report import write_report

    print(write_report(args.run_dir, out=args.out, wrong=args.wrong, limit=args.limit))
    return 0


def add_explain_report(sub: SubParsers) -> None:
    """``explain`` and ``report``."""
    p = sub.add_parser("explain", help="class activation maps (Grad-CAM, ...) overlaid on images")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--checkpoint", "-c", help="a run directory or a .pt checkpoint")
    p.add_argument("--model", help="a registered model name (with --weights FILE)")
    p.add_argument("--weights", help="a .safetensors file, or registered weights (ARCH.TAG)")
    p.add_argument(
        "--method", default="gradcam", help="gradcam (default), gradcam++, scorecam, eigencam"
    )
    which = p.add_mutually_exclusive_group()
    which.add_argument("--class", type=int, dest="class_", default=None, help="class index")
    which.add_argument("--top-k", "-k", type=int, default=1, help="maps of the top-k classes")
    p.add_argument("--stage", type=int, default=None, help="stage index (default: the last)")
    p.add_argument("--native-size", action="store_true", help="no resize: the image as it is")
    p.add_argument(
        "--out",
        required=True,
        help="folder for montage.png and a PNG per image and class, named after the image "
        "(with its folders below the common one where file names repeat)",
    )
    p.set_defaults(fn=_cmd_explain)

    p = sub.add_parser("report", help="one self-contained HTML page about a training run")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--out", default=None, help="default: RUN_DIR/report.html")
    p.add_argument("--wrong", type=int, default=8, help="confidently wrong images shown")
    p.add_argument("--limit", type=int, default=None, help="only the first N test images")
    p.set_defaults(fn=_cmd_report)
