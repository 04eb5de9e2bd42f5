"""Learning-rate schedules with warm-up, as a function of the optimizer step.

The learning rate at a step is computed from the step number (and, for ``plateau``, from the
decays the test accuracy has triggered so far), so resuming needs only the step and the small
plateau state. Kinds (``t`` is the position in ``unit``: epochs, fractional, or steps):

* ``constant``: lr.
* ``step``: lr * gamma ** floor(t / step_size)  (GoogLeNet: 0.96 every 8 epochs; Inception-v3:
  0.94 every 2 epochs; SENet: 0.1 every 30 epochs).
* ``multistep``: lr * gamma ** (number of milestones <= t); milestones all below 1 are fractions
  of the run (DenseNet: 0.5, 0.75); ResNet CIFAR: 32k and 48k steps.
* ``exponential``: lr * gamma ** (t / step_size), smooth.
* ``cosine``: from lr to min_lr over the run after warm-up.
* ``plateau``: lr * gamma ** decays, one decay when the test accuracy has not improved for
  ``patience`` evaluations (VGG: / 10, three times).

Warm-up covers ``t < warmup``: ``linear`` from warmup_lr to the schedule's lr, or ``constant`` at
warmup_lr. With ``warmup_until_error`` set (constant mode only), the constant warm-up ends as
soon as the training error over the last ``warmup_error_window`` steps is below that fraction,
and ``warmup`` is only an upper bound: ResNet-110 on CIFAR (He et al. 2015, Sec. 4.2) "use[s]
0.01 to warm up the training until the training error is below 80% (about 400 iterations), and
then go[es] back to 0.1". The loop feeds each step's global hits to :meth:`on_train_step`; the
step at which warm-up ended and the window are part of :meth:`state_dict`, so a resumed run
switches at the same step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

#: The schedules (``schedule = ...``), the units they count in, the warm-up modes.
ScheduleKind = Literal["constant", "step", "multistep", "exponential", "cosine", "plateau"]
ScheduleUnit = Literal["epoch", "step"]
WarmupMode = Literal["linear", "constant"]


@dataclass
class LRSchedule:
    kind: ScheduleKind
    base_lr: float
    total_steps: int
    steps_per_epoch: int
    unit: ScheduleUnit = "epoch"
    step_size: float = 30
    milestones: tuple[float, ...] = ()
    gamma: float = 0.1
    min_lr: float = 0.0
    warmup: float = 0
    warmup_lr: float = 0.0
    warmup_mode: WarmupMode = "linear"
    patience: int = 5
    max_decays: int | None = None
    warmup_until_error: float | None = None  # end the constant warm-up below this train error
    warmup_error_window: int = 20  # steps whose training error is averaged for that test
    # plateau state
    best: float = -math.inf
    bad_evals: int = 0
    decays: int = 0
    # warm-up-until-error state: the step it ended at, and the window's (errors, seen) per step
    warmup_ended_at: int | None = None
    window: list[tuple[int, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        kinds = get_args(ScheduleKind)
        if self.kind not in kinds:
            raise ValueError(f"unknown schedule {self.kind!r}; use one of {', '.join(kinds)}")
        if self.unit not in get_args(ScheduleUnit):
            units = " or ".join(map(repr, get_args(ScheduleUnit)))
            raise ValueError(f"schedule_unit must be {units}, got {self.unit!r}")
        if self.kind in ("step", "exponential") and self.step_size <= 0:
            raise ValueError("step_size must be positive")
        if self.warmup_until_error is not None:
            if not 0 < self.warmup_until_error <= 1:
                raise ValueError(
                    f"warmup_until_train_error is a fraction in (0, 1], e.g. 0.8; got "
                    f"{self.warmup_until_error}"
                )
            if self.warmup_mode != "constant" or self.warmup <= 0:
                raise ValueError(
                    "warmup_until_train_error needs warmup_mode = 'constant' and warmup > 0 (the "
                    "upper bound of the warm-up, in schedule_unit; ResNet-110: warmup = 2000 "
                    "steps, warmup_lr = 0.01)"
                )
            if self.warmup_error_window < 1:
                raise ValueError("warmup_error_window must be at least 1 step")

    def _t(self, step: int) -> float:
        return step / self.steps_per_epoch if self.unit == "epoch" else float(step)

    @property
    def _total(self) -> float:
        return self._t(self.total_steps)

    @property
    def _warmup_end(self) -> float:
        """Where warm-up ends (in schedule_unit): ``warmup``, or earlier by the error test."""
        if self.warmup_ended_at is not None:
            return min(self._t(self.warmup_ended_at), self.warmup)
        return self.warmup

    def _milestones(self) -> list[float]:
        ms = list(self.milestones)
        if ms and all(0 < m < 1 for m in ms):
            return [m * self._total for m in ms]
        return ms

    def _main(self, t: float) -> float:
        lr = self.base_lr
        if self.kind == "step":
            return lr * self.gamma ** math.floor(t / self.step_size + 1e-9)
        if self.kind == "multistep":
            return lr * self.gamma ** sum(1 for m in self._milestones() if t >= m - 1e-9)
        if self.kind == "exponential":
            return lr * self.gamma ** (t / self.step_size)
        if self.kind == "cosine":
            span = max(self._total - self._warmup_end, 1e-12)
            progress = min(max((t - self._warmup_end) / span, 0.0), 1.0)
            return self.min_lr + (lr - self.min_lr) * 0.5 * (1 + math.cos(math.pi * progress))
        if self.kind == "plateau":
            return lr * self.gamma**self.decays
        return lr

    def lr_at(self, step: int) -> float:
        """The learning rate for the update that follows ``step`` completed updates."""
        t = self._t(step)
        if t < self._warmup_end:
            if self.warmup_mode == "constant":
                return self.warmup_lr
            target = self._main(self.warmup)
            return self.warmup_lr + (target - self.warmup_lr) * t / self.warmup
        return self._main(t)

    @property
    def window_error(self) -> float | None:
        """The training error over the current window (None before the first step)."""
        seen = sum(n for _, n in self.window)
        return sum(e for e, _ in self.window) / seen if seen else None

    def on_train_step(self, step: int, correct: int, seen: int) -> bool:
        """Feed the training hits of the update that made ``step`` steps (all processes
        together). True when this ends the warm-up (by the error test, or at its bound);
        only with ``warmup_until_error``."""
        if self.warmup_until_error is None or self.warmup_ended_at is not None:
            return False
        self.window = [*self.window, (seen - correct, seen)][-self.warmup_error_window :]
        full = len(self.window) == self.warmup_error_window
        error = self.window_error
        if (full and error is not None and error < self.warmup_until_error) or (
            self._t(step) >= self.warmup
        ):
            self.warmup_ended_at = step
            return True
        return False

    def warmup_end_note(self, step: int) -> str:
        """Why the warm-up ended after ``step`` (see :meth:`on_train_step`), and the new lr."""
        error = self.window_error
        below = error is not None and error < (self.warmup_until_error or 0.0)
        why = (
            f"training error {error:.1%} over the last {len(self.window)} steps is below "
            f"{self.warmup_until_error:.0%}"
            if below
            else f"the warm-up bound of {self.warmup:g} {self.unit}s was reached"
        )
        return f"warm-up over after step {step}: {why}; lr now {self.lr_at(step):.3g}"

    def on_eval(self, accuracy: float) -> bool:
        """Feed the test accuracy (plateau only); True when the lr was decayed."""
        if self.kind != "plateau":
            return False
        if accuracy > self.best + 1e-6:
            self.best, self.bad_evals = accuracy, 0
            return False
        self.bad_evals += 1
        if self.bad_evals >= self.patience and (
            self.max_decays is None or self.decays < self.max_decays
        ):
            self.decays += 1
            self.bad_evals = 0
            return True
        return False

    def state_dict(self) -> dict[str, Any]:
        return {
            "best": self.best,
            "bad_evals": self.bad_evals,
            "decays": self.decays,
            "warmup_ended_at": self.warmup_ended_at,
            "window": [list(w) for w in self.window],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best = float(state["best"])
        self.bad_evals = int(state["bad_evals"])
        self.decays = int(state["decays"])
        ended = state.get("warmup_ended_at")  # absent in checkpoints of earlier versions
        self.warmup_ended_at = None if ended is None else int(ended)
        self.window = [(int(e), int(n)) for e, n in state.get("window", [])]
