"""One rule, many interpreters: each op's forward and rules agree on floats, Values, arrays, code.

Each built-in op (and a custom op written the same way) is run at the same
points under five interpreters: plain floats (the eager pass), Values (the
`.data` of what `backward(create_graph=True)` records), numpy arrays
elementwise, and the traced expressions written out as float code and as
numpy code (what `compile` emits). They must agree exactly, bit for bit
(NaN with NaN), at kinks, zeros of either sign, infinities and NaN too. The
one allowance: numpy's own exp, log, tanh, sin, cos, log1p and power differ
from the C library's (math's) by an ulp at some points, so the two numpy
interpreters of the ops that call them may differ by a few ulps
(`NUMPY_ULPS`); the arithmetic ops and relu-like ones agree bit for bit there too.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autograd import Value, compile, custom_op, emit, fastpaths, ops
from autograd import trace as tr
from autograd.engine import Op
from autograd.testing import points, seeds

SPECIAL = [
    0.0,
    -0.0,
    1.0,
    -1.0,
    0.5,
    2.0,
    -2.5,
    1e-300,
    700.0,
    -750.0,
    math.inf,
    -math.inf,
    math.nan,
]


# --- a custom op written like the built-ins, and one with a Python `if` ------------------


@custom_op(kinks=(-1.0, 1.0))
def huber(x: Any) -> Any:
    """x^2 / 2 inside [-1, 1], |x| - 1/2 outside."""
    return tr.where(abs(x) <= 1.0, 0.5 * x * x, abs(x) - 0.5)


huber.defvjp(lambda g, ans, x: tr.where(abs(x) <= 1.0, g * x, tr.where(x > 0.0, g, -g)))


@custom_op(kinks=(0.0,))
def branchy(x: float) -> float:
    """A forward and rule written with `if`: the tracer cannot follow them."""
    if x > 0.0:
        return x * x
    return math.sin(x)


branchy.defvjp(lambda g, ans, x: g * 2.0 * x if x > 0.0 else g * math.cos(x))


CASES: dict[str, Op] = {
    **ops.OPS,
    "softmax": ops.softmax_share,
    "input": ops.identity,
    "huber": huber,
}


def _arity(op: Op) -> int:
    return op.nargs if op.nargs >= 0 else 4  # dot: w0, w1, x0, x1


# --- the interpreters ----------------------------------------------------------------------


def _floats(op: Op, row: Sequence[float], g: float) -> tuple[float, list[float]]:
    ans = op.forward(*row)
    return ans, _rules(op, [g, ans, *row])


def _rules(op: Op, args: Sequence[Any]) -> list[Any]:
    if op.vjp_all is not None:
        return list(op.vjp_all(*args))
    assert op.vjps is not None
    return [rule(*args) for rule in op.vjps]


def _values(op: Op, row: Sequence[float], g: float) -> tuple[float, list[float]]:
    vs = [Value(x) for x in row]
    out = op(*vs)
    ans = out.data
    grads = _rules(op, [Value(g), Value(ans), *vs])
    return ans, [d.data if isinstance(d, Value) else float(d) for d in grads]


def _arrays(
    op: Op, rows: Sequence[Sequence[float]], gs: Sequence[float], answers: Sequence[float]
) -> tuple[Any, list[Any]]:
    """Forward and rules on arrays; the rules get the same `ans` as the other interpreters."""
    cols = [np.array(c, dtype=np.float64) for c in zip(*rows)]
    with np.errstate(all="ignore"):
        ans = np.broadcast_to(op.forward(*cols), (len(rows),))
        grads = _rules(op, [np.array(gs), np.array(answers), *cols])
    return ans, [np.broadcast_to(d, (len(rows),)) for d in grads]


_CODE: dict[tuple[str, bool], tuple[Callable[..., Any], list[Callable[..., Any]]]] = {}


def _code(name: str, numpy: bool) -> tuple[Callable[..., Any], list[Callable[..., Any]]]:
    """The op's forward and rules traced and written out as Python: floats or numpy."""
    key = (name, numpy)
    if key not in _CODE:
        op = CASES[name]
        n = _arity(op)
        forward = emit.function(op.forward, n, numpy=numpy, strict=False)
        if op.vjp_all is not None:
            both = emit.function(op.vjp_all, n, rule=True, variadic=True, numpy=numpy)
            rules = [lambda *a, k=k: both(*a)[k] for k in range(n)]  # type: ignore[misc]
        else:
            assert op.vjps is not None
            rules = [emit.function(r, n, rule=True, numpy=numpy) for r in op.vjps]
        _CODE[key] = (forward, rules)
    return _CODE[key]


# --- comparing ------------------------------------------------------------------------------

#: Ops whose numpy code and numpy-array forward call no transcendental function: these
#: agree with the float interpreters bit for bit in every mode.
EXACT_IN_NUMPY = {"add", "sub", "mul", "div", "neg", "abs", "relu", "leaky_relu", "sum", "dot"}
EXACT_IN_NUMPY |= {"input", "huber"}

