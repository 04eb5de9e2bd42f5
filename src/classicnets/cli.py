"""`classicnets <command>`: argument parsing and dispatch only."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from . import __version__
from .errors import ClassicNetsError


def _cmd_list(args: argparse.Namespace) -> int:
    from .models.registry import list_models, model_info
    from .runtime.table import format_count, format_table

    _register_families()
    names = list_models(args.pattern)
    if not names:
        print(f"no registered model matches {args.pattern!r}", file=sys.stderr)
        return 1
    rows = []
    for n in names:
        info = model_info(n)
        params, macs = _static_figures(n)
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


def _register_families() -> None:
    """Import the model families (their import registers them in the registry)."""
    from . import models  # noqa: F401


def _static_figures(name: str) -> tuple[int, int]:
    """(params, mult-adds) from the table generated for this release (static_figures.py);
    counted now for a model registered after it (a plug-in, or a new family)."""
    from .tools.static_figures import FIGURES

    if name in FIGURES:
        return FIGURES[name]
    from .tools.summary import summarize

    profile = summarize(name)
    return profile.inference_params, profile.macs


def _cmd_info(args: argparse.Namespace) -> int:
    from .models.registry import model_info

    _register_families()
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
    from .weights import default_weights, weights_for

    specs = weights_for(arch)
    default = default_weights(arch)
    if not specs:
        print("weights: none registered (`classicnets weights` lists those that are)")
    for spec in specs:
        acc = f", top-1 {spec.accuracy.top1:.2f}%" if spec.accuracy else ""
        mark = " (default: pretrained=True)" if spec is default else ""
        print(f"weights: {spec.name}{mark} ({spec.origin}, {spec.source.split(' (')[0]}{acc})")


def _cmd_summary(args: argparse.Namespace) -> int:
    from .tools.summary import render, summarize

    profile = summarize(args.model, input_size=args.input_size, num_classes=args.num_classes)
    print(render(profile, depth=args.depth))
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .models.registry import list_models
    from .tools.verify import render_results, verify_model

    _register_families()
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


# -- weights: `weights`, `convert` (logic in weights/commands.py) ------------------------------


def _cmd_weights(args: argparse.Namespace) -> int:
    from .weights.commands import weights_table

    table = weights_table(args.pattern)
    print(table or f"no registered weights match {args.pattern!r}")
    return 0 if table else 1


def _cmd_convert(args: argparse.Namespace) -> int:
    from .weights.commands import convert

    print(
        convert(
            args.src,
            args.arch,
            args.out,
            layout=args.from_,
            to=args.to,
            num_classes=args.num_classes,
            check_arch=not args.any_arch,
        )
    )
    return 0


def _add_weights_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("weights", help="registered pretrained weights with their provenance")
    p.add_argument("pattern", nargs="?", default="*", help="glob, e.g. 'resnet50*'")
    p.set_defaults(fn=_cmd_weights)
    p = sub.add_parser("convert", help="a torchvision/timm/our checkpoint -> our safetensors")
    p.add_argument("src", help="a .pth/.pt/.bin/.safetensors file or a registered weight name")
    p.add_argument("--arch", required=True, help="our registered model, e.g. resnet50_v1_5")
    layouts = ["auto", "classicnets", "torchvision", "timm"]
    p.add_argument("--from", dest="from_", choices=layouts, default="auto")
    p.add_argument("--to", choices=layouts[1:], default="classicnets", help="key layout written")
    p.add_argument("--num-classes", type=int, default=None, help="if not the model's default")
    p.add_argument("--any-arch", action="store_true", help="load into another variant anyway")
    p.add_argument("--out", required=True, help="FILE.safetensors")
    p.set_defaults(fn=_cmd_convert)


# -- train / eval / predict (logic in train.py, evaluate.py, predict.py) -------------------------

_TRAIN_FLAGS = {  # flag -> config field; every other field via --set KEY=VALUE
    "model": str,
    "dataset": str,
    "data_dir": str,
    "epochs": int,
    "steps": int,
    "batch_size": int,
    "lr": float,
    "run_dir": str,
    "precision": str,
    "device": str,
    "workers": int,
    "seed": int,
    "threads": int,
    "input_size": int,
    "pretrained": str,
    "freeze": str,
    "head_lr_scale": float,
    "layer_decay": float,
    "norm_weight_decay": float,
}


def train_config_from_args(args: argparse.Namespace) -> tuple[object, str | None]:
    """The TrainConfig and the resume path that `classicnets train` arguments describe."""
    from .runtime.checkpoint_io import load
    from .training.config import parse_overrides, resolve

    overrides = parse_overrides(args.set)
    overrides.update({k: getattr(args, k) for k in _TRAIN_FLAGS if getattr(args, k) is not None})
    for flag in ("quiet", "strict", "channels_last", "compile", "freeze_bn"):
        if getattr(args, flag):
            overrides[flag] = True
    saved = None
    resume = args.resume
    if resume == "":  # a bare --resume continues --run-dir
        if not args.run_dir:
            raise ClassicNetsError("--resume without a path needs --run-dir")
        resume = args.run_dir
    if resume is None and args.run_dir and (Path(args.run_dir) / "last.pt").is_file():
        resume = args.run_dir  # re-running into the same run directory continues it
    if resume is not None:
        saved = load(resume)["config"]
    cfg = resolve(args.recipe, overrides, saved=saved)
    if cfg.pretrained and args.model is None and saved is None:
        from dataclasses import replace

        from .training.pretrained import inspect_source

        arch = inspect_source(cfg.pretrained, cfg.model).architecture
        cfg = replace(cfg, model=arch or cfg.model)  # the weights name the architecture
    return cfg, resume


def _cmd_train(args: argparse.Namespace) -> int:
    import signal

    from .training.config import describe_settings, list_recipes, recipe_path
    from .training.loop import train

    if args.list_settings:
        print(describe_settings())
        return 0
    if args.list_recipes:
        for name in list_recipes():
            print(f"{name:24s} {_recipe_description(recipe_path(name))}")
        return 0

    cfg, resume = train_config_from_args(args)
    result = train(cfg, resume=resume)
    if result.status == "interrupted":
        return 128 + (result.signal or signal.SIGINT)
    return 0


def _recipe_description(path: Path) -> str:
    from .training.config import load_recipe

    return load_recipe(str(path)).description


def _load_for_inference(args: argparse.Namespace) -> Any:
    return _load_trained(args.checkpoint, args.model, args.weights)


def _load_trained(checkpoint: str | None, model: str | None, weights: str | None) -> Any:
    """The model a run, file or registered name gives, the file used named on stderr."""
    from .evaluation.evaluate import load_trained

    lm = load_trained(checkpoint, model_name=model, weights=weights)
    if lm.source is not None:
        print(f"weights: {lm.source} ({lm.name})", file=sys.stderr)
    return lm


def _check_device(name: str) -> None:
    """A CUDA device on a machine without one: one line saying what to do, not a traceback."""
    if not name.startswith("cuda"):
        return
    import torch

    if not torch.cuda.is_available():
        raise ClassicNetsError(
            f"--device {name}: no CUDA GPU is available here (torch.cuda.is_available() is "
            "False); use --device cpu (or auto)"
        )
    index = int(name.partition(":")[2] or 0)
    if index >= torch.cuda.device_count():
        raise ClassicNetsError(
            f"--device {name}: this machine has {torch.cuda.device_count()} CUDA device(s), "
            f"cuda:0 to cuda:{torch.cuda.device_count() - 1}"
        )


def _retain_memory() -> None:
    """eval / predict own their process: keep freed memory (allocator.retain_freed_memory), so
    each batch reuses the previous batch's pages instead of page-faulting them in again."""
    from .runtime.allocator import retain_freed_memory

    retain_freed_memory()


