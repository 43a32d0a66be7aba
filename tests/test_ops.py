"""The op table: every op's derivative against central differences and against PyTorch."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autograd import GradcheckError, Value, custom_op, grad, gradcheck, ops
from autograd.engine import Op
from autograd.testing import check_op, points, seeds

ALL_OPS = sorted(ops.OPS)


@pytest.mark.parametrize("name", ALL_OPS)
def test_op_derivatives_match_central_differences(name: str) -> None:
    """The one property, over the whole table: first and second order, inside each domain.

    check_op seeds every backward pass with 1, a drawn g != 1 and 0, in the
    plain and in the recorded (create_graph) pass.
    """
    check_op(ops.OPS[name])


def _central(f: Callable[..., Any], xs: list[float], i: int, eps: float = 1e-6) -> float:
    hi, lo = list(xs), list(xs)
    hi[i] += eps
    lo[i] -= eps
    return (float(f(*hi)) - float(f(*lo))) / (2.0 * eps)


def _seeded_close(analytic: Any, seed: float, numeric: float) -> bool:
    """analytic == seed * numeric within gradcheck's default tolerances scaled by the seed."""
    assert isinstance(analytic, float), type(analytic)
    expected = seed * numeric
    return abs(analytic - expected) <= abs(seed) * 1e-5 + 1e-3 * abs(expected)


@pytest.mark.parametrize("name", ALL_OPS)
@given(data=st.data())
def test_op_backward_scales_with_its_seed(name: str, data: st.DataObject) -> None:
    """backward(gradient=g) leaves g * df/dx_i in each .grad, exactly 0 for g = 0; so does
    the second order: a recorded pass seeded g1, then a pass over its result seeded g2."""
    op = ops.OPS[name]
    xs = list(data.draw(points(op)))
    g1, g2 = data.draw(seeds()), data.draw(seeds())
    first = [_central(op, xs, i) for i in range(len(xs))]
    for seed in (g1, 0.0):
        vs = [Value(x) for x in xs]
        op(*vs).backward(gradient=seed)
        for i, v in enumerate(vs):
            assert _seeded_close(v.grad, seed, first[i]), (seed, i, v.grad, first[i])
    for i in range(len(xs)):
        second = [_central(grad(op, argnums=i), xs, j) for j in range(len(xs))]
        for inner, outer in ((g1, g2), (0.0, g2), (g1, 0.0)):
            vs = [Value(x) for x in xs]
            op(*vs).backward(gradient=inner, create_graph=True)
            d_i = vs[i].grad
            assert isinstance(d_i, Value)
            assert _seeded_close(d_i.data, inner, first[i]), (inner, i, d_i.data, first[i])
            for v in vs:
                v.grad = 0.0
            d_i.backward(gradient=outer)
            for j, v in enumerate(vs):
                assert _seeded_close(v.grad, inner * outer, second[j]), (inner, outer, i, j)


@pytest.mark.parametrize("name", ALL_OPS)
@given(data=st.data())
def test_op_on_floats_equals_op_on_values(name: str, data: st.DataObject) -> None:
    op = ops.OPS[name]
    xs = data.draw(points(op))
    plain = op(*xs)
    recorded = op(*map(Value, xs))
    assert type(plain) is float
    assert isinstance(recorded, Value)
    assert recorded.data == plain
    assert recorded._maker is op


def test_gradcheck_catches_a_wrong_rule() -> None:
    @custom_op
    def cube(x: float) -> float:
        return x**3

    cube.defvjp(lambda g, ans, x: g * 3.0 * x)  # wrong: should be 3 x^2
    with pytest.raises(GradcheckError) as info:
        gradcheck(cube, 2.0)
    err = info.value
    assert err.failed == [0]
    assert err.analytic[0] == pytest.approx(6.0)
    assert err.numeric[0] == pytest.approx(12.0, rel=1e-6)
    assert "analytic 6.0" in str(err) and "argument 0" in str(err)


def test_check_op_shrinks_a_wrong_rule_to_a_small_counterexample() -> None:
    @custom_op(kinks=(0.0,))
    def softsign(x: float) -> float:
        return x / (1 + abs(x))

    # right for x < 3, wrong from 3 on: hypothesis must find and shrink to the boundary
    softsign.defvjp(lambda g, ans, x: g / (1 + abs(x)) ** 2 if x < 3 else g / (1 + abs(x)))
    with pytest.raises(GradcheckError, match=r"op 'softsign'.*mismatch at \(3\.0\)"):
        check_op(softsign)


# --- kinks and stability follow PyTorch ---------------------------------------------


def _d(op: Callable[..., Any], *args: float) -> list[float]:
    xs = [Value(a) for a in args]
    op(*xs).backward()
    return [x.grad for x in xs]


def test_derivatives_at_kinks_follow_pytorch() -> None:
    assert _d(ops.relu, 0.0) == [0.0]
    assert _d(ops.abs, 0.0) == [0.0]
    assert _d(ops.leaky_relu, 0.0, 0.2) == [0.2, 0.0]
    assert _d(ops.leaky_relu, -2.0, 0.2) == [0.2, -2.0]


TORCH_UNARY = {
    "neg": "neg",
    "abs": "abs",
    "exp": "exp",
    "log": "log",
    "sqrt": "sqrt",
    "sin": "sin",
    "cos": "cos",
    "tanh": "tanh",
    "sigmoid": "sigmoid",
    "relu": "relu",
    "softplus": "softplus",
}


def _torch() -> Any:
    return pytest.importorskip("torch")


