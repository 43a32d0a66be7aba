"""Property-based gradient checks: hypothesis strategies and one-line checks for ops and functions.

    from autograd.testing import check_op
    def test_softsign():
        check_op(softsign)   # first and second derivatives vs central differences, seeded g != 1

Needs hypothesis (`pip install "tapegrad[testing]"`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

try:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
except ImportError as e:  # pragma: no cover - exercised by a subprocess test
    raise ImportError(
        'autograd.testing needs hypothesis; install it with: pip install "tapegrad[testing]"'
    ) from e

from autograd import ops
from autograd.gradcheck import (
    GradcheckError,
    check_tolerances,
    first_order,
    gradcheck,
    gradgradcheck,
    second_order,
)
from autograd.opdef import Op

__all__ = [
    "Expression",
    "assert_gradients",
    "check_op",
    "expressions",
    "finite_floats",
    "points",
    "seeds",
]

#: How far from a kink or an open domain's end test points stay.
MARGIN = 1e-3


def finite_floats(min_value: float = -10.0, max_value: float = 10.0) -> st.SearchStrategy[float]:
    """Finite floats in [min_value, max_value] (no NaN, no infinity)."""
    return st.floats(min_value, max_value, allow_nan=False, allow_infinity=False)


def _bounds(domain: tuple[float, float], lo: float, hi: float) -> tuple[float, float]:
    a = max(domain[0] + MARGIN, lo) if math.isfinite(domain[0]) else lo
    b = min(domain[1] - MARGIN, hi) if math.isfinite(domain[1]) else hi
    if not a < b:
        raise ValueError(f"domain {domain!r} has no room inside [{lo}, {hi}]")
    return a, b


def points(
    op_or_domain: Op | tuple[float, float],
    *,
    nargs: int | None = None,
    kinks: Sequence[float] = (),
    lo: float = -10.0,
    hi: float = 10.0,
) -> st.SearchStrategy[tuple[float, ...]]:
    """Argument tuples inside an op's domain, within [lo, hi], away from its kinks.

    Args:
        op_or_domain: an op (its `domain`, `kinks` and arity are used) or an
            open interval `(lo, hi)`.
        nargs: how many arguments to draw; defaults to the op's arity (4 for a
            variadic op, 1 for a bare interval).
        kinks: extra points to stay away from.
        lo, hi: the box the points are drawn from.
    """
    if isinstance(op_or_domain, Op):
        domain = op_or_domain.domain
        avoid = (*op_or_domain.kinks, *kinks)
        n = nargs if nargs is not None else (op_or_domain.nargs if op_or_domain.nargs >= 0 else 4)
    else:
        domain = (float(op_or_domain[0]), float(op_or_domain[1]))
        avoid = tuple(kinks)
        n = 1 if nargs is None else nargs
    a, b = _bounds(domain, lo, hi)
    one = finite_floats(a, b).filter(lambda x: all(abs(x - k) > MARGIN for k in avoid))
    return st.tuples(*[one] * n)


def _on_values(op: Op) -> Callable[..., Any]:
    return lambda *xs: op(*xs)


def seeds() -> st.SearchStrategy[float]:
    """Backward seeds g for a gradient check: |g| in [0.25, 4], either sign, never near 1.

    A derivative rule that forgets to multiply by `g` is right at g = 1 only,
    so a check seeded from here catches it.
    """
    size = st.floats(0.25, 4.0).filter(lambda s: abs(s - 1.0) > 0.05)
    return st.tuples(size, st.booleans()).map(lambda t: -t[0] if t[1] else t[0])


def _check_order(who: str, order: object) -> int:
    if not isinstance(order, int) or isinstance(order, bool) or order not in (1, 2):
        raise ValueError(f"{who}: order must be 1 or 2, got {order!r}")
    return order


def check_op(
    op: Op,
    *,
    order: int = 2,
    max_examples: int | None = None,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
) -> None:
    """Check an op's derivatives against central differences across its domain.

    Hypothesis draws points from `points(op)` and backward seeds from
    `seeds()`. At each point the gradient is checked with the seeds 1, g and
    0 (it must be g times the numeric derivative, exactly zero for g = 0), and
    for `order=2` the second derivatives with the (inner, outer) seeds
    (1, 1), (g1, g2), (0, g2) and (g1, 0), as `gradgradcheck` does: so a rule
    that forgets to multiply by its upstream gradient fails, in a plain pass
    and in a recorded (create_graph) one. When a rule is wrong, hypothesis
    shrinks to a small failing point and the `GradcheckError` names the op,
    the point, the seed and the analytic against the expected value.

    Raises:
        GradcheckError: at the shrunk counterexample.
        TypeError, ValueError: for a bad argument, naming it.
    """
    if not isinstance(op, Op):
        raise TypeError(f"check_op needs an op made by @custom_op, got {type(op).__name__}")
    order = _check_order("check_op", order)
    check_tolerances("check_op", eps, atol, rtol)
    if max_examples is not None and (
        not isinstance(max_examples, int) or isinstance(max_examples, bool) or max_examples < 1
    ):
        raise ValueError(f"check_op: max_examples must be a positive int, got {max_examples!r}")
    tol = (float(eps), float(atol), float(rtol))
    f = _on_values(op)
    who = f"op '{op.name}'"

    @given(points(op), seeds(), seeds())
    def check(xs: tuple[float, ...], g1: float, g2: float) -> None:
        point = list(xs)
        first_order(f, point, (1.0, g1, 0.0), *tol, who=who)
        if order >= 2:
            second_order(f, point, ((1.0, 1.0), (g1, g2), (0.0, g2), (g1, 0.0)), *tol, who=who)

    options: dict[str, Any] = {
        "deadline": None,
        "suppress_health_check": [HealthCheck.filter_too_much],
    }
    if max_examples is not None:
        options["max_examples"] = max_examples
    settings(**options)(check)()


def assert_gradients(
    f: Callable[..., Any],
    *args: Any,
    order: int = 1,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
) -> None:
    """Assert that `f`'s derivatives at `args` match central differences (up to `order` 2).

    Runs `gradcheck` (and `gradgradcheck` for `order=2`), whose backward
    passes are seeded with 1, an unusual g and 0, so a rule that ignores its
    upstream gradient fails here too.

    Raises:
        AssertionError: carrying the gradcheck report: the point, the seed and,
            per argument, the analytic against the expected value. The
            `GradcheckError` is its `__cause__`.
        TypeError, ValueError: for a bad argument, naming it.
    """
    order = _check_order("assert_gradients", order)
    try:
        gradcheck(f, *args, eps=eps, atol=atol, rtol=rtol)
        if order >= 2:
            gradgradcheck(f, *args, eps=eps, atol=atol, rtol=rtol)
    except GradcheckError as e:
        raise AssertionError(str(e)) from e


# --- random expressions -------------------------------------------------------

_INFIX = {"add": "+", "sub": "-", "mul": "*", "div": "/"}

#: Ops that are smooth and defined everywhere: safe to compose at random.
SMOOTH_OPS: tuple[Op, ...] = (
    ops.add,
    ops.sub,
    ops.mul,
    ops.neg,
    ops.tanh,
    ops.sigmoid,
    ops.sin,
    ops.cos,
    ops.softplus,
)


class Expression:
    """A random expression: a small DAG of ops over `n_leaves` inputs.

    `nodes[i] = (op, operand_indices)`; indices below `n_leaves` are the
    inputs, the rest refer to earlier nodes, so sub-expressions can be shared.
    Calling it evaluates each node once (floats in, float out; Values in, a
    graph out); `str()` is the formula.
    """

    def __init__(self, n_leaves: int, nodes: list[tuple[Op, tuple[int, ...]]]) -> None:
        self.n_leaves = n_leaves
        self.nodes = nodes

    def __call__(self, *leaves: Any) -> Any:
        if len(leaves) != self.n_leaves:
            raise TypeError(f"expression takes {self.n_leaves} inputs, got {len(leaves)}")
        vals = list(leaves)
        for op, idx in self.nodes:
            vals.append(op(*(vals[i] for i in idx)))
        return vals[-1]

    def evaluate(self, leaves: Sequence[Any], apply: Callable[[str, list[Any]], Any]) -> Any:
        """Evaluate with another backend: `apply(op_name, operands)` computes one node."""
        vals = list(leaves)
        for op, idx in self.nodes:
            vals.append(apply(op.name, [vals[i] for i in idx]))
        return vals[-1]

    def _text(self, i: int, memo: dict[int, str]) -> str:
        if i < self.n_leaves:
            return f"x{i}"
        if i not in memo:
            op, idx = self.nodes[i - self.n_leaves]
            parts = [self._text(j, memo) for j in idx]
            if op.name in _INFIX:
                memo[i] = f"({parts[0]} {_INFIX[op.name]} {parts[1]})"
            elif op.name == "neg":
                memo[i] = f"-{parts[0]}"
            else:
                memo[i] = f"{op.name}({', '.join(parts)})"
        return memo[i]

    def __str__(self) -> str:
        if not self.nodes:
            return "x0"
        text = self._text(self.n_leaves + len(self.nodes) - 1, {})
        return text[1:-1] if text.startswith("(") and text.endswith(")") else text

    def __repr__(self) -> str:
        return f"<Expression {self}>"


@st.composite
def _expression(draw: Any, n_leaves: int, max_ops: int, ops_: Sequence[Op]) -> Expression:
    unary = [op for op in ops_ if op.nargs == 1]
    binary = [op for op in ops_ if op.nargs == 2]
    choices = unary + binary
    if not choices:
        raise ValueError("expressions needs at least one unary or binary op")
    n_ops = draw(st.integers(1, max_ops))
    nodes: list[tuple[Op, tuple[int, ...]]] = []
    for k in range(n_ops):
        op = draw(st.sampled_from(choices))
        last = n_leaves + k - 1  # the newest node: building on it keeps the DAG connected
        operand = st.integers(0, n_leaves + k - 1)
        first = last if k > 0 and draw(st.booleans()) else draw(operand)
        idx = (first,) if op.nargs == 1 else (first, draw(operand))
        nodes.append((op, idx))
    return Expression(n_leaves, nodes)


def expressions(
    n_leaves: int = 3, max_ops: int = 8, ops: Sequence[Op] | None = None
) -> st.SearchStrategy[Expression]:
    """Random expressions over `n_leaves` inputs with up to `max_ops` ops.

    Operands are drawn among the inputs and all earlier nodes, so a
    sub-expression is often used twice (its gradient must accumulate).
    `ops` defaults to `SMOOTH_OPS`, which are defined everywhere.
    """
    if n_leaves < 1 or max_ops < 1:
        raise ValueError("expressions needs n_leaves >= 1 and max_ops >= 1")
    return _expression(n_leaves, max_ops, tuple(ops) if ops is not None else SMOOTH_OPS)