def _cmd_eval(args: argparse.Namespace) -> int:
    _check_device(args.device)
    _retain_memory()
    import json

    from .evaluation.evaluate import render_report, run_eval

    report = run_eval(
        _load_for_inference(args),
        dataset=args.dataset,
        data_dir=args.data_dir,
        protocol=args.protocol,
        batch_size=args.batch_size,
        limit=args.limit,
        precision=args.precision,
        device_name=args.device,
        out_dir=args.out,
        quiet=args.quiet or args.json,
    )
    print(json.dumps(report, indent=2) if args.json else render_report(report))
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    _check_device(args.device)
    _retain_memory()
    from .evaluation.predict import predict, render

    results = predict(_load_for_inference(args), args.images, top_k=args.top_k, device=args.device)
    print(render(results, args.json))
    return 0


def _add_model_source(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--checkpoint",
        "-c",
        help="a run directory (its model.safetensors, else best.pt, else last.pt) or any weight "
        "file it holds",
    )
    p.add_argument("--model", help="a registered model, for a file that does not name its model")
    p.add_argument(
        "--weights",
        help="a weight file (a run's model.safetensors, a save_weights/convert file; a "
        "torchvision/timm file with --model), or registered weights such as "
        "resnet50_v1_5.tv_in1k (`classicnets weights` lists them)",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


class _Precisions:
    """``--precision``'s choices, read from runtime.device (which imports torch) only when a
    value is checked or the help lists them: building the parser stays free of torch.
    ``quantized``: the int8 inference path too (bench)."""

    def __init__(self, quantized: bool = False) -> None:
        self.quantized = quantized

    def _names(self) -> tuple[str, ...]:
        from .runtime.device import PRECISIONS, QUANTIZED_PRECISIONS

        return (*PRECISIONS, *(QUANTIZED_PRECISIONS if self.quantized else ()))

    def __contains__(self, value: object) -> bool:
        return value in self._names()

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __str__(self) -> str:
        return ", ".join(self._names())


def _add_precision(p: argparse.ArgumentParser, help: str, *, quantized: bool = False) -> None:
    p.add_argument(
        "--precision",
        default="fp32",
        choices=_Precisions(quantized),
        metavar="PRECISION",  # not derived from the choices: that would import torch
        help=f"{help}: %(choices)s (default %(default)s)",
    )


class _DtypeAlias(argparse.Action):
    """``--dtype``, bench's earlier name for ``--precision``: still accepted, with a note."""

    def __call__(
        self, parser: argparse.ArgumentParser, ns: argparse.Namespace, value: object, opt: object
    ) -> None:
        from .runtime.device import parse_precision

        try:
            parse_precision(str(value))
        except ValueError as e:
            parser.error(str(e))
        print("note: --dtype is now --precision (same values)", file=sys.stderr)
        setattr(ns, self.dest, value)


def _add_train_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train a model with a recipe (default: resnet20 on the embedded digits)",
        description="Train with a recipe bundled with the package (or a .toml path), "
        "overridden by flags and --set KEY=VALUE (any config field). Re-running into an existing "
        "--run-dir, or --resume, continues exactly where the run stopped.",
    )
    from .training.settings_help import HELP

    p.add_argument("--recipe", "-r", default=None, help="recipe name or .toml (default: digits)")
    for name, typ in _TRAIN_FLAGS.items():
        flag = "--" + name.replace("_", "-")
        p.add_argument(flag, type=typ, default=None, dest=name, help=HELP[name])
    p.add_argument(
        "--set",
        "-s",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any setting (repeatable), e.g. --set lr=0.05; --list-settings lists them",
    )
    p.add_argument(
        "--resume",
        nargs="?",
        const="",
        default=None,
        metavar="RUN_DIR|CKPT",
        help="continue a run (its config is reused; flags override it)",
    )
    p.add_argument("--quiet", "-q", action="store_true", help=HELP["quiet"])
    p.add_argument("--strict", action="store_true", help=HELP["strict"])
    p.add_argument(
        "--channels-last", action="store_true", dest="channels_last", help=HELP["channels_last"]
    )
    p.add_argument("--compile", action="store_true", help=HELP["compile"])
    p.add_argument("--freeze-bn", action="store_true", dest="freeze_bn", help=HELP["freeze_bn"])
    p.add_argument(
        "--list-settings", action="store_true", help="every setting: type, default and help"
    )
    p.add_argument("--list-recipes", action="store_true", help="the bundled recipes")
    p.set_defaults(fn=_cmd_train)

    p = sub.add_parser("eval", help="top-1/top-5, per-class accuracy, confusion matrix")
    _add_model_source(p)
    p.add_argument("--dataset", default=None, help="default: the one the model was trained on")
    p.add_argument("--data-dir", default=None)
    protocols = ["center", "ten_crop", "googlenet_144", "vgg_dense", "resnet_fcn"]
    p.add_argument("--protocol", default="center", choices=protocols)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--limit", type=int, default=None, help="only the first N test images")
    _add_precision(p, "autocast precision")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto")
    p.add_argument("--out", default=None, help="folder for eval_<protocol>.json and a PNG")
    p.add_argument("--quiet", "-q", action="store_true")
    p.set_defaults(fn=_cmd_eval)

    p = sub.add_parser("predict", help="top-k classes of images, as a table or JSON")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    _add_model_source(p)
    p.add_argument("--top-k", "-k", type=int, default=5)
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
    p.set_defaults(fn=_cmd_predict)


