"""The op table: every built-in operation, its forward rule and its derivative side by side.

Each op is declared with the public `@custom_op` mechanism, exactly as a user
would declare one. A derivative rule `rule(g, ans, *args)` returns
`g * d(op)/d(arg)`, written with differentiable operations: called with floats
during an ordinary backward pass it computes numbers; called with Values under
`backward(create_graph=True)` it records a graph, which is how higher-order
derivatives come for free. Every op here is also a plain function:
`ops.cos(0.5)` returns a float, `ops.cos(Value(0.5))` a Value.
"""

from __future__ import annotations

import builtins
import math
from collections.abc import Iterable, Sequence
from operator import mul as _fmul
from typing import Any

from autograd import engine as _engine
from autograd.engine import Value
from autograd.opdef import Op, custom_op

_INF = math.inf


def _f(x: Any) -> float:
    """The number inside x, for branching (a Value's == is identity, so compare floats)."""
    return x.data if isinstance(x, Value) else float(x)


# --- arithmetic -------------------------------------------------------------


@custom_op(symbol="+")
def add(x: float, y: float) -> float:
    """x + y."""
    return x + y


add.defvjp(
    lambda g, ans, x, y: g,  # d/dx (x + y) = 1
    lambda g, ans, x, y: g,  # d/dy (x + y) = 1
)


@custom_op(symbol="-")
def sub(x: float, y: float) -> float:
    """x - y."""
    return x - y


sub.defvjp(
    lambda g, ans, x, y: g,  # d/dx (x - y) = 1
    lambda g, ans, x, y: -g,  # d/dy (x - y) = -1
)


@custom_op(symbol="*")
def mul(x: float, y: float) -> float:
    """x * y."""
    return x * y


mul.defvjp(
    lambda g, ans, x, y: g * y,  # d/dx (x y) = y
    lambda g, ans, x, y: g * x,  # d/dy (x y) = x
)


@custom_op(symbol="/", kinks=(0.0,))
def div(x: float, y: float) -> float:
    """x / y; y must be nonzero."""
    if y == 0.0:
        raise ZeroDivisionError(f"division by zero in {x!r} / {y!r}; the divisor must be nonzero")
    return x / y


div.defvjp(
    lambda g, ans, x, y: g / y,  # d/dx (x / y) = 1 / y
    lambda g, ans, x, y: -g * ans / y,  # d/dy (x / y) = -x / y^2 = -ans / y
)


@custom_op(symbol="neg")
def neg(x: float) -> float:
    """-x."""
    return -x


neg.defvjp(lambda g, ans, x: -g)  # d/dx (-x) = -1


@custom_op(symbol="**", domain=(0.0, _INF))
def pow(x: float, y: float) -> float:
    """x ** y; a finite negative base needs an integer exponent, a zero base a non-negative one.

    Infinite or NaN operands give C's (and PyTorch's) limits: (-inf) ** 0.5 = inf,
    (-2) ** inf = inf, (-2) ** nan = nan.
    """
    if -_INF < x < 0.0 and math.isfinite(y) and not y.is_integer():
        raise ValueError(
            f"pow is undefined for a negative base to a non-integer power: {x!r} ** {y!r}; "
            "the result would be complex"
        )
    if x == 0.0 and y < 0.0:
        raise ZeroDivisionError(
            f"pow divides by zero in {x!r} ** {y!r}; a zero base needs an exponent >= 0"
        )
    try:
        return float(x**y)
    except OverflowError:
        raise OverflowError(
            f"pow overflows in {x!r} ** {y!r}; the result exceeds the largest float"
        ) from None


def _pow_dx(g: Any, ans: Any, x: Any, y: Any) -> Any:
    """d/dx x^y = y x^(y-1)   (infinite at x = 0 when 0 < y < 1)

    Where x^(y-1) exceeds the largest float (x = 1e-200, y = -1) the derivative
    is that infinity, as in PyTorch and as numpy gives it in a compiled batch:
    an overflowing product of finite factors is inf throughout backward, and
    `detect_anomaly()` names the op.
    """
    xf, yf = _f(x), _f(y)
    if yf == 0.0:
        return g * 0.0
    if xf == 0.0 and yf < 1.0:
        return g * _INF
    try:
        power = xf ** (yf - 1.0)
    except OverflowError:  # Python's ** raises where * and / give inf
        odd = xf < 0.0 and (yf - 1.0) % 2.0 == 1.0
        return g * y * (-_INF if odd else _INF)
    if isinstance(x, Value) or isinstance(y, Value):
        return g * y * x ** (y - 1.0)
    return g * y * power


def _pow_dy(g: Any, ans: Any, x: Any, y: Any) -> Any:
    """d/dy x^y = x^y log(x)   (0 at x = 0; undefined, NaN, for a negative base)"""
    xf = _f(x)
    if xf > 0.0:
        return g * ans * log(x)
    return g * 0.0 if xf == 0.0 else g * math.nan


pow.defvjp(_pow_dx, _pow_dy)


@custom_op(symbol="abs", kinks=(0.0,))
def abs(x: float) -> float:
    """|x|."""
    return builtins.abs(x)


