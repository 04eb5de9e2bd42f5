"""``classicnets weights`` and ``convert`` (their logic: :mod:`classicnets.weights.commands`)."""

from __future__ import annotations

import argparse

from .common import SubParsers


def _cmd_weights(args: argparse.Namespace) -> int:
    from ..weights.commands import weights_table

    table = weights_table(args.pattern)
    print(table or f"no registered weights match {args.pattern!r}")
    return 0 if table else 1


def _cmd_convert(args: argparse.Namespace) -> int:
    from ..weights.commands import convert

    options = {"layout": args.from_, "to": args.to, "num_classes": args.num_classes}
    print(convert(args.src, args.arch, args.out, check_arch=not args.any_arch, **options))
    return 0


def add_commands(sub: SubParsers) -> None:
    """``weights`` and ``convert``."""
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