# -- bench and export (logic in bench.py / export.py) ---------------------------------------------


def _cmd_bench(args: argparse.Namespace) -> int:
    from .tools.bench import BenchConfig, format_results, run_bench

    fields = (
        "model",
        "mode",
        "batch_size",
        "input_size",
        "precision",
        "channels_last",
        "compile",
        "deploy",
        "device",
        "grad_checkpointing",
        "retain_memory",
        "warmup",
        "repeats",
        "compare",
    )
    _check_device(args.device)
    cfg = BenchConfig(**{k: getattr(args, k) for k in fields})
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    print(format_results(cfg, run_bench(cfg)))
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from .deployment.export import FORMATS, export_model

    model, name, input_size, in_chans, metadata = _model_to_export(args)
    if args.deploy:
        from .deployment.convert import deploy

        model = deploy(model, channels_last=False, fuse=False)
    out = args.output or f"{name}{FORMATS[args.format]}"
    check = export_model(
        model,
        out,
        fmt=args.format,
        input_size=args.input_size or input_size,
        in_chans=in_chans,
        dynamic_batch=args.fixed_batch is None,
        batch_size=args.fixed_batch or 2,
        metadata=metadata,
    )
    batch = "fixed batch" if args.fixed_batch else "dynamic batch"
    sizes = " and ".join(map(str, check.checked_batches))
    print(
        f"wrote {check.path} ({args.format}, {batch}); checked against eager at batch "
        f"{sizes}: {check.describe()}"
    )
    return 0