def _torch_fn(torch: Any, name: str) -> Any:
    if name == "softplus":
        # F.softplus switches to the identity above x = 20 (an error of up to 2e-9);
        # tapegrad computes log(1 + e^x) exactly, which torch.logaddexp also does.
        return lambda t: torch.logaddexp(t, torch.zeros_like(t))
    return getattr(torch.nn.functional, name, None) or getattr(torch, name)


@pytest.mark.parametrize("name", sorted(TORCH_UNARY))
@given(data=st.data())
def test_unary_ops_match_pytorch(name: str, data: st.DataObject) -> None:
    torch = _torch()
    op = ops.OPS[name]
    (x,) = data.draw(points(op))
    v = Value(x)
    y = op(v)
    y.backward()
    t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    out = _torch_fn(torch, name)(t)
    out.backward()
    assert y.data == pytest.approx(out.item(), rel=1e-12, abs=1e-12)
    assert v.grad == pytest.approx(t.grad.item(), rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("name", ["tanh", "sigmoid", "softplus"])
@pytest.mark.parametrize("x", [-1000.0, -50.0, -20.5, 0.0, 20.5, 50.0, 1000.0])
def test_saturating_ops_are_stable_like_pytorch(name: str, x: float) -> None:
    torch = _torch()
    v = Value(x)
    y = ops.OPS[name](v)
    y.backward()
    assert math.isfinite(y.data) and math.isfinite(v.grad)
    t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    out = _torch_fn(torch, name)(t)
    out.backward()
    assert y.data == pytest.approx(out.item(), rel=1e-12, abs=1e-300)
    assert v.grad == pytest.approx(t.grad.item(), rel=1e-9, abs=1e-300)


@pytest.mark.parametrize(
    ("name", "torch_fn"),
    [
        ("add", "add"),
        ("sub", "sub"),
        ("mul", "mul"),
        ("div", "div"),
        ("pow", "pow"),
    ],
)
@given(data=st.data())
def test_binary_ops_match_pytorch(name: str, torch_fn: str, data: st.DataObject) -> None:
    torch = _torch()
    op = ops.OPS[name]
    x, y = data.draw(points(op))
    a, b = Value(x), Value(y)
    out = op(a, b)
    out.backward()
    ta = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    tb = torch.tensor(y, dtype=torch.float64, requires_grad=True)
    tout = getattr(torch, torch_fn)(ta, tb)
    tout.backward()
    assert out.data == pytest.approx(tout.item(), rel=1e-12, abs=1e-12)
    assert a.grad == pytest.approx(ta.grad.item(), rel=1e-9, abs=1e-12)
    assert b.grad == pytest.approx(tb.grad.item(), rel=1e-9, abs=1e-12)


def test_leaky_relu_matches_pytorch() -> None:
    torch = _torch()
    for x in (-3.0, -0.5, 0.0, 0.5, 3.0):
        v = Value(x)
        v.leaky_relu(0.1).backward()
        t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
        torch.nn.functional.leaky_relu(t, 0.1).backward()
        assert v.grad == t.grad.item()


@given(data=st.data())
def test_sum_and_dot_are_one_node_and_match_loops(data: st.DataObject) -> None:
    ws = [Value(w) for w in data.draw(points((-10.0, 10.0), nargs=5))]
    xs = [Value(x) for x in data.draw(points((-10.0, 10.0), nargs=5))]
    d = ops.dot(ws, xs)
    s = ops.sum(ws)
    assert d._op == "dot" and len(d._prev) == 10
    assert s._op == "sum" and len(s._prev) == 5
    assert d.data == pytest.approx(sum(w.data * x.data for w, x in zip(ws, xs)))
    (d + s).backward()
    for w, x in zip(ws, xs):
        assert w.grad == pytest.approx(x.data + 1.0)
        assert x.grad == pytest.approx(w.data)


def test_dot_with_plain_float_inputs() -> None:
    ws = [Value(1.0), Value(-2.0)]
    d = ops.dot(ws, [3.0, 4.0])
    assert d._prev == tuple(ws)
    d.backward()
    assert [w.grad for w in ws] == [3.0, 4.0]


def test_dot_length_mismatch_and_empty_inputs() -> None:
    with pytest.raises(ValueError, match="equal length, got 2 and 1"):
        ops.dot([1.0, 2.0], [1.0])
    assert ops.dot([], []) == 0.0
    assert ops.sum([]) == 0.0
    assert ops.sum([1, 2.5]) == 3.5


def test_every_op_is_declared_through_custom_op() -> None:
    for name, op in ops.OPS.items():
        assert isinstance(op, Op), name
        assert op.vjps is not None or op.vjp_all is not None, name
        assert op.forward.__doc__, f"{name} has no one-line math docstring"


def test_logsumexp_special_values() -> None:
    inf, nan = math.inf, math.nan
    assert ops.logsumexp([-inf, -inf]) == -inf
    assert ops.logsumexp([inf, 1.0]) == inf
    for args in ([-inf, nan], [inf, nan], [1.0, nan, inf], [nan, inf], [nan, 1.0], [1.0, nan]):
        assert math.isnan(ops.logsumexp(args)), args  # whatever max() makes of the NaN
    assert ops.logsumexp([1000.0, 1000.0]) == pytest.approx(1000.0 + math.log(2.0), rel=1e-15)
    assert ops.logsumexp([2.5]) == 2.5
    with pytest.raises(ValueError, match="empty"):
        ops.logsumexp([])
