"""`classicnets <command>`: argument parsing and dispatch only, one module per command group
(:mod:`.models`, :mod:`.weights`, :mod:`.train`, :mod:`.evaluate`, :mod:`.deploy`; shared
argument helpers in :mod:`.common`). Nothing here imports torch at module level, so that
``classicnets --help`` stays fast."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .. import __version__
from ..errors import ClassicNetsError
from ..runtime.console import quiet_library_noise
from . import deploy, evaluate, models, train, weights


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command, in the order ``classicnets --help`` lists them."""
    parser = argparse.ArgumentParser(
        prog="classicnets",
        description="The classic CNNs of 2014-2017, faithful to their papers.",
    )
    parser.add_argument("--version", action="version", version=f"classicnets {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    models.add_commands(sub)
    weights.add_commands(sub)
    train.add_commands(sub)
    evaluate.add_eval_predict(sub)
    deploy.add_bench_export(sub)
    evaluate.add_explain_report(sub)
    deploy.add_quantize(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; a :class:`ClassicNetsError` becomes one line on stderr and exit code 2."""
    args = build_parser().parse_args(argv)
    quiet_library_noise()
    try:
        return int(args.fn(args))
    except ClassicNetsError as e:
        print(f"classicnets: error: {e}", file=sys.stderr)
        return 2