def _model_to_export(args: argparse.Namespace) -> tuple[Any, str, int, int, Any]:
    """The model, its name, input size, channels and the metadata to record: built as the
    checkpoint records it (any file we wrote, or a run directory), else the registered model."""
    from .weights import WeightsMetadata

    if args.checkpoint:
        if args.num_classes is not None or args.in_chans is not None:
            raise ClassicNetsError(
                "--num-classes and --in-chans are for a MODEL without -c; a checkpoint's are "
                "what it records"
            )
        lm = _load_trained(args.checkpoint, args.model, None)
        metadata = WeightsMetadata(
            architecture=lm.name, num_classes=len(lm.classes), in_chans=lm.in_chans,
            classes=lm.classes, preprocessing=lm.preprocessing, source=str(lm.source),
        )  # fmt: skip
        return lm.model, lm.name, lm.input_size, lm.in_chans, metadata
    if not args.model:
        raise ClassicNetsError("give a MODEL to export, or --checkpoint (a run or a weight file)")
    from .factory import create_model
    from .weights.data_config import default_preprocessing

    model = create_model(args.model, num_classes=args.num_classes, in_chans=args.in_chans)
    pre = default_preprocessing(args.model)
    metadata = WeightsMetadata(
        architecture=args.model, num_classes=model.num_classes, in_chans=model.in_chans,
        preprocessing=pre if model.in_chans == pre.in_chans else None,
    )  # fmt: skip
    return model, args.model, pre.input_size, model.in_chans, metadata


def _add_bench_export(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="images/s, latency, memory; --compare torchvision|timm")
    p.add_argument("model")
    p.add_argument("--mode", choices=("infer", "train"), default="infer")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--input-size", type=int, default=None, help="default: the paper's")
    _add_precision(
        p,
        "bf16/fp16: autocast, or weights in that precision with --deploy; int8: the quantized "
        "model (calibrated on the benchmark batch; --compare torchvision: its quantized model)",
        quantized=True,
    )
    p.add_argument("--dtype", action=_DtypeAlias, dest="precision", help=argparse.SUPPRESS)
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--compile", action="store_true", help="torch.compile (ours only)")
    p.add_argument(
        "--deploy", action="store_true", help="classicnets.deployment.convert (ours only)"
    )
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--grad-checkpointing", action="store_true", help="with --mode train")
    p.add_argument(
        "--retain-memory",
        action="store_true",
        help="keep freed memory in the process (no page faults per step; both sides): "
        "classicnets.runtime.allocator.retain_freed_memory",
    )
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
    p.add_argument("model", nargs="?", help="a registered model (optional with --checkpoint)")
    p.add_argument("--format", choices=("onnx", "torchscript", "exported-program"), required=True)
    p.add_argument(
        "--checkpoint",
        "-c",
        default=None,
        help="a run directory or any weight file we wrote (the model, classes, channels and "
        "input size it records), or a torchvision/timm state dict with MODEL",
    )
    p.add_argument("--output", "-o", default=None, help="default: MODEL.onnx|.ts|.pt2")
    p.add_argument(
        "--input-size", type=int, default=None, help="default: the checkpoint's, else the paper's"
    )
    p.add_argument(
        "--fixed-batch",
        type=int,
        default=None,
        metavar="N",
        help="fix the batch dimension at N (default: any batch size, checked at 1 and 3)",
    )
    p.add_argument("--dynamic-batch", action="store_true", help=argparse.SUPPRESS)  # the default
    p.add_argument("--num-classes", type=int, default=None, help="without -c: the classifier's")
    p.add_argument("--in-chans", type=int, default=None, help="without -c: input channels")
    p.add_argument("--deploy", action="store_true", help="export the BN-folded inference form")
    p.set_defaults(fn=_cmd_export)


