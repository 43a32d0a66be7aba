"""The op table: every built-in operation, its forward rule and its derivative side by side.

Each op is declared with the public `@custom_op` mechanism, exactly as a user
would declare one. A derivative rule `rule(g, ans, *args)` returns
`g * d(op)/d(arg)`. Forwards and rules are written once, branch-free, with the
primitives of `autograd.trace` (`where`, `eq`, `exp`, ...) and Python's
operators, so that the same body runs on floats (the eager passes), on Values
(`backward(create_graph=True)` records the rule as a graph: higher orders come
for free), on numpy arrays and on the tracer's symbols (`compile` writes the
traced expressions out as code). A domain check, where an op has one, is a
float-only guard at the top of the forward: the error messages come from
there, and the other interpreters skip it. Every op here is also a plain
function: `ops.cos(0.5)` returns a float, `ops.cos(Value(0.5))` a Value.

Written for `where`: both branches are computed before one is chosen, so a
branch that cannot run at some points guards its operands itself
(`log(where(x > 0.0, x, 1.0))`), and `==` is `eq` (on a Value `==` is identity).
"""

from __future__ import annotations

import builtins
import math
from collections.abc import Iterable, Sequence
from operator import mul as _fmul
from typing import Any

from autograd import trace as _t
from autograd.engine import Value
from autograd.opdef import Op as Op
from autograd.opdef import custom_op as custom_op
from autograd.trace import eq, ne, where

_INF = math.inf
_NAN = math.nan


# --- arithmetic -------------------------------------------------------------


@custom_op(symbol="+")
def add(x: Any, y: Any) -> Any:
    """x + y."""
    return x + y


add.defvjp(
    lambda g, ans, x, y: g,  # d/dx (x + y) = 1
    lambda g, ans, x, y: g,  # d/dy (x + y) = 1
)


@custom_op(symbol="-")
def sub(x: Any, y: Any) -> Any:
    """x - y."""
    return x - y


sub.defvjp(
    lambda g, ans, x, y: g,  # d/dx (x - y) = 1
    lambda g, ans, x, y: -g,  # d/dy (x - y) = -1
)


@custom_op(symbol="*")
def mul(x: Any, y: Any) -> Any:
    """x * y."""
    return x * y


mul.defvjp(
    lambda g, ans, x, y: g * y,  # d/dx (x y) = y
    lambda g, ans, x, y: g * x,  # d/dy (x y) = x
)


@custom_op(symbol="/", kinks=(0.0,))
def div(x: Any, y: Any) -> Any:
    """x / y; y must be nonzero."""
    if type(y) is float and y == 0.0 and type(x) is float:
        raise ZeroDivisionError(f"division by zero in {x!r} / {y!r}; the divisor must be nonzero")
    return x / y


div.defvjp(
    lambda g, ans, x, y: g / y,  # d/dx (x / y) = 1 / y
    lambda g, ans, x, y: -g * ans / y,  # d/dy (x / y) = -x / y^2 = -ans / y
)


@custom_op(symbol="neg")
def neg(x: Any) -> Any:
    """-x."""
    return -x


neg.defvjp(lambda g, ans, x: -g)  # d/dx (-x) = -1


def _pow_check(x: float, y: float) -> None:
    """pow's domain, for floats whose IEEE power is not finite: raise the op's error."""
    if -_INF < x < 0.0 and math.isfinite(y) and not y.is_integer():
        raise ValueError(
            f"pow is undefined for a negative base to a non-integer power: {x!r} ** {y!r}; "
            "the result would be complex"
        )
    if x == 0.0 and y < 0.0:
        raise ZeroDivisionError(
            f"pow divides by zero in {x!r} ** {y!r}; a zero base needs an exponent >= 0"
        )
    if math.isfinite(x) and math.isfinite(y):
        raise OverflowError(
            f"pow overflows in {x!r} ** {y!r}; the result exceeds the largest float"
        )


@custom_op(symbol="**", domain=(0.0, _INF))
def pow(x: Any, y: Any) -> Any:
    """x ** y; a finite negative base needs an integer exponent, a zero base a non-negative one.

    Infinite or NaN operands give C's (and PyTorch's) limits: (-inf) ** 0.5 = inf,
    (-2) ** inf = inf, (-2) ** nan = nan.
    """
    r = _t.pow(x, y)
    if type(r) is float and r - r != 0.0 and type(x) is float and type(y) is float:
        _pow_check(x, y)  # r is inf or NaN: an error unless the operands explain it
    return r


