"""Gradient checking: analytic derivatives against central differences, first and second order."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any

from autograd.engine import Value, as_float, no_grad
from autograd.functional import grad, value_and_grad

#: The seed d(loss)/d(output) of the checked backward pass, besides 1 and 0. An
#: unusual negative number: a rule that forgets to multiply by `g` (or uses |g|,
#: or g**2) is right at g = 1 and wrong here.
SEED = -0.7315

#: Second order: the seeds of the inner (recorded, create_graph) pass and of the
#: outer pass that differentiates its result. Both differ from 1 and from each other.
SECOND_ORDER_SEEDS = (-1.3571, 0.6183)

Seed = float | tuple[float, float]


class GradcheckError(RuntimeError):
    """An analytic derivative disagrees with its numeric estimate.

    Attributes:
        analytic: the derivatives the backward pass gave with `seed`, one per argument.
        numeric: the central-difference estimates (for seed 1), one per argument.
        expected: what the backward pass should have given: seed times numeric
            (exactly 0.0 for a zero seed).
        failed: indices of the arguments that disagree.
        seed: the seed of the failing pass; for a second-order check the pair
            (inner seed, outer seed).
    """

    def __init__(
        self,
        message: str,
        analytic: Sequence[float],
        numeric: Sequence[float],
        failed: list[int],
        *,
        expected: Sequence[float] | None = None,
        seed: Seed = 1.0,
    ) -> None:
        super().__init__(message)
        self.analytic = list(analytic)
        self.numeric = list(numeric)
        self.expected = list(numeric if expected is None else expected)
        self.failed = failed
        self.seed = seed


# --- argument checks -------------------------------------------------------------


def _real(x: object) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def check_tolerances(who: str, eps: object, atol: object, rtol: object) -> None:
    """Raise TypeError/ValueError naming the argument unless eps > 0 and atol, rtol >= 0."""
    for name, x, positive in (("eps", eps, True), ("atol", atol, False), ("rtol", rtol, False)):
        if not _real(x):
            raise TypeError(f"{who}: {name} must be a real number, got {type(x).__name__} {x!r}")
        v = float(x)  # type: ignore[arg-type]  # _real checked it is a number
        if not math.isfinite(v) or v < 0.0 or (positive and v == 0.0):
            need = "a finite number > 0" if positive else "a finite number >= 0"
            raise ValueError(f"{who}: {name} must be {need}, got {x!r}")


def _point(who: str, f: object, args: tuple[Any, ...]) -> list[float]:
    """The point as floats: each argument a finite real number (or a Value, for its data)."""
    if not callable(f):
        raise TypeError(f"{who}: f must be a function, got {type(f).__name__} {f!r}")
    if not args:
        raise ValueError(f"{who} needs at least one argument to differentiate")
    xs = []
    for i, a in enumerate(args):
        x = a.data if isinstance(a, Value) else as_float(a, f"{who}: argument {i}")
        if not math.isfinite(x):
            raise ValueError(f"{who}: argument {i} is {x!r}; the point must be finite")
        xs.append(x)
    return xs


# --- evaluation --------------------------------------------------------------------


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


def _seeded(f: Callable[..., Any], seed: float) -> Callable[..., Any]:
    """`seed * f(...)`: differentiating it runs f's backward pass from g = seed (mul's rule)."""

    def seeded(*args: Any) -> Any:
        return seed * f(*args)

    return seeded


# --- comparison and report ------------------------------------------------------------


def _seed_text(seed: Seed) -> str:
    if isinstance(seed, tuple):
        return f"seeds {seed[0]!r} (inner pass, create_graph) and {seed[1]!r} (outer pass)"
    return f"seed {seed!r}"


def _hint(seed: Seed) -> str:
    scale = seed[0] * seed[1] if isinstance(seed, tuple) else seed
    if scale == 0.0:
        return (
            "  With a zero seed every gradient must be exactly 0.0: a derivative rule "
            "returns something that is not multiplied by its upstream gradient g."
        )
    return (
        "  The same check passes with seed 1: a derivative rule probably does not "
        "multiply by its upstream gradient g (or is not linear in g)."
    )


def _compare(
    what: str,
    xs: list[float],
    seed: Seed,
    analytic: list[float],
    numeric: list[float],
    atol: float,
    rtol: float,
    passed_at_one: bool,
    labels: Sequence[int] | None = None,
) -> None:
    """Raise GradcheckError unless analytic matches seed * numeric.

    The tolerance scales with the seed, so it means what it means at seed 1:
    |analytic - s n| <= |s| atol + rtol |s n|. A zero seed demands exact zeros.
    """
    scale = seed[0] * seed[1] if isinstance(seed, tuple) else seed
    expected = [scale * n for n in numeric]
    failed = [
        i
        for i, (a, e) in enumerate(zip(analytic, expected))
        if not abs(a - e) <= abs(scale) * atol + rtol * abs(e)  # `not <=` also catches NaN
    ]
    if not failed:
        return
    names = list(labels) if labels is not None else list(range(len(xs)))
    point = ", ".join(f"{x!r}" for x in xs)
    lines = [f"{what} mismatch at ({point}) with {_seed_text(seed)}, atol={atol:g}, rtol={rtol:g}:"]
    for k, (a, e, n) in enumerate(zip(analytic, expected, numeric)):
        mark = "  <-- mismatch" if k in failed else ""
        why = "numeric" if scale == 1.0 else f"= {scale:.6g} x numeric {n!r}"
        if scale == 0.0:
            why = "zero seed"
        lines.append(
            f"  argument {names[k]}: analytic {a!r}  expected {e!r} ({why})  "
            f"difference {abs(a - e):.3g}{mark}"
        )
    if scale != 1.0 and passed_at_one:
        lines.append(_hint(seed))
    raise GradcheckError("\n".join(lines), analytic, numeric, failed, expected=expected, seed=seed)


# --- the checks ------------------------------------------------------------------------


def first_order(
    f: Callable[..., Any],
    xs: list[float],
    seeds: Sequence[float],
    eps: float,
    atol: float,
    rtol: float,
    who: str = "",
) -> None:
    """Gradcheck `f` at `xs` once per seed (arguments already validated).

    Raises:
        GradcheckError: for the first seed whose gradient disagrees.
    """
    prefix = f"{who}: " if who else ""
    argnums = tuple(range(len(xs)))
    evaluate = _eval_no_graph(f)
    numeric = [_central(evaluate, xs, i, eps) for i in argnums]
    passed_at_one = False
    for seed in seeds:
        _, analytic = value_and_grad(_seeded(f, seed), argnums)(*xs)
        analytic = [_scalar(a) for a in analytic]  # Values when f closes over Values
        _compare(f"{prefix}gradient", xs, seed, analytic, numeric, atol, rtol, passed_at_one)
        passed_at_one = passed_at_one or seed == 1.0


def second_order(
    f: Callable[..., Any],
    xs: list[float],
    seeds: Sequence[tuple[float, float]],
    eps: float,
    atol: float,
    rtol: float,
    who: str = "",
) -> None:
    """Gradgradcheck `f` at `xs` once per (inner, outer) seed pair (arguments already validated).

    For each argument i the inner pass differentiates `inner * f` recording
    its own graph (create_graph), which gives `inner * df/dx_i` as a Value;
    the outer pass differentiates `outer * (that Value)`. So `inner` is the g
    that f's rules receive as Values, `outer` the g entering the recorded
    derivative graph. Both the recorded first derivative and the second
    derivatives must equal inner * outer times their central differences.

    Raises:
        GradcheckError: for the first seed pair and row that disagree.
    """
    prefix = f"{who}: " if who else ""
    argnums = tuple(range(len(xs)))
    evaluate = _eval_no_graph(f)
    first = [_central(evaluate, xs, i, eps) for i in argnums]
    for i in argnums:
        numeric = [_central(_eval_plain(grad(f, argnums=i)), xs, j, eps) for j in argnums]
        passed_at_one = False
        for inner, outer in seeds:
            df_i = grad(_seeded(f, inner), argnums=i)
            value, analytic = value_and_grad(_seeded(df_i, outer), argnums)(*xs)
            analytic = [_scalar(a) for a in analytic]  # Values when f closes over Values
            seed = (inner, outer)
            _compare(
                f"{prefix}first derivative df/dx_{i} recorded for differentiation (create_graph)",
                xs,
                seed,
                [_scalar(value)],
                [first[i]],
                atol,
                rtol,
                passed_at_one,
                labels=[i],
            )
            _compare(
                f"{prefix}second derivative d/dx_j (df/dx_{i})",
                xs,
                seed,
                list(analytic),
                numeric,
                atol,
                rtol,
                passed_at_one,
            )
            passed_at_one = passed_at_one or inner * outer == 1.0


def gradcheck(
    f: Callable[..., Any],
    *args: Any,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
) -> bool:
    """Check `f`'s gradient at `args` against central differences.

    The backward pass runs three times, seeded with g = 1, g = `SEED` and
    g = 0: its gradients must be g times the numeric derivatives (exactly zero
    for g = 0), so a derivative rule that forgets to multiply by `g` fails.

    Args:
        f: a function of numbers returning one number (a Value or a float).
        *args: the point, one finite real number per positional argument of `f`.
        eps: the finite-difference step (> 0).
        atol, rtol: a derivative passes when
            |analytic - g numeric| <= |g| atol + rtol |g numeric| (both >= 0).

    Returns:
        True when every argument passes.

    Raises:
        GradcheckError: naming the seed and listing, per argument, the analytic
            and expected derivative.
        TypeError, ValueError: for a bad argument, naming it.
    """
    check_tolerances("gradcheck", eps, atol, rtol)
    xs = _point("gradcheck", f, args)
    first_order(f, xs, (1.0, SEED, 0.0), float(eps), float(atol), float(rtol))
    return True


def gradgradcheck(
    f: Callable[..., Any],
    *args: Any,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
) -> bool:
    """Check `f`'s second derivatives: each recorded (create_graph) gradient is gradchecked.

    Seeds (inner, outer) run as (1, 1), `SECOND_ORDER_SEEDS`, (0, outer) and
    (inner, 0); see `second_order` for where each enters. Arguments as for
    `gradcheck`.

    Raises:
        GradcheckError: naming the seeds and the row (the first-derivative
            component) that fails.
        TypeError, ValueError: for a bad argument, naming it.
    """
    check_tolerances("gradgradcheck", eps, atol, rtol)
    xs = _point("gradgradcheck", f, args)
    inner, outer = SECOND_ORDER_SEEDS
    seeds = ((1.0, 1.0), (inner, outer), (0.0, outer), (inner, 0.0))
    second_order(f, xs, seeds, float(eps), float(atol), float(rtol))
    return True


__all__ = ["SECOND_ORDER_SEEDS", "SEED", "GradcheckError", "gradcheck", "gradgradcheck"]