# d/dx |x| = sign(x), 0 at 0 and at NaN (as PyTorch)
abs.defvjp(lambda g, ans, x: g if x > 0.0 else (-g if x < 0.0 else g * 0.0))


# --- elementary functions ---------------------------------------------------


@custom_op
def exp(x: float) -> float:
    """e^x."""
    try:
        return math.exp(x)
    except OverflowError:
        raise OverflowError(
            f"exp overflows for x = {x!r}; the result exceeds the largest float "
            "(x must be <= 709.78)"
        ) from None


exp.defvjp(lambda g, ans, x: g * ans)  # d/dx e^x = e^x


@custom_op(domain=(0.0, _INF))
def log(x: float) -> float:
    """Natural logarithm of x > 0."""
    if x <= 0.0:
        raise ValueError(f"log is undefined for x = {x!r}; inputs must be > 0")
    return math.log(x)


log.defvjp(lambda g, ans, x: g / x)  # d/dx log x = 1 / x


@custom_op(domain=(0.0, _INF))
def sqrt(x: float) -> float:
    """Square root of x >= 0."""
    if x < 0.0:
        raise ValueError(f"sqrt is undefined for x = {x!r}; inputs must be >= 0")
    return math.sqrt(x)


# d/dx sqrt x = 1 / (2 sqrt x), infinite at 0
sqrt.defvjp(lambda g, ans, x: g / (2.0 * ans) if _f(ans) != 0.0 else g * _INF)


def _finite(name: str, x: float) -> float:
    """x itself, or a ValueError naming the op for an infinite x (sin and cos have no limit)."""
    if math.isinf(x):
        raise ValueError(f"{name} is undefined for x = {x!r}; inputs must be finite")
    return x


@custom_op
def sin(x: float) -> float:
    """sin x of a finite x (NaN gives NaN)."""
    return math.sin(_finite("sin", x))


@sin.defvjp
def _sin_vjp(g: Any, ans: Any, x: Any) -> Any:
    """d/dx sin x = cos x"""
    return g * cos(x)


@custom_op
def cos(x: float) -> float:
    """cos x of a finite x (NaN gives NaN)."""
    return math.cos(_finite("cos", x))


@cos.defvjp
def _cos_vjp(g: Any, ans: Any, x: Any) -> Any:
    """d/dx cos x = -sin x"""
    return -g * sin(x)


# --- activations --------------------------------------------------------------


@custom_op
def tanh(x: float) -> float:
    """Hyperbolic tangent (math.tanh saturates to +-1 without overflow)."""
    return math.tanh(x)


tanh.defvjp(lambda g, ans, x: g * (1.0 - ans * ans))  # d/dx tanh x = 1 - tanh(x)^2


@custom_op
def sigmoid(x: float) -> float:
    """1 / (1 + e^-x), never exponentiating a large positive number."""
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


sigmoid.defvjp(lambda g, ans, x: g * ans * (1.0 - ans))  # d/dx s(x) = s(x) (1 - s(x))


@custom_op(kinks=(0.0,))
def relu(x: float) -> float:
    """max(0, x); NaN stays NaN (so a loss on NaN outputs is NaN, not 0)."""
    return 0.0 if x <= 0.0 else x


# d/dx relu x = [x > 0]: 0 at 0, and g at NaN, as PyTorch (NaN <= 0 is false)
relu.defvjp(lambda g, ans, x: g * 0.0 if x <= 0.0 else g)


@custom_op(kinks=(0.0,))
def leaky_relu(x: float, slope: float) -> float:
    """x if x > 0 else slope * x (NaN gives NaN)."""
    return x if x > 0.0 else slope * x


leaky_relu.defvjp(
    lambda g, ans, x, slope: g if x > 0.0 else g * slope,  # d/dx = 1 or slope (slope at 0)
    lambda g, ans, x, slope: g * 0.0 if x > 0.0 else g * x,  # d/dslope = 0 or x
)


@custom_op
def softplus(x: float) -> float:
    """log(1 + e^x) = max(x, 0) + log1p(e^-|x|), which never overflows.

    Exact everywhere; PyTorch's F.softplus instead returns x itself above its
    threshold of 20, which differs from this by less than 2.1e-9.
    """
    return (x if x > 0.0 else 0.0) + math.log1p(math.exp(-builtins.abs(x)))


softplus.defvjp(lambda g, ans, x: g * sigmoid(x))  # d/dx softplus x = sigmoid x


# --- n-ary ops: one node for a whole sum or dot product ------------------------


@custom_op(name="sum")
def _sum(*xs: float) -> float:
    """x0 + x1 + ... + xn."""
    return float(builtins.sum(xs))


_sum.defvjp_all(lambda g, ans, *xs: [g] * len(xs))  # d/dxi sum = 1


@custom_op(name="dot")
def _dot(*wx: float) -> float:
    """w0 x0 + ... + wn xn, operands given as w0..wn, x0..xn."""
    n = len(wx) // 2
    return float(builtins.sum(map(_fmul, wx[:n], wx[n:])))