def _pow_dx(g: Any, ans: Any, x: Any, y: Any) -> Any:
    """d/dx x^y = y x^(y-1)   (infinite at x = 0 when 0 < y < 1)

    Where x^(y-1) exceeds the largest float (x = 1e-200, y = -1) the derivative
    is that infinity, as in PyTorch and as numpy gives it in a compiled batch:
    an overflowing product of finite factors is inf throughout backward, and
    `detect_anomaly()` names the op.
    """
    pole = eq(x, 0.0) & (y < 1.0)
    power = _t.pow(where(pole, 1.0, x), y - 1.0)  # IEEE pow: overflow is +-inf
    return where(eq(y, 0.0), 0.0, where(pole, g * _INF, g * (y * power)))


def _pow_dy(g: Any, ans: Any, x: Any, y: Any) -> Any:
    """d/dy x^y = x^y log(x)   (0 at x = 0; undefined, NaN, for a negative base)"""
    positive = x > 0.0
    logx = _t.log(where(positive, x, 1.0))
    return where(positive, g * ans * logx, where(eq(x, 0.0), 0.0, g * _NAN))


pow.defvjp(_pow_dx, _pow_dy)


@custom_op(symbol="abs", kinks=(0.0,))
def abs(x: Any) -> Any:
    """|x|."""
    return _t.fabs(x)


# d/dx |x| = sign(x), 0 at 0 and at NaN; the masked side passes exactly 0 whatever g is
abs.defvjp(lambda g, ans, x: where(x > 0.0, g, where(x < 0.0, -g, 0.0)))


# --- elementary functions ---------------------------------------------------


@custom_op
def exp(x: Any) -> Any:
    """e^x."""
    try:
        return _t.exp(x)
    except OverflowError:
        raise OverflowError(
            f"exp overflows for x = {x!r}; the result exceeds the largest float "
            "(x must be <= 709.78)"
        ) from None


exp.defvjp(lambda g, ans, x: g * ans)  # d/dx e^x = e^x


@custom_op(domain=(0.0, _INF))
def log(x: Any) -> Any:
    """Natural logarithm of x > 0."""
    if type(x) is float and x <= 0.0:
        raise ValueError(f"log is undefined for x = {x!r}; inputs must be > 0")
    return _t.log(x)


log.defvjp(lambda g, ans, x: g / x)  # d/dx log x = 1 / x


@custom_op(domain=(0.0, _INF))
def sqrt(x: Any) -> Any:
    """Square root of x >= 0."""
    if type(x) is float and x < 0.0:
        raise ValueError(f"sqrt is undefined for x = {x!r}; inputs must be >= 0")
    return _t.sqrt(x)


@sqrt.defvjp
def _sqrt_vjp(g: Any, ans: Any, x: Any) -> Any:
    """d/dx sqrt x = 1 / (2 sqrt x), infinite at 0"""
    nonzero = ne(ans, 0.0)
    return where(nonzero, g / (2.0 * where(nonzero, ans, 1.0)), g * _INF)


def _finite(name: str, x: Any) -> Any:
    """x, or a ValueError naming the op for an infinite float x (sin and cos have no limit)."""
    if type(x) is float and math.isinf(x):
        raise ValueError(f"{name} is undefined for x = {x!r}; inputs must be finite")
    return x


@custom_op
def sin(x: Any) -> Any:
    """sin x of a finite x (NaN gives NaN)."""
    return _t.sin(_finite("sin", x))


@sin.defvjp
def _sin_vjp(g: Any, ans: Any, x: Any) -> Any:
    """d/dx sin x = cos x"""
    return g * _t.cos(x)


@custom_op
def cos(x: Any) -> Any:
    """cos x of a finite x (NaN gives NaN)."""
    return _t.cos(_finite("cos", x))


@cos.defvjp
def _cos_vjp(g: Any, ans: Any, x: Any) -> Any:
    """d/dx cos x = -sin x"""
    return -g * _t.sin(x)


# --- activations --------------------------------------------------------------


@custom_op
def tanh(x: Any) -> Any:
    """Hyperbolic tangent (math.tanh saturates to +-1 without overflow)."""
    return _t.tanh(x)


tanh.defvjp(lambda g, ans, x: g * (1.0 - ans * ans))  # d/dx tanh x = 1 - tanh(x)^2


@custom_op
def sigmoid(x: Any) -> Any:
    """1 / (1 + e^-x) for x >= 0, e^x / (1 + e^x) below: e^-|x| never overflows."""
    e = _t.exp(-_t.fabs(x))
    return where(x >= 0.0, 1.0 / (1.0 + e), e / (1.0 + e))


sigmoid.defvjp(lambda g, ans, x: g * ans * (1.0 - ans))  # d/dx s(x) = s(x) (1 - s(x))