#: The others call np.exp, np.log, np.log1p, np.tanh, np.sin, np.cos or np.power, which
#: numpy computes with its own (SIMD) code, not the C library's: each may differ from
#: math's by an ulp, and a rule that combines several (softmax: e^a / sum e^b) by a few.
NUMPY_ULPS = 4

#: The largest difference seen per op, in ulps (filled while the tests run).
SEEN_ULPS: dict[str, int] = {}


def _bits(x: float) -> str:
    return "nan" if math.isnan(x) else float(x).hex()


def _same(a: float, b: float) -> bool:
    return _bits(a) == _bits(b)


def _near(name: str, a: float, b: float) -> bool:
    """Bit for bit, or within NUMPY_ULPS ulps for an op whose numpy code is transcendental."""
    if _same(a, b):
        return True
    if name in EXACT_IN_NUMPY or not (math.isfinite(a) and math.isfinite(b)):
        return False
    ulps = round(abs(a - b) / math.ulp(max(abs(a), abs(b))))
    SEEN_ULPS[name] = max(SEEN_ULPS.get(name, 0), ulps)
    return ulps <= NUMPY_ULPS


def check_point(name: str, rows: list[list[float]], gs: list[float]) -> None:
    """All interpreters agree on the op's value and every gradient at each row."""
    op = CASES[name]
    kept: list[tuple[list[float], float, float, list[float]]] = []
    for row, g in zip(rows, gs):
        try:
            ans, grads = _floats(op, row, g)
        except (ValueError, ZeroDivisionError, OverflowError):
            continue  # outside the op's domain: the forward refuses it in every mode
        kept.append((row, g, ans, [float(d) for d in grads]))
        v_ans, v_grads = _values(op, row, g)
        where = f"{name}{tuple(row)} g={g}"
        assert _same(v_ans, ans), (where, "values forward", v_ans, ans)
        for k, (a, b) in enumerate(zip(v_grads, grads)):
            assert _same(a, b), (where, f"values rule {k}", a, b)
        fwd, rules = _code(name, numpy=False)
        assert _same(fwd(*row), ans), (where, "float code forward", fwd(*row), ans)
        for k, rule in enumerate(rules):
            got = rule(g, ans, *row)
            assert _same(got, grads[k]), (where, f"float code rule {k}", got, grads[k])
        float_vjps = getattr(op, "float_vjps", None)
        for k, rule in enumerate(float_vjps or ()):
            got = rule(g, ans, *row)
            assert _same(got, grads[k]), (where, f"op.float_vjps[{k}]", got, grads[k])
        float_forward = getattr(op, "float_forward", None)
        if float_forward is not None:
            assert _same(float_forward(*row), ans), (where, "op.float_forward")
    if not kept:
        return
    rows = [r for r, _, _, _ in kept]
    gs = [g for _, g, _, _ in kept]
    a_ans, a_grads = _arrays(op, rows, gs, [a for _, _, a, _ in kept])
    fwd, rules = _code(name, numpy=True)
    cols = [np.array(c, dtype=np.float64) for c in zip(*rows)]
    with np.errstate(all="ignore"):
        c_ans = np.broadcast_to(fwd(*cols), (len(rows),))
        c_grads = [
            np.broadcast_to(
                r(np.array(gs), np.array([a for _, _, a, _ in kept]), *cols), (len(rows),)
            )
            for r in rules
        ]
    for e, (row, g, ans, grads) in enumerate(kept):
        where = f"{name}{tuple(row)} g={g}"
        assert _near(name, float(a_ans[e]), ans), (where, "arrays forward", a_ans[e], ans)
        assert _near(name, float(c_ans[e]), ans), (where, "numpy code forward", c_ans[e], ans)
        for k in range(len(grads)):
            assert _near(name, float(a_grads[k][e]), grads[k]), (where, f"arrays rule {k}")
            assert _near(name, float(c_grads[k][e]), grads[k]), (where, f"numpy code rule {k}")


@pytest.mark.parametrize("name", sorted(CASES))
def test_special_points_agree_in_every_interpreter(name: str) -> None:
    op = CASES[name]
    n = _arity(op)
    rows = [list(r) for r in itertools.product(SPECIAL, repeat=n)] if n <= 2 else []
    if n > 2:  # variadic: every special in each position, among ordinary numbers
        rows = [
            [x, 0.5, -1.0, 2.0][-k:] + [x, 0.5, -1.0, 2.0][:-k] for x in SPECIAL for k in range(4)
        ]
        rows += [[x, y, x, y] for x in SPECIAL for y in (math.inf, -math.inf, math.nan)]
    rows += [[k] * n for k in op.kinks]
    gs = [[1.5, -0.75, 0.0, 3.0][i % 4] for i in range(len(rows))]
    check_point(name, rows, gs)