@_dot.defvjp_all
def _dot_vjp(g: Any, ans: Any, *wx: Any) -> list[Any]:
    """d/dwi (w . x) = xi,  d/dxi (w . x) = wi"""
    n = len(wx) // 2
    return [g * x for x in wx[n:]] + [g * w for w in wx[:n]]


@custom_op(name="logsumexp")
def _logsumexp(*xs: float) -> float:
    """log(e^x0 + ... + e^xn), computed as m + log(sum e^(xi - m)) with m the largest xi."""
    m = builtins.max(xs)
    if math.isinf(m):  # all -inf: log 0 = -inf; any +inf: +inf; unless there is a NaN
        return math.nan if builtins.any(x != x for x in xs) else float(m)
    return m + math.log(builtins.sum([math.exp(x - m) for x in xs]))


def _softmax_floats(xs: Sequence[float]) -> list[float]:
    """softmax(x)_i = e^(xi - m) / sum_j e^(xj - m) for every i, m the largest xi.

    Shifting by m, not by logsumexp(x), keeps xi - m exact for close values of
    any magnitude (xi - lse would carry lse's rounding, 0.125 at 1e15). The sum
    is math.fsum: correctly rounded, so independent of the operands' order.
    """
    m = builtins.max(xs)
    if math.isinf(m):  # no finite shift: e^(xi - lse), which is PyTorch's NaN/0 pattern
        top = _logsumexp.forward(*xs)
        return [math.exp(x - top) for x in xs]
    es = [math.exp(x - m) for x in xs]
    total = math.fsum(es)
    return [e / total for e in es]


@custom_op(name="softmax")
def _softmax(*xs: float) -> float:
    """softmax(x)_0 = e^x0 / (e^x0 + ... + e^xn): the first operand's share."""
    return _softmax_floats(xs)[0]


def _softmaxes(xs: Sequence[Any]) -> list[Any]:
    """Every component of softmax(xs): floats in one pass, Values as one node each."""
    if not builtins.any(isinstance(x, Value) for x in xs):
        return _softmax_floats([_f(x) for x in xs])
    return [_softmax(xs[i], *xs[:i], *xs[i + 1 :]) for i in range(len(xs))]


@_softmax.defvjp_all
def _softmax_vjp(g: Any, ans: Any, *xs: Any) -> list[Any]:
    """d s0/dx0 = s0 (s1 + ... + sn),  d s0/dxj = -s0 sj   (s = softmax(x), s0 = ans)

    The complement 1 - s0 is the sum of the other shares, each computed from its
    own exponent: no cancellation when s0 is near 1, so every order stays exact.
    """
    if len(xs) == 1:  # softmax of one number is 1
        return [g * 0.0]
    rest = _softmaxes(xs)[1:]
    shares = g * ans
    return [shares * sum(rest)] + [-shares * s for s in rest]


# d/dxi logsumexp = softmax(x)_i, each share an op of its own so that higher
# derivatives (through softmax's rule) never subtract nearly equal numbers.
_logsumexp.defvjp_all(lambda g, ans, *xs: [g * s for s in _softmaxes(xs)])


@custom_op(name="input")
def _input(x: float) -> float:
    """x itself, as a new node: a functional transform's own handle on a Value argument."""
    return x


_input.defvjp(lambda g, ans, x: g)  # d/dx x = 1


def sum(values: Iterable[Any]) -> Any:
    """Sum of numbers or Values as one graph node (not a chain of additions).

    Returns a float when no Value is among them, and 0.0 for an empty input.
    """
    vals = tuple(values)
    return _sum(*vals) if vals else 0.0


def dot(ws: Sequence[Any], xs: Sequence[Any]) -> Any:
    """Dot product of two equal-length sequences as one graph node.

    Either side may hold floats or Values; this is a neuron's weighted sum.
    """
    if len(ws) != len(xs):
        raise ValueError(f"dot needs sequences of equal length, got {len(ws)} and {len(xs)}")
    return _dot(*ws, *xs) if ws else 0.0


def logsumexp(values: Iterable[Any]) -> Any:
    """``log(sum(exp(v) for v in values))`` as one graph node, exact for large |v|.

    The largest value is taken out before exponentiating, inside the op, so the
    shift follows the values at every evaluation (also in a compiled program).
    Its derivative is the softmax of the values.
    """
    vals = tuple(values)
    if not vals:
        raise ValueError("logsumexp of an empty sequence (the result would be -inf)")
    return _logsumexp(*vals)


#: Every built-in op by name: the table the tests check property by property.
OPS: dict[str, Op] = {
    op.name: op
    for op in (
        add,
        sub,
        mul,
        div,
        neg,
        pow,
        abs,
        exp,
        log,
        sqrt,
        sin,
        cos,
        tanh,
        sigmoid,
        relu,
        leaky_relu,
        softplus,
        _sum,
        _dot,
        _logsumexp,
    )
}

# Bind Value's operators to this table (see the end of autograd/engine.py).
_engine._add, _engine._sub, _engine._mul, _engine._div = add, sub, mul, div
_engine._pow, _engine._neg, _engine._abs = pow, neg, abs