@custom_op(kinks=(0.0,))
def relu(x: Any) -> Any:
    """max(0, x); NaN stays NaN (so a loss on NaN outputs is NaN, not 0)."""
    return where(x <= 0.0, 0.0, x)


# d/dx relu x = [x > 0]: 0 at 0, and g at NaN, as PyTorch (NaN <= 0 is false). The masked
# side is exactly 0, not g * 0: an infinite upstream gradient must not become NaN there.
relu.defvjp(lambda g, ans, x: where(x <= 0.0, 0.0, g))


@custom_op(kinks=(0.0,))
def leaky_relu(x: Any, slope: Any) -> Any:
    """x if x > 0 else slope * x (NaN gives NaN)."""
    return where(x > 0.0, x, slope * x)


leaky_relu.defvjp(
    # d/dx = 1 or slope (slope at 0); a zero slope masks exactly, as relu does
    lambda g, ans, x, slope: where(x > 0.0, g, where(eq(slope, 0.0), 0.0, g * slope)),
    lambda g, ans, x, slope: where(x > 0.0, 0.0, g * x),  # d/dslope = 0 or x
)


@custom_op
def softplus(x: Any) -> Any:
    """log(1 + e^x) = max(x, 0) + log1p(e^-|x|), which never overflows.

    Exact everywhere; PyTorch's F.softplus instead returns x itself above its
    threshold of 20, which differs from this by less than 2.1e-9.
    """
    return where(x > 0.0, x, 0.0) + _t.log1p(_t.exp(-_t.fabs(x)))


_sigmoid = _t.lift(sigmoid)
softplus.defvjp(lambda g, ans, x: g * _sigmoid(x))  # d/dx softplus x = sigmoid x


# --- n-ary ops: one node for a whole sum or dot product ------------------------


def _total(terms: Sequence[Any]) -> Any:
    """t0 + t1 + ... + tn, added in that order (builtins.sum's speed, no 0 to start from)."""
    return builtins.sum(terms[1:], terms[0]) if terms else 0.0


@custom_op(name="sum")
def _sum(*xs: Any) -> Any:
    """x0 + x1 + ... + xn."""
    return _total(xs)


_sum.defvjp_all(lambda g, ans, *xs: [g] * len(xs))  # d/dxi sum = 1


@custom_op(name="dot")
def _dot(*wx: Any) -> Any:
    """w0 x0 + ... + wn xn, operands given as w0..wn, x0..xn."""
    n = len(wx) // 2
    if not n:
        return 0.0
    return builtins.sum(map(_fmul, wx[1:n], wx[n + 1 :]), wx[0] * wx[n])


@_dot.defvjp_all
def _dot_vjp(g: Any, ans: Any, *wx: Any) -> list[Any]:
    """d/dwi (w . x) = xi,  d/dxi (w . x) = wi"""
    n = len(wx) // 2
    return [g * x for x in wx[n:]] + [g * w for w in wx[:n]]


def _largest(xs: Sequence[Any]) -> Any:
    """The largest of xs, as a chain of comparisons (NaN operands are passed over)."""
    m = xs[0]
    for x in xs[1:]:
        m = where(x > m, x, m)
    return m


def _lse_parts(xs: Sequence[Any]) -> tuple[Any, Any, list[Any]]:
    """(logsumexp(xs), whether the largest is infinite, e^(xi - m) for each i).

    m is the largest xi: e^(xi - m) <= 1 never overflows and their sum is >= 1;
    the sum is math.fsum, correctly rounded, so the same in any order of the xi
    (each share of softmax, a node of its own, lists them in another order).
    Where m is infinite there is no finite shift: logsumexp is m itself (+inf
    for any +inf, -inf when all are -inf), or NaN when a NaN is among them.
    """
    m = _largest(xs)
    es = [_t.exp(x - m) for x in xs]
    infinite = eq(_t.fabs(m), _INF)
    nans = _total([where(ne(x, x), _NAN, 0.0) for x in xs])
    return where(infinite, m + nans, m + _t.log(_t.fsum(es))), infinite, es


@custom_op(name="logsumexp")
def _logsumexp(*xs: Any) -> Any:
    """log(e^x0 + ... + e^xn), computed as m + log(sum e^(xi - m)) with m the largest xi."""
    return _lse_parts(xs)[0]


