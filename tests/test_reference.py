"""tapegrad against PyTorch in float64: random expressions and micrograd's classic checks."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autograd import Value
from autograd.testing import Expression, expressions, finite_floats

torch = pytest.importorskip("torch")

TORCH_OPS = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "neg": lambda a: -a,
    "tanh": lambda a: torch.tanh(a),
    "sigmoid": lambda a: torch.sigmoid(a),
    "sin": lambda a: torch.sin(a),
    "cos": lambda a: torch.cos(a),
    "softplus": lambda a: torch.logaddexp(a, torch.zeros_like(a)),
}


def _torch_eval(expr: Expression, xs: list[float]) -> tuple[float, list[float]]:
    leaves = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in xs]
    out = expr.evaluate(leaves, lambda name, args: TORCH_OPS[name](*args))
    if not out.requires_grad:  # the expression ignores every input
        return out.item(), [0.0] * len(xs)
    out.backward()
    return out.item(), [0.0 if t.grad is None else t.grad.item() for t in leaves]


@given(expressions(n_leaves=3, max_ops=10), st.lists(finite_floats(-3, 3), min_size=3, max_size=3))
def test_random_expressions_match_pytorch(expr: Expression, xs: list[float]) -> None:
    leaves = [Value(x) for x in xs]
    out = expr(*leaves)
    if isinstance(out, Value):
        out.backward()
    ref, ref_grads = _torch_eval(expr, xs)
    value = out.data if isinstance(out, Value) else out
    assert value == pytest.approx(ref, rel=1e-12, abs=1e-12), str(expr)
    for leaf, g in zip(leaves, ref_grads):
        assert leaf.grad == pytest.approx(g, rel=1e-9, abs=1e-12), str(expr)


@given(expressions(n_leaves=2, max_ops=6), st.lists(finite_floats(-2, 2), min_size=2, max_size=2))
def test_random_expressions_second_order_match_pytorch(expr: Expression, xs: list[float]) -> None:
    leaves = [Value(x) for x in xs]
    out = expr(*leaves)
    if not isinstance(out, Value):
        return
    out.backward(create_graph=True)
    first = [leaf.grad for leaf in leaves]
    for leaf in leaves:
        leaf.grad = 0.0
    if not isinstance(first[0], Value):  # x0 is not in the graph at all
        assert first[0] == 0.0 and "x0" not in str(expr)
        return
    first[0].backward()  # d/dx_j (d out / d x0)
    ts = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in xs]
    tout = expr.evaluate(ts, lambda name, args: TORCH_OPS[name](*args))
    if not tout.requires_grad:
        return
    (tg0,) = torch.autograd.grad(tout, ts[0], create_graph=True, allow_unused=True)
    if tg0 is None or not tg0.requires_grad:
        expected = [0.0, 0.0]
    else:
        expected = [
            0.0 if g is None else g.item() for g in torch.autograd.grad(tg0, ts, allow_unused=True)
        ]
    assert first[0].data == pytest.approx(0.0 if tg0 is None else tg0.item(), rel=1e-9, abs=1e-12)
    for leaf, e in zip(leaves, expected):
        assert leaf.grad == pytest.approx(e, rel=1e-8, abs=1e-10), str(expr)


def _sanity(x: Any, relu: Any) -> Any:
    z = 2 * x + 2 + x
    q = relu(z) + z * x
    h = relu(z * z)
    return h + q + q * x


def test_micrograd_sanity_check_matches_pytorch() -> None:
    x = Value(-4.0)
    y = _sanity(x, lambda v: v.relu())
    y.backward()
    tx = torch.tensor(-4.0, dtype=torch.float64, requires_grad=True)
    ty = _sanity(tx, torch.relu)
    ty.backward()
    assert y.data == ty.item()
    assert x.grad == tx.grad.item()


def _more_ops(a: Any, b: Any, relu: Any) -> Any:
    c = a + b
    d = a * b + b**3
    c = c + c + 1
    c = c + 1 + c + (-a)
    d = d + d * 2 + relu(b + a)
    d = d + 3 * d + relu(b - a)
    e = c - d
    f = e**2
    g = f / 2.0
    return g + 10.0 / f


def test_micrograd_more_ops_matches_pytorch() -> None:
    a, b = Value(-4.0), Value(2.0)
    g = _more_ops(a, b, lambda v: v.relu())
    g.backward()
    ta = torch.tensor(-4.0, dtype=torch.float64, requires_grad=True)
    tb = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    tg = _more_ops(ta, tb, torch.relu)
    tg.backward()
    assert g.data == pytest.approx(tg.item(), rel=1e-12)
    assert a.grad == pytest.approx(ta.grad.item(), rel=1e-12)
    assert b.grad == pytest.approx(tb.grad.item(), rel=1e-12)


@given(finite_floats(-4, -0.01) | finite_floats(0.01, 4), st.integers(-4, 4))
def test_pow_of_negative_bases_to_integer_powers_matches_pytorch(base: float, k: int) -> None:
    # pow's declared domain keeps the op-table property on positive bases; integer
    # powers of negative (and any) bases are checked here, with the exponent a
    # constant and a Value (whose derivative, log(base) * ans, is NaN below zero).
    x, y = Value(base), Value(float(k))
    (x**y).backward()
    c = Value(base)
    (c ** float(k)).backward()
    tx = torch.tensor(base, dtype=torch.float64, requires_grad=True)
    ty = torch.tensor(float(k), dtype=torch.float64, requires_grad=True)
    tz = tx**ty
    tz.backward()
    assert (x**y).data == pytest.approx(tz.item(), rel=1e-12)
    assert x.grad == pytest.approx(tx.grad.item(), rel=1e-12, abs=1e-300)
    assert c.grad == pytest.approx(tx.grad.item(), rel=1e-12, abs=1e-300)
    if base < 0:
        assert y.grad != y.grad and ty.grad.item() != ty.grad.item()  # both NaN
    else:
        assert y.grad == pytest.approx(ty.grad.item(), rel=1e-12)
