"""``classicnets bench``, ``export`` and ``quantize`` (their logic: :mod:`classicnets.tools.bench`
and :mod:`classicnets.deployment`; the model exported or quantized:
:mod:`classicnets.evaluation.loading`)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .common import SubParsers, add_precision, announce_weights, check_device, load_model


def _cmd_bench(args: argparse.Namespace) -> int:
    from dataclasses import fields

    from ..tools.bench.format import format_results
    from ..tools.bench.harness import run_bench
    from ..tools.bench.steps import BenchConfig

    check_device(args.device)
    given = {f.name: getattr(args, f.name) for f in fields(BenchConfig) if hasattr(args, f.name)}
    cfg = BenchConfig(**given)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    print(format_results(cfg, run_bench(cfg)))
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from ..deployment.export import FORMATS, describe_onnx_files, export_model
    from ..evaluation.loading import model_to_export

    chosen = model_to_export(
        args.checkpoint, args.model, num_classes=args.num_classes, in_chans=args.in_chans
    )
    announce_weights(chosen.source, chosen.name)
    model = chosen.model
    if args.deploy:
        from ..deployment.convert import deploy

        model = deploy(model, channels_last=False, fuse=False)
    if args.format == "openvino":
        return _export_openvino(args, model, chosen)
    out = args.output or f"{chosen.name}{FORMATS[args.format]}"
    check = export_model(
        model,
        out,
        fmt=args.format,
        input_size=args.input_size or chosen.input_size,
        in_chans=chosen.in_chans,
        dynamic_batch=args.fixed_batch is None,
        batch_size=args.fixed_batch or 2,
        metadata=chosen.metadata,
    )
    batch = "fixed batch" if args.fixed_batch else "dynamic batch"
    files = describe_onnx_files(check.path) if args.format == "onnx" else check.path
    sizes = " and ".join(map(str, check.checked_batches))
    print(
        f"wrote {files} ({args.format}, {batch}); checked against eager at batch "
        f"{sizes}: {check.describe()}"
    )
    return 0


def _export_openvino(args: argparse.Namespace, model: Any, chosen: Any) -> int:
    """``export --format openvino``: the IR, checked against eager in OpenVINO."""
    from ..deployment.backends import deploy_backend
    from ..errors import ClassicNetsError

    if args.fixed_batch is not None:
        raise ClassicNetsError("--fixed-batch: the OpenVINO IR is written with a dynamic batch")
    deployed = deploy_backend(
        model, "openvino", input_size=args.input_size or chosen.input_size,
        metadata=chosen.metadata,
    )  # fmt: skip
    path = deployed.save(args.output or f"{chosen.name}.xml")
    check = deployed.check  # type: ignore[attr-defined]
    sizes = " and ".join(map(str, check.checked_batches))
    print(
        f"wrote {path} and {path.with_suffix('.bin').name} (openvino IR, dynamic batch, fp32); "
        f"checked against eager in OpenVINO at batch {sizes}: {check.describe()}"
    )
    return 0


class _DtypeAlias(argparse.Action):
    """``--dtype``, bench's earlier name for ``--precision``: still accepted, with a note."""

    def __call__(
        self, parser: argparse.ArgumentParser, ns: argparse.Namespace, value: object, opt: object
    ) -> None:
        from ..runtime.device import parse_precision

        try:
            parse_precision(str(value))
        except ValueError as e:
            parser.error(str(e))
        print("note: --dtype is now --precision (same values)", file=sys.stderr)
        setattr(ns, self.dest, value)


def add_bench_export(sub: SubParsers) -> None:
    """``bench`` and ``export``."""
    _add_bench(sub)
    _add_export(sub)


