"""Gradient checking: analytic derivatives against central differences, first and second order."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from autograd.engine import Value, as_float, no_grad
from autograd.functional import grad, value_and_grad


class GradcheckError(RuntimeError):
    """An analytic derivative disagrees with its numeric estimate.

    Attributes:
        analytic: the analytic derivatives, one per argument.
        numeric: the central-difference estimates, one per argument.
        failed: indices of the arguments that disagree.
    """

    def __init__(
        self, message: str, analytic: Sequence[float], numeric: Sequence[float], failed: list[int]
    ) -> None:
        super().__init__(message)
        self.analytic = list(analytic)
        self.numeric = list(numeric)
        self.failed = failed


def _scalar(x: Any) -> float:
    return x.data if isinstance(x, Value) else as_float(x, "the function's result")


def _eval_no_graph(f: Callable[..., Any]) -> Callable[[list[float]], float]:
    """f on Values (so it may call their methods) that record no graph."""

    def evaluate(xs: list[float]) -> float:
        with no_grad():
            return _scalar(f(*map(Value, xs)))

    return evaluate


def _eval_plain(f: Callable[..., Any]) -> Callable[[list[float]], float]:
    """f on plain floats (a derivative from `grad` makes its own Values)."""
    return lambda xs: _scalar(f(*xs))


def _central(
    evaluate: Callable[[list[float]], float], xs: list[float], i: int, eps: float
) -> float:
    """(f(x + eps e_i) - f(x - eps e_i)) / (2 eps)."""
    hi = list(xs)
    lo = list(xs)
    hi[i] += eps
    lo[i] -= eps
    return (evaluate(hi) - evaluate(lo)) / (2.0 * eps)


def _compare(
    what: str,
    xs: list[float],
    analytic: list[float],
    numeric: list[float],
    atol: float,
    rtol: float,
) -> None:
    failed = [
        i
        for i, (a, n) in enumerate(zip(analytic, numeric))
        if not abs(a - n) <= atol + rtol * abs(n)  # `not <=` also catches NaN
    ]
    if not failed:
        return
    point = ", ".join(f"{x!r}" for x in xs)
    lines = [f"{what} mismatch at ({point}) with atol={atol:g}, rtol={rtol:g}:"]
    for i, (a, n) in enumerate(zip(analytic, numeric)):
        mark = "  <-- mismatch" if i in failed else ""
        lines.append(
            f"  argument {i}: analytic {a!r}  numeric {n!r}  difference {abs(a - n):.3g}{mark}"
        )
    raise GradcheckError("\n".join(lines), analytic, numeric, failed)


def gradcheck(
    f: Callable[..., Any],
    *args: Any,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
) -> bool:
    """Check `f`'s gradient at `args` against central differences.

    Args:
        f: a function of numbers returning one number (a Value or a float).
        *args: the point, one number per positional argument of `f`.
        eps: the finite-difference step.
        atol, rtol: a derivative passes when |analytic - numeric| <= atol + rtol * |numeric|.

    Returns:
        True when every argument passes.

    Raises:
        GradcheckError: listing, per argument, the analytic and numeric derivative.
    """
    xs = [_scalar(a) for a in args]
    if not xs:
        raise ValueError("gradcheck needs at least one argument to differentiate")
    _, analytic = value_and_grad(f, tuple(range(len(xs))))(*xs)
    evaluate = _eval_no_graph(f)
    numeric = [_central(evaluate, xs, i, eps) for i in range(len(xs))]
    _compare("gradient", xs, list(analytic), numeric, atol, rtol)
    return True


def gradgradcheck(
    f: Callable[..., Any],
    *args: Any,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
) -> bool:
    """Check `f`'s second derivatives: each analytic gradient component is itself gradchecked.

    Raises:
        GradcheckError: naming the row (the first-derivative component) that fails.
    """
    xs = [_scalar(a) for a in args]
    if not xs:
        raise ValueError("gradgradcheck needs at least one argument to differentiate")
    for i in range(len(xs)):
        df_i = grad(f, argnums=i)
        _, analytic = value_and_grad(df_i, tuple(range(len(xs))))(*xs)
        evaluate = _eval_plain(df_i)
        numeric = [_central(evaluate, xs, j, eps) for j in range(len(xs))]
        _compare(f"second derivative d/dx_j (df/dx_{i})", xs, list(analytic), numeric, atol, rtol)
    return True


__all__ = ["GradcheckError", "gradcheck", "gradgradcheck"]
