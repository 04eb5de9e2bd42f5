"""``classicnets train``: its flags, the configuration they describe, and the run."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

from .common import SubParsers

if TYPE_CHECKING:
    from ..training.config import TrainConfig

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


def train_config_from_args(args: argparse.Namespace) -> tuple[TrainConfig, str | None]:
    """The TrainConfig and the resume path that `classicnets train` arguments describe."""
    from ..training.config import parse_overrides
    from ..training.rundir import resume_source, run_config

    overrides = parse_overrides(args.set)
    overrides.update({k: getattr(args, k) for k in _TRAIN_FLAGS if getattr(args, k) is not None})
    for flag in ("quiet", "strict", "channels_last", "compile", "freeze_bn"):
        if getattr(args, flag):
            overrides[flag] = True
    resume = resume_source(args.resume, args.run_dir)
    cfg = run_config(
        args.recipe, overrides, resume=resume, model_given=args.model is not None, log=_say
    )
    return cfg, resume


def _say(line: str) -> None:
    """A line about the configuration, printed once: under torchrun every process resolves it."""
    if os.environ.get("RANK", "0") == "0":
        print(line, flush=True)


def _cmd_train(args: argparse.Namespace) -> int:
    import signal

    from ..training.config import describe_settings, list_recipes, recipe_path
    from ..training.loop import train

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
    from ..training.config import load_recipe

    return load_recipe(str(path)).description


def add_commands(sub: SubParsers) -> None:
    """``train``."""
    p = sub.add_parser(
        "train",
        help="train a model with a recipe (default: resnet20 on the embedded digits)",
        description="Train with a recipe bundled with the package (or a .toml path), "
        "overridden by flags and --set KEY=VALUE (any config field). Re-running into an existing "
        "--run-dir, or --resume, continues exactly where the run stopped.",
    )
    from ..training.settings_help import HELP

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
