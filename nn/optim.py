"""Optimizers, in order of increasing complexity: SGD (with momentum), Adam, AdamW.

Each one reads ``p.grad`` for every parameter and changes ``p.data``; the update
rules and defaults are PyTorch's (``torch.optim``), written out for one float at
a time. As in PyTorch, a parameter whose ``grad`` is ``None`` is skipped (no
update, no momentum, no weight decay), and a gradient that is a Value (after
``backward(create_graph=True)``) steps by its number. ``lr`` may be set between
steps (a schedule does); a value that is not a finite number >= 0 is refused.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from typing import ClassVar

from autograd import Value

__all__ = ["OPTIMIZERS", "SGD", "Adam", "AdamW", "Optimizer"]


def _number(name: str, value: object) -> float:
    """A real number (not a bool, a string or a Value), as a float."""
    if isinstance(value, bool | Value) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {value!r} ({type(value).__name__})")
    return float(value)


def _check(name: str, value: object, low: float = 0.0) -> float:
    x = _number(name, value)
    if not (x >= low and math.isfinite(x)):
        raise ValueError(f"{name} must be a finite number >= {low}, got {value!r}")
    return x


def _flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return value


def _grad(p: Value) -> float | None:
    """The gradient to step with: ``None`` (no gradient, skip), or its float value.

    After ``backward(create_graph=True)`` a gradient is a Value; the step uses
    its number, as PyTorch steps with a tensor's value and not its graph.
    """
    g = p.grad
    if g is None or type(g) is float:
        return g
    return float(g.data if isinstance(g, Value) else g)


class Optimizer:
    """Base class: holds the parameters and the learning rate.

    Args:
        params: The Values to update (e.g. ``model.parameters()``); duplicates
            are updated once.
        lr: Learning rate.

    Attributes:
        params: The parameters, in order.
        lr: Learning rate used by the next :meth:`step`.
    """

    def __init__(self, params: Iterable[Value], lr: float) -> None:
        if isinstance(params, Value) or not isinstance(params, Iterable):
            what = (
                "a single Value (wrap it in a list)" if isinstance(params, Value) else repr(params)
            )
            raise TypeError(
                f"params must be an iterable of Values, e.g. model.parameters(); got {what}"
            )
        unique: dict[int, Value] = {}
        for p in params:
            if not isinstance(p, Value):
                raise TypeError(f"optimizer parameters must be Values, got {type(p).__name__}")
            unique.setdefault(id(p), p)
        if not unique:
            raise ValueError("optimizer got an empty parameter list")
        self._lr = _check("lr", lr)
        self.params = list(unique.values())

    @property
    def lr(self) -> float:
        """Learning rate used by the next :meth:`step` (a schedule may change it)."""
        return self._lr

    @lr.setter
    def lr(self, value: float) -> None:
        self._lr = _check("lr", value)

    @property
    def update_rule(self) -> str:
        """The update, written out for people (the CLI prints it)."""
        return "W_new = W_old - lr * dL/dW"

    def zero_grad(self, set_to_none: bool = False) -> None:
        """Reset every parameter's ``grad`` before the next backward pass.

        Args:
            set_to_none: Set ``grad`` to ``None`` ("no gradient", which
                :meth:`step` skips) instead of 0.0, like PyTorch's keyword.
        """
        empty = None if _flag("set_to_none", set_to_none) else 0.0
        for p in self.params:
            p.grad = empty

    def step(self) -> None:
        """Update every parameter from its gradient (subclasses define it)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(lr={self.lr!r})"


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with momentum and weight decay.

    Plain SGD is exactly ``p.data -= lr * p.grad``. With momentum ``mu``,
    ``v = mu * v + (1 - dampening) * g`` (``v = g`` on the first step) and the
    step uses ``v``, or ``g + mu * v`` with Nesterov momentum. Weight decay adds
    ``weight_decay * p`` to the gradient ``g`` first. (PyTorch's ``torch.optim.SGD``.)

    Args:
        params: The Values to update.
        lr: Learning rate.
        momentum: Momentum factor ``mu``, >= 0.
        nesterov: Use Nesterov momentum (needs ``momentum > 0`` and no dampening).
        weight_decay: L2 penalty folded into the gradient.
        dampening: Dampening of the momentum (keyword only: the positional order
            is the design's ``momentum, nesterov, weight_decay``).
    """

    def __init__(
        self,
        params: Iterable[Value],
        lr: float,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
        *,
        dampening: float = 0.0,
    ) -> None:
        super().__init__(params, lr)
        self.momentum = _check("momentum", momentum)
        self.dampening = _check("dampening", dampening)
        self.weight_decay = _check("weight_decay", weight_decay)
        if not isinstance(nesterov, bool):
            raise TypeError(
                f"nesterov must be True or False, got {nesterov!r} (dampening is keyword-only: "
                "SGD(params, lr, momentum, nesterov, weight_decay, *, dampening))"
            )
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum needs momentum > 0 and dampening = 0")
        self.nesterov = nesterov
        # One momentum buffer per parameter, created at its first step with a gradient.
        self.velocity: list[float | None] = [None] * len(self.params)

    @property
    def update_rule(self) -> str:
        """The update this optimizer applies, written out."""
        g = "(dL/dW + wd * W)" if self.weight_decay else "dL/dW"
        if not self.momentum:
            return f"W_new = W_old - lr * {g}"
        damped = f"{1 - self.dampening:g} * {g}" if self.dampening else g
        v = f"v = {self.momentum:g} * v + {damped}"
        if self.nesterov:
            return f"{v};  W_new = W_old - lr * ({g} + {self.momentum:g} * v)"
        return f"{v};  W_new = W_old - lr * v"

    def step(self) -> None:
        """Apply one update to every parameter that has a gradient (``grad`` not None)."""
        lr, mu, wd = self.lr, self.momentum, self.weight_decay
        if not mu and not wd:
            for p in self.params:
                g = p.grad
                if type(g) is not float and (g := _grad(p)) is None:
                    continue
                p.data -= lr * g
            return
        velocity = self.velocity
        for i, p in enumerate(self.params):
            if (g := _grad(p)) is None:
                continue
            if wd:
                g = g + wd * p.data
            if mu:
                # The first step has no history: the buffer starts at the gradient itself.
                v = velocity[i]
                v = g if v is None else mu * v + (1 - self.dampening) * g
                velocity[i] = v
                g = g + mu * v if self.nesterov else v
            p.data -= lr * g


class Adam(Optimizer):
    """Adam: a step per parameter scaled by running averages of its gradient.

    ``m`` averages the gradient, ``v`` its square; the step is
    ``lr * m_hat / (sqrt(v_hat) + eps)`` with the bias-corrected averages.
    Weight decay, as in PyTorch's ``Adam``, is an L2 term added to the gradient.

    Args:
        params: The Values to update.
        lr: Learning rate.
        betas: Decay rates of the two averages.
        eps: Added to the denominator to avoid division by zero.
        weight_decay: L2 penalty folded into the gradient.
        amsgrad: Use the maximum of all ``v`` so far (AMSGrad).
    """

    _decoupled: ClassVar[bool] = False

    def __init__(
        self,
        params: Iterable[Value],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
    ) -> None:
        super().__init__(params, lr)
        if isinstance(betas, str | bytes) or not isinstance(betas, tuple | list) or len(betas) != 2:
            raise TypeError(
                f"betas must be a pair (beta1, beta2), e.g. (0.9, 0.999); got {betas!r}"
            )
        pair = [_number(f"betas[{i}]", beta) for i, beta in enumerate(betas)]
        for i, beta in enumerate(pair):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"betas[{i}] must be in [0, 1), got {betas[i]!r}")
        self.betas = (pair[0], pair[1])
        self.eps = _check("eps", eps)
        self.weight_decay = _check("weight_decay", weight_decay)
        self.amsgrad = _flag("amsgrad", amsgrad)
        self.t = 0  # number of step() calls
        # Steps taken by each parameter: one whose grad is None is skipped and
        # does not count, so its bias correction is its own (as in PyTorch).
        self.steps = [0] * len(self.params)
        self.m = [0.0] * len(self.params)
        self.v = [0.0] * len(self.params)
        self.v_max = [0.0] * len(self.params)

    @property
    def update_rule(self) -> str:
        """The update this optimizer applies, written out."""
        decay = "W = W * (1 - lr*wd);  " if self._decoupled and self.weight_decay else ""
        return (
            f"{decay}m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g^2;  "
            "W_new = W_old - lr * m_hat / (sqrt(v_hat) + eps)"
        )

    def step(self) -> None:
        """Apply one update to every parameter that has a gradient (``grad`` not None)."""
        self.t += 1
        lr, wd, eps = self.lr, self.weight_decay, self.eps
        b1, b2 = self.betas
        m, v, v_max, steps = self.m, self.v, self.v_max, self.steps
        corrections: dict[int, tuple[float, float]] = {}  # by step count: usually one entry
        for i, p in enumerate(self.params):
            if (g := _grad(p)) is None:
                continue
            t = steps[i] = steps[i] + 1
            if (correction := corrections.get(t)) is None:
                # m and v start at 0, so early averages are biased towards 0; dividing
                # by 1 - beta^t (which tends to 1) undoes that bias.
                correction = corrections[t] = (lr / (1 - b1**t), math.sqrt(1 - b2**t))
            step_size, bias_correction2_sqrt = correction
            if wd:
                if self._decoupled:
                    p.data *= 1 - lr * wd  # AdamW: shrink the weight itself
                else:
                    g = g + wd * p.data  # Adam: L2 penalty in the gradient
            m[i] += (1 - b1) * (g - m[i])  # m = b1*m + (1-b1)*g
            v[i] = b2 * v[i] + (1 - b2) * g * g
            if self.amsgrad:
                v_max[i] = max(v_max[i], v[i])
                denom = math.sqrt(v_max[i]) / bias_correction2_sqrt + eps
            else:
                denom = math.sqrt(v[i]) / bias_correction2_sqrt + eps
            p.data -= step_size * (m[i] / denom)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(lr={self.lr!r}, betas={self.betas!r}, eps={self.eps!r}, "
            f"weight_decay={self.weight_decay!r})"
        )


class AdamW(Adam):
    """Adam with decoupled weight decay: ``W *= 1 - lr * weight_decay`` before each step.

    Args:
        params: The Values to update.
        lr: Learning rate.
        betas: Decay rates of the two averages.
        eps: Added to the denominator to avoid division by zero.
        weight_decay: Decoupled decay rate (PyTorch's default 0.01).
        amsgrad: Use the maximum of all ``v`` so far (AMSGrad).
    """

    _decoupled: ClassVar[bool] = True

    def __init__(
        self,
        params: Iterable[Value],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad)


OPTIMIZERS: dict[str, type[Optimizer]] = {"sgd": SGD, "adam": Adam, "adamw": AdamW}
"""The optimizers by name (the CLI's ``--optimizer`` choices)."""