def _shares(xs: Sequence[Any]) -> list[Any]:
    """softmax(x)_i = e^(xi - m) / sum_j e^(xj - m) for every i, m the largest xi.

    Shifting by m, not by logsumexp(x), keeps xi - m exact for close values of
    any magnitude (xi - lse would carry lse's rounding, 0.125 at 1e15). Where m
    is infinite: e^(xi - lse), which is PyTorch's NaN/0 pattern. On floats,
    arrays and symbols alike.
    """
    top, infinite, es = _lse_parts(xs)
    total = _t.fsum(es)
    return [where(infinite, _t.exp(x - top), e / total) for x, e in zip(xs, es)]


@custom_op(name="softmax")
def softmax_share(*xs: Any) -> Any:
    """softmax(x)_0 = e^x0 / (e^x0 + ... + e^xn): the first operand's share."""
    return _shares(xs)[0]


def _softmaxes(xs: Sequence[Any]) -> list[Any]:
    """Every component of softmax(xs): computed in one pass, or for Values one node each."""
    if not builtins.any(isinstance(x, Value) for x in xs):
        return _shares(xs)
    return [softmax_share(xs[i], *xs[:i], *xs[i + 1 :]) for i in range(len(xs))]


@softmax_share.defvjp_all
def _softmax_vjp(g: Any, ans: Any, *xs: Any) -> list[Any]:
    """d s0/dx0 = s0 (s1 + ... + sn),  d s0/dxj = -s0 sj   (s = softmax(x), s0 = ans)

    The complement 1 - s0 is the sum of the other shares, each computed from its
    own exponent: no cancellation when s0 is near 1, so every order stays exact.
    """
    if len(xs) == 1:  # softmax of one number is 1
        return [g * 0.0]
    rest = _softmaxes(xs)[1:]
    shares = g * ans
    others = sum(rest) if builtins.any(isinstance(s, Value) for s in rest) else _total(rest)
    return [shares * others] + [-shares * s for s in rest]


# d/dxi logsumexp = softmax(x)_i, each share an op of its own so that higher
# derivatives (through softmax's rule) never subtract nearly equal numbers.
_logsumexp.defvjp_all(lambda g, ans, *xs: [g * s for s in _softmaxes(xs)])


@custom_op(name="input")
def identity(x: Any) -> Any:
    """x itself, as a new node: a functional transform's own handle on a Value argument."""
    return x


identity.defvjp(lambda g, ans, x: g)  # d/dx x = 1


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
#: (softmax_share and identity are built in too, but not part of the table.)
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


# --- a neuron as one op: w . x + b and its activation in one node -----------------------

#: The activations a neuron op can carry (None: a linear neuron).
NEURON_ACTIVATIONS: dict[str | None, Op | None] = {
    None: None,
    "relu": relu,
    "tanh": tanh,
    "sigmoid": sigmoid,
}


def _neuron_op(act: Op | None) -> Op:
    """The neuron op for one activation: `act(w . x + b)`, operands w0..wn-1, b, x0..xn-1."""
    name = f"{act.name}_neuron" if act is not None else "linear_neuron"

    def forward(*wbx: Any) -> Any:
        n = len(wbx) // 2
        z = _dot(*wbx[:n], *wbx[n + 1 :]) + wbx[n]
        return z if act is None else act(z)

    forward.__name__ = forward.__qualname__ = name
    forward.__doc__ = f"{act.name if act else 'identity'}(w . x + b), operands w, b, x."
    op = Op(forward, name=name, symbol=f"{act.name}(w·x+b)" if act else "w·x+b")

    @op.defvjp_all
    def _neuron_vjp(g: Any, ans: Any, *wbx: Any) -> list[Any]:
        """d/dz act(z) by the activation's own rule; then dot's: d/dw = x, d/dx = w; d/db = 1"""
        n = len(wbx) // 2
        ws, b, xs = wbx[:n], wbx[n], wbx[n + 1 :]
        gz = g if act is None else _one_rule(act)(g, ans, dot(ws, xs) + b)
        shares = _dot_vjp(gz, None, *ws, *xs)  # [gz x...] + [gz w...]
        return [*shares[:n], gz, *shares[n:]]

    return op


def _one_rule(op: Op) -> Any:
    """A one-argument op's derivative rule."""
    assert op.vjps is not None
    return op.vjps[0]


#: The neuron ops by activation; module-level names so they pickle by reference.
NEURONS: dict[str | None, Op] = {key: _neuron_op(act) for key, act in NEURON_ACTIVATIONS.items()}
linear_neuron, relu_neuron = NEURONS[None], NEURONS["relu"]
tanh_neuron, sigmoid_neuron = NEURONS["tanh"], NEURONS["sigmoid"]

#: Every op defined in this module (the fast paths trust their rules' results to be floats).
BUILTINS: frozenset[Op] = frozenset([*OPS.values(), softmax_share, identity, *NEURONS.values()])