@pytest.mark.parametrize("name", sorted(CASES))
@settings(max_examples=40)
@given(data=st.data())
def test_random_points_agree_in_every_interpreter(name: str, data: st.DataObject) -> None:
    op = CASES[name]
    rows = [list(data.draw(points(op, nargs=_arity(op)))) for _ in range(3)]
    gs = [data.draw(seeds()) for _ in rows]
    check_point(name, rows, gs)


def test_every_builtin_op_traces_and_has_float_rules() -> None:
    fastpaths.build()  # (already built unless TAPEGRAD_REFERENCE=1)
    for name, op in CASES.items():
        n = _arity(op)
        emit.function(op.forward, n)  # raises NotTraceable if it did not trace
        if op.nargs >= 0 and name != "huber":
            assert len(op.float_vjps) == op.nargs, name  # type: ignore[attr-defined]


# --- the slow path ------------------------------------------------------------------------


def test_an_op_with_a_python_if_takes_the_slow_path_with_eager_gradients() -> None:
    with pytest.raises(tr.NotTraceable, match=r"bool\(\)"):
        emit.function(branchy.forward, 1)
    w = Value(0.7, label="w")
    x = Value(1.0, label="x")
    prog = compile(branchy(x * w) * w, [x])
    # the program calls the op's own functions, bound by name, instead of inlining them
    assert "f_branchy_" in prog.source and "f_branchy_vjp0_" in prog.source
    assert not prog.batchable
    with pytest.raises(TypeError, match=r"op 'branchy' cannot run on numpy arrays.*bool\(\)"):
        prog(np.array([1.0, -1.0]))
    for xv in (2.0, -1.5, 0.0, 0.3):
        w.grad = 0.0
        out = prog.backward(xv)
        compiled_grad = w.grad
        w.grad = 0.0
        eager_out = branchy(Value(xv) * w) * w
        eager_out.backward()
        assert out == eager_out.data and compiled_grad == w.grad


def test_a_where_written_custom_op_is_inlined_in_both_variants() -> None:
    w = Value(0.7, label="w")
    x = Value(1.0, label="x")
    prog = compile(huber(x * w), [x])
    assert "huber" not in prog.source and "np.where(" in prog.numpy_source
    xs = np.array([-3.0, -1.0, 0.25, 1.2, 5.0])
    w.grad = 0.0
    out = prog.backward(xs)
    batch_grad = w.grad
    eager_grads = []
    for xv in xs.tolist():
        w.grad = 0.0
        e = huber(Value(xv) * w)
        e.backward()
        assert e.data == out[xs.tolist().index(xv)]
        eager_grads.append(w.grad)
    assert batch_grad == pytest.approx(sum(eager_grads), rel=1e-15)


# --- the primitives themselves -----------------------------------------------------------


def test_symbols_refuse_to_become_numbers_or_bools() -> None:
    s = tr.Sym("var", name="x")
    for convert in (bool, float, int, lambda v: v == 0.0, lambda v: v != 1.0, math.exp, round):
        with pytest.raises(tr.NotTraceable):
            convert(s)
    with pytest.raises(tr.NotTraceable, match="maximum"):
        np.maximum(s, 0.0)
    assert isinstance(np.exp(s), tr.Sym) and isinstance(s < 0.0, tr.Sym)


def test_where_eq_ne_on_each_interpreter() -> None:
    a, b = Value(2.0), Value(2.0)
    assert tr.eq(a, b) is True and tr.ne(a, 3.0) is True and (a == b) is False  # == is identity
    assert tr.where(a.data > 1.0, a, b) is a
    arr = np.array([1.0, math.nan, 3.0])
    assert tr.eq(arr, 1.0).tolist() == [True, False, False]
    assert tr.where(arr > 2.0, arr, -arr).tolist()[2] == 3.0
    s = tr.Sym("var", name="x")
    assert tr.where(True, s, 1.0) is s and tr.where(False, s, 1.0) == 1.0


def test_apply_foreign_computes_the_forward_on_arrays_and_symbols() -> None:
    xs = np.array([-1.0, 0.0, 2.0])
    assert tr.apply_foreign(ops.relu, (xs,)).tolist() == [0.0, 0.0, 2.0]
    assert tr.apply_foreign(ops.leaky_relu, (xs, 0.5)).tolist() == [-0.5, 0.0, 2.0]
    assert isinstance(tr.apply_foreign(ops.tanh, (tr.Sym("var", name="x"),)), tr.Sym)
    with pytest.raises(TypeError, match="operand of tanh"):
        tr.apply_foreign(ops.tanh, ("1.0",))


def test_pow_primitive_is_total_on_floats_and_values() -> None:
    assert tr.fpow(1e-200, -2.0) == math.inf and tr.fpow(-1e-105, -3.0) == -math.inf
    assert math.isnan(tr.fpow(-8.0, 1.0 / 3.0)) and tr.fpow(-0.0, -1.0) == -math.inf
    assert tr.pow(Value(1e-200), -2.0) == math.inf  # the constant, not an OverflowError
    p = tr.pow(Value(2.0), Value(3.0))
    assert isinstance(p, Value) and p.data == 8.0