def _add_bench(sub: SubParsers) -> None:
    p = sub.add_parser("bench", help="images/s, latency, memory; --compare torchvision|timm")
    p.add_argument("model")
    p.add_argument("--mode", choices=("infer", "train"), default="infer")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--input-size", type=int, default=None, help="default: the paper's")
    add_precision(
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
    p.add_argument(
        "--backend",
        choices=("torch", "openvino", "onnxruntime"),
        default="torch",
        help="the runtime of ours (docs/deploy.md); --precision int8 calibrates on the batch",
    )
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--repeats", type=int, default=10, help="timed rounds (default 10)")
    p.add_argument(
        "--compare",
        choices=("torchvision", "timm", "torchvision-backend"),
        default=None,
        help="run the same architecture and weights from that library alternately; "
        "torchvision-backend (with --backend): torchvision's model through the same backend, "
        "converted and quantized by its own tools as a user would by hand",
    )
    p.set_defaults(fn=_cmd_bench)


def _add_export(sub: SubParsers) -> None:
    p = sub.add_parser("export", help="ONNX / TorchScript / torch.export, checked against eager")
    p.add_argument("model", nargs="?", help="a registered model (optional with --checkpoint)")
    p.add_argument(
        "--format",
        choices=("onnx", "torchscript", "exported-program", "openvino"),
        required=True,
        help="openvino: IR (.xml + .bin, needs classicnets[openvino])",
    )
    p.add_argument(
        "--checkpoint",
        "-c",
        default=None,
        help="a run directory or any weight file we wrote (the model, classes, channels and "
        "input size it records), or a torchvision/timm state dict with MODEL",
    )
    p.add_argument("--output", "-o", default=None, help="default: MODEL.onnx|.ts|.pt2|.xml")
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


def _cmd_quantize(args: argparse.Namespace) -> int:
    from ..deployment.export import describe_onnx_files
    from ..deployment.int8.accuracy import quantize_checked
    from ..deployment.int8.calibrate import calibration_batches
    from ..deployment.int8.run import export_quantized_onnx, save_quantized
    from ..evaluation.loading import calibration_data

    if args.backend != "torch" and args.onnx:
        from ..errors import ClassicNetsError

        raise ClassicNetsError(
            "--onnx is the torch backend's ONNX copy; --backend onnxruntime writes ONNX itself"
        )
    if args.bias_correction is not None and args.backend != "openvino":
        from ..errors import ClassicNetsError

        raise ClassicNetsError("--bias-correction is an option of --backend openvino (NNCF)")
    lm = load_model(args.checkpoint, args.model, args.weights)
    source = calibration_data(lm, args.calibrate)
    batches = calibration_batches(source, lm.preprocessing, num_images=args.images)
    if args.backend != "torch":
        return _quantize_backend(args, lm, batches)
    outcome = quantize_checked(lm.model, batches)
    classes = lm.classes if lm.named_classes else None
    out = save_quantized(outcome.model, args.out, classes=classes, preprocessing=lm.preprocessing)
    images = sum(b.shape[0] for b in batches)
    print(
        f"wrote {out} (int8: {outcome.convolutions} int8 convolution calls; calibrated on {images} "
        f"images); against the float model on those images: top-1 agreement "
        f"{outcome.top1_agreement:.1%}, relative logit error {outcome.relative_error:.3f}"
    )
    if args.onnx:
        onnx_path = export_quantized_onnx(outcome.model, args.onnx)
        print(f"wrote {describe_onnx_files(onnx_path)} (ONNX, Q/DQ nodes)")
    return 0


def _quantize_backend(args: argparse.Namespace, lm: Any, batches: list[Any]) -> int:
    """``quantize --backend openvino|onnxruntime``: that backend's int8 file, its int8
    operators counted and its logits compared with the float model's on the calibration images
    before anything is written."""
    import torch

    from ..deployment.backends import BACKEND_FILES, BackendError, deploy_backend
    from ..deployment.int8.accuracy import compare_logits
    from ..weights import WeightsMetadata

    suffix = BACKEND_FILES[args.backend]
    if not args.out.endswith(suffix):
        raise BackendError(f"--backend {args.backend} writes {suffix} files; name --out so")
    metadata = WeightsMetadata(
        architecture=lm.name, num_classes=len(lm.classes), in_chans=lm.in_chans,
        classes=lm.classes if lm.named_classes else (), preprocessing=lm.preprocessing,
    )  # fmt: skip
    deployed = deploy_backend(
        lm.model, args.backend, precision="int8", calibration=batches, metadata=metadata,
        bias_correction=args.bias_correction,
    )  # fmt: skip
    if args.backend == "openvino":
        from ..deployment.backends.openvino import int8_layers

        convolutions = int8_layers(deployed)  # type: ignore[arg-type]
    else:
        from ..deployment.backends.onnxruntime import int8_nodes

        convolutions = int8_nodes(deployed).get("QLinearConv", 0)  # type: ignore[arg-type]
    if not convolutions:
        raise BackendError(
            f"{args.backend} runs no convolution in int8 for this model; nothing was written"
        )
    with torch.no_grad():
        reference = torch.cat([lm.model(b) for b in batches])
        output = torch.cat([deployed(b) for b in batches])
    figures = compare_logits(reference, output)
    path = deployed.save(args.out)
    files = f"{path} and {path.with_suffix('.bin').name}" if suffix == ".xml" else str(path)
    images = sum(b.shape[0] for b in batches)
    print(
        f"wrote {files} (int8 on {args.backend}: {convolutions} int8 convolutions; calibrated on "
        f"{images} images); against the float model on those images: top-1 agreement "
        f"{figures['top1']:.1%}, relative logit error {figures['relerr']:.3f}"
    )
    return 0


def add_quantize(sub: SubParsers) -> None:
    """``quantize``."""
    p = sub.add_parser(
        "quantize",
        help="int8 post-training quantization (calibrated), saved to load without recalibrating",
        description="Static int8 post-training quantization (docs/int8.md): batch norm folded, "
        "int8 per-channel weights, activations calibrated on --images images prepared with the "
        "model's own preprocessing (from --calibrate, else the run's training split), compiled "
        "to oneDNN's int8 kernels. The file loads with "
        "classicnets.deployment.int8.run.load_quantized.",
    )
    p.add_argument("model", nargs="?", help="a registered model (with --weights FILE)")
    p.add_argument("--checkpoint", "-c", help="a run directory or any weight file we wrote")
    p.add_argument("--weights", help="a weight file, or registered weights (ARCH.TAG)")
    p.add_argument("--calibrate", help="an image folder to calibrate on (default: the run's data)")
    p.add_argument("--images", type=int, default=256, help="calibration images (default 256)")
    p.add_argument(
        "--backend",
        choices=("torch", "openvino", "onnxruntime"),
        default="torch",
        help="torch: the compiled PyTorch program (.pt2, the default); openvino: NNCF's "
        "quantization, an IR (.xml + .bin); onnxruntime: its static QDQ quantization (.onnx). "
        "docs/deploy.md",
    )
    p.add_argument(
        "--bias-correction",
        choices=("full", "fast"),
        default=None,
        help="openvino: NNCF's full bias correction (the default, more accurate) or its fast one "
        "(far less memory: the largest DenseNets need it on a 24 GB machine)",
    )
    p.add_argument("--out", "-o", required=True, help="the int8 file: .pt2 (torch), .xml, .onnx")
    p.add_argument("--onnx", help="also write ONNX with QuantizeLinear/DequantizeLinear nodes")
    p.set_defaults(fn=_cmd_quantize)