# -- int8 (logic in quantize.py) -------------------------------------------------------------------


def _cmd_quantize(args: argparse.Namespace) -> int:
    from .deployment.int8.quantize import (
        calibration_batches,
        export_quantized_onnx,
        quantize_checked,
        save_quantized,
    )

    lm = _load_trained(args.checkpoint, args.model, args.weights)
    source: Any = args.calibrate
    if source is None:
        if lm.config.get("dataset") is None:
            raise ClassicNetsError(
                "these weights record no training data to calibrate on; give --calibrate FOLDER "
                "(images in class sub-folders, prepared as the model's preprocessing says)"
            )
        from .data.datasets import open_split

        source = open_split(
            lm.config["dataset"], "train", lm.config.get("data_dir"), in_chans=lm.model.in_chans
        )
    batches = calibration_batches(source, lm.preprocessing, num_images=args.images)
    outcome = quantize_checked(lm.model, batches)
    out = save_quantized(outcome.model, args.out)
    images = sum(b.shape[0] for b in batches)
    print(
        f"wrote {out} (int8: {outcome.convolutions} int8 convolution calls; calibrated on {images} "
        f"images); against the float model on those images: top-1 agreement "
        f"{outcome.top1_agreement:.1%}, relative logit error {outcome.relative_error:.3f}"
    )
    if args.onnx:
        print(f"wrote {export_quantized_onnx(outcome.model, args.onnx)} (ONNX, Q/DQ nodes)")
    return 0


def _add_quantize(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "quantize",
        help="int8 post-training quantization (calibrated), saved to load without recalibrating",
        description="Static int8 post-training quantization (docs/int8.md): batch norm folded, "
        "int8 per-channel weights, activations calibrated on --images images prepared with the "
        "model's own preprocessing (from --calibrate, else the run's training split), compiled "
        "to oneDNN's int8 kernels. The file loads with "
        "classicnets.deployment.int8.quantize.load_quantized.",
    )
    p.add_argument("model", nargs="?", help="a registered model (with --weights FILE)")
    p.add_argument("--checkpoint", "-c", help="a run directory or any weight file we wrote")
    p.add_argument("--weights", help="a weight file, or registered weights (ARCH.TAG)")
    p.add_argument("--calibrate", help="an image folder to calibrate on (default: the run's data)")
    p.add_argument("--images", type=int, default=256, help="calibration images (default 256)")
    p.add_argument("--out", "-o", required=True, help="the int8 program (.pt2)")
    p.add_argument("--onnx", help="also write ONNX with QuantizeLinear/DequantizeLinear nodes")
    p.set_defaults(fn=_cmd_quantize)


# -- explain and report (logic in explain.py / report.py) ----------------------------------------


def _cmd_explain(args: argparse.Namespace) -> int:
    from .evaluation.explain import explain_files
    from .evaluation.report import load_source

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
    from .evaluation.report import write_report

    print(write_report(args.run_dir, out=args.out, wrong=args.wrong, limit=args.limit))
    return 0


def _add_explain_report(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
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
    p.add_argument("--out", required=True, help="folder for the PNGs and montage.png")
    p.set_defaults(fn=_cmd_explain)

    p = sub.add_parser("report", help="one self-contained HTML page about a training run")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--out", default=None, help="default: RUN_DIR/report.html")
    p.add_argument("--wrong", type=int, default=8, help="confidently wrong images shown")
    p.add_argument("--limit", type=int, default=None, help="only the first N test images")
    p.set_defaults(fn=_cmd_report)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="classicnets",
        description="The classic CNNs of 2014-2017, faithful to their papers.",
    )
    parser.add_argument("--version", action="version", version=f"classicnets {__version__}")
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

    _add_weights_commands(sub)
    _add_train_commands(sub)
    _add_bench_export(sub)
    _add_explain_report(sub)
    _add_quantize(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.fn(args))
    except ClassicNetsError as e:
        print(f"classicnets: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
