"""What the training loop learns at the end of each step: a stop request (SIGINT/SIGTERM) and
the step's signals, agreed on by all processes in one all-reduce."""

from __future__ import annotations

import contextlib
import signal
import sys
from dataclasses import astuple, dataclass
from typing import Any

import torch

from ..runtime import distributed


class StopFlag:
    """Set by SIGINT/SIGTERM; the loop saves a checkpoint at the next step boundary and exits."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._old: dict[int, Any] = {}

    def __enter__(self) -> StopFlag:
        for s in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError):  # not the main thread: no handlers
                self._old[s] = signal.signal(s, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signum is not None:  # a second Ctrl-C: stop now
            raise KeyboardInterrupt
        self.signum = signum
        print(
            f"\n{signal.Signals(signum).name}: saving a checkpoint after this step "
            "(again to abort without saving)",
            file=sys.stderr,
            flush=True,
        )

    def __exit__(self, *exc: object) -> None:
        for s, old in self._old.items():
            signal.signal(s, old)


@dataclass(frozen=True)
class StepSignals:
    """One step's outcome on one process, or (after :meth:`all_reduce`) summed over all.

    ``nonfinite``: processes whose loss was NaN or infinite; ``stop``: processes asked to stop;
    ``correct`` / ``seen``: the step's training hits and images (the warm-up-until-error test).
    """

    nonfinite: int = 0
    stop: int = 0
    correct: int = 0
    seen: int = 0

    def all_reduce(self, info: distributed.DistInfo) -> StepSignals:
        """The sums over all processes, in one collective call."""
        if not info.enabled:
            return self
        t = torch.tensor(astuple(self), dtype=torch.float64)
        return StepSignals(*(round(v) for v in distributed.all_reduce_sum(t, info).tolist()))
