"""Learning-rate schedules: step number in, learning rate out.

A schedule is any callable ``schedule(step) -> lr`` with ``step`` counted from 0;
``nn.fit`` sets ``optimizer.lr = schedule(step)`` before each update. The classes
here follow PyTorch's ``torch.optim.lr_scheduler`` formulas, written as closed forms.
"""

from __future__ import annotations

import math
import numbers
from typing import Protocol

__all__ = [
    "SCHEDULES",
    "Constant",
    "Cosine",
    "Exponential",
    "LinearDecay",
    "Schedule",
    "StepDecay",
    "get",
]


class Schedule(Protocol):
    """Anything that maps a step number (from 0) to a learning rate."""

    def __call__(self, step: int) -> float: ...


def _number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {value!r} ({type(value).__name__})")
    return float(value)


def _check_lr(lr: float, name: str = "lr") -> None:
    if not (_number(name, lr) >= 0 and math.isfinite(lr)):
        raise ValueError(f"learning rate {name} must be a finite number >= 0, got {lr!r}")


def _check_gamma(gamma: float) -> None:
    if not (_number("gamma", gamma) > 0 and math.isfinite(gamma)):
        raise ValueError(f"gamma must be a finite number > 0, got {gamma!r}")


def _check_count(name: str, value: int, low: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value!r}")


class Constant:
    """The same learning rate at every step."""

    def __init__(self, lr: float) -> None:
        _check_lr(lr)
        self.lr = lr

    def __call__(self, step: int) -> float:
        _check_count("step", step, 0)
        return self.lr

    def __repr__(self) -> str:
        return f"Constant({self.lr!r})"


class LinearDecay:
    """Straight line from ``start`` at step 0 to ``end`` at step ``steps``, then flat.

    micrograd's demo uses ``LinearDecay(1.0, 0.1, 100)``: ``lr = 1.0 - 0.9*k/100``.
    """

    def __init__(self, start: float, end: float, steps: int) -> None:
        _check_lr(start, "start")
        _check_lr(end, "end")
        _check_count("steps", steps)
        self.start, self.end, self.steps = start, end, steps

    def __call__(self, step: int) -> float:
        _check_count("step", step, 0)
        k = min(step, self.steps)
        return self.start - (self.start - self.end) * k / self.steps

    def __repr__(self) -> str:
        return f"LinearDecay({self.start!r}, {self.end!r}, {self.steps!r})"


class StepDecay:
    """Multiply the rate by ``gamma`` every ``step_size`` steps (PyTorch's ``StepLR``)."""

    def __init__(self, lr: float, step_size: int, gamma: float = 0.1) -> None:
        _check_lr(lr)
        _check_count("step_size", step_size)
        _check_gamma(gamma)
        self.lr, self.step_size, self.gamma = lr, step_size, gamma

    def __call__(self, step: int) -> float:
        _check_count("step", step, 0)
        return self.lr * self.gamma ** (step // self.step_size)

    def __repr__(self) -> str:
        return f"StepDecay({self.lr!r}, {self.step_size!r}, gamma={self.gamma!r})"


class Exponential:
    """``lr * gamma**step`` (PyTorch's ``ExponentialLR``)."""

    def __init__(self, lr: float, gamma: float) -> None:
        _check_lr(lr)
        _check_gamma(gamma)
        self.lr, self.gamma = lr, gamma

    def __call__(self, step: int) -> float:
        _check_count("step", step, 0)
        return self.lr * self.gamma**step

    def __repr__(self) -> str:
        return f"Exponential({self.lr!r}, {self.gamma!r})"


class Cosine:
    """Half a cosine from ``lr`` down to ``min_lr`` over ``steps`` steps, then flat.

    ``min_lr + (lr - min_lr) * (1 + cos(pi * step / steps)) / 2``, PyTorch's
    ``CosineAnnealingLR`` without restarts.
    """

    def __init__(self, lr: float, steps: int, min_lr: float = 0.0) -> None:
        _check_lr(lr)
        _check_lr(min_lr, "min_lr")
        _check_count("steps", steps)
        self.lr, self.steps, self.min_lr = lr, steps, min_lr

    def __call__(self, step: int) -> float:
        _check_count("step", step, 0)
        k = min(step, self.steps)
        return self.min_lr + (self.lr - self.min_lr) * (1 + math.cos(math.pi * k / self.steps)) / 2

    def __repr__(self) -> str:
        return f"Cosine({self.lr!r}, {self.steps!r}, min_lr={self.min_lr!r})"


SCHEDULES = ("constant", "linear", "step", "exponential", "cosine")
"""The schedule names that :func:`get` understands."""


def get(name: str, lr: float, steps: int) -> Schedule:
    """Build a schedule by name for a run of ``steps`` steps starting at ``lr``.

    ``linear`` decays to ``lr/10`` (micrograd's ``1.0 - 0.9*k/100`` for lr 1 over
    100 steps), ``step`` divides by 10 after each third of the run, ``exponential``
    reaches ``lr/10`` at the last step, ``cosine`` anneals to 0.

    Args:
        name: One of :data:`SCHEDULES`.
        lr: Learning rate at step 0.
        steps: Length of the run.

    Returns:
        The schedule.

    Raises:
        ValueError: An unknown name (the message lists the valid ones).
    """
    if not isinstance(name, str):
        raise TypeError(f"schedule name must be a string, got {name!r}")
    _check_lr(lr)
    _check_count("steps", steps)
    if name == "constant":
        return Constant(lr)
    if name == "linear":
        return LinearDecay(lr, lr / 10, steps)
    if name == "step":
        return StepDecay(lr, max(1, math.ceil(steps / 3)), 0.1)
    if name == "exponential":
        return Exponential(lr, 0.1 ** (1 / max(1, steps - 1)))
    if name == "cosine":
        return Cosine(lr, steps)
    raise ValueError(f"unknown schedule {name!r}; choose from {', '.join(SCHEDULES)}")
