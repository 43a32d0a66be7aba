"""Nested differentiation against torch.func: closures over outer variables, argnums, orders 1-3."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_reference import TORCH_OPS

from autograd import Value, grad, hessian, no_grad, value_and_grad
from autograd.testing import Expression, expressions, finite_floats

torch = pytest.importorskip("torch")
tfunc = pytest.importorskip("torch.func")


def _t(x: float) -> Any:
    return torch.tensor(x, dtype=torch.float64)


def _on_torch(expr: Expression) -> Callable[..., Any]:
    def f(*xs: Any) -> Any:
        out = expr.evaluate(list(xs), lambda name, args: TORCH_OPS[name](*args))
        # An expression that ignores its inputs is a constant; keep it a function of them.
        return out + 0.0 * sum(xs)

    return f


def _close(a: Any, b: Any) -> bool:
    a = a.data if isinstance(a, Value) else a
    return bool(a == pytest.approx(float(b), rel=1e-8, abs=1e-9))


# --- the cases the issue names ------------------------------------------------------


def test_inner_grad_closing_over_the_outer_variable() -> None:
    # d/dx [d/dy x y^2 at y = 2] = d/dx 4x = 4
    assert grad(lambda x: grad(lambda y: x * y * y)(2.0))(3.0) == 4.0
    expected = tfunc.grad(lambda x: tfunc.grad(lambda y: x * y * y)(_t(2.0)))(_t(3.0))
    assert expected.item() == 4.0


def test_gradient_penalty_keeps_its_second_term() -> None:
    w = Value(0.7)
    loss = w * w + grad(lambda x: w * x * x)(1.5) ** 2  # w^2 + (2 w x)^2 at x = 1.5
    loss.backward()
    assert w.grad == pytest.approx(2 * 0.7 + 2 * (2 * 0.7 * 1.5) * (2 * 1.5), rel=1e-15)


def test_inner_argument_is_not_confused_with_the_outer_variable() -> None:
    # d/dx [d/dy (x y) at y = x] = d/dx x = 1, not d/dx (d/dx x^2) = 2
    assert grad(lambda x: grad(lambda y: x * y)(x))(3.0) == 1.0


def test_repeated_and_negative_argnums() -> None:
    def f(x: Any, y: Any) -> Any:
        return x * x * y

    assert grad(f, (0, 0))(3.0, 2.0) == (12.0, 12.0)
    assert grad(f, (0, -2))(3.0, 2.0) == (12.0, 12.0)
    assert grad(f, (1, 0, 1))(3.0, 2.0) == (9.0, 12.0, 9.0)
    assert hessian(f, (0, 0))(3.0, 2.0) == [[4.0, 4.0], [4.0, 4.0]]
    assert hessian(f, (1, 0))(3.0, 2.0) == [[0.0, 6.0], [6.0, 4.0]]


@pytest.mark.parametrize("bad", [1.0, "0", None, True, (0, 1.0), [0, None]])
def test_argnums_of_the_wrong_type_are_refused_when_the_transform_is_made(bad: Any) -> None:
    with pytest.raises(TypeError, match=r"^grad: argnums must (be an|hold) int"):
        grad(lambda x: x, bad)
    with pytest.raises(TypeError, match=r"value_and_grad: argnums"):
        value_and_grad(lambda x: x, bad)


def test_a_transform_records_its_function_even_inside_no_grad() -> None:
    with no_grad():
        assert grad(lambda x: x * x * x)(2.0) == 12.0
        assert grad(grad(lambda x: x * x * x))(2.0) == 12.0


def test_results_are_floats_unless_they_depend_on_outside_values() -> None:
    assert type(grad(lambda x: x * Value(2.0))(3.0)) is float  # a constant made inside f
    w = Value(2.0)
    g = grad(lambda x: x * w)(3.0)
    assert isinstance(g, Value) and g.data == 2.0 and g._prev  # linked to w
    value, dg = value_and_grad(lambda x: x * w)(3.0)
    assert isinstance(value, Value) and value.data == 6.0 and isinstance(dg, Value)


# --- properties against torch.func ----------------------------------------------------

pairs = st.lists(finite_floats(-2, 2), min_size=2, max_size=2)


@given(expressions(n_leaves=2, max_ops=6), pairs, finite_floats(-2, 2))
def test_closure_over_the_outer_variable_matches_torch_func(
    expr: Expression, xs: list[float], c: float
) -> None:
    # F(x) = d/dy e(x, y) at y = c, the inner function closing over x; then dF/dx.
    ours = grad(lambda x: grad(lambda y: expr(x, y))(c))(xs[0])
    e = _on_torch(expr)
    ref = tfunc.grad(lambda x: tfunc.grad(lambda y: e(x, y))(_t(c)))(_t(xs[0]))
    assert _close(ours, ref), str(expr)


@given(expressions(n_leaves=2, max_ops=6), pairs, st.sampled_from([(0,), (1,), (1, 0), (0, -1)]))
def test_mixed_argnums_nested_match_torch_func(
    expr: Expression, xs: list[float], argnums: tuple[int, ...]
) -> None:
    # H(x, y) = sum_k (k + 1) * d e / d arg_k, differentiated again in both arguments.
    def h(x: Any, y: Any) -> Any:
        gs = grad(expr, argnums)(x, y)
        return sum((k + 1.0) * g for k, g in enumerate(gs))

    e = _on_torch(expr)

    def th(x: Any, y: Any) -> Any:
        gs = tfunc.grad(e, argnums)(x, y)
        return sum((k + 1.0) * g for k, g in enumerate(gs))

    ours = grad(h, (0, 1))(*xs)
    ref = tfunc.grad(th, (0, 1))(_t(xs[0]), _t(xs[1]))
    for a, b in zip(ours, ref):
        assert _close(a, b), str(expr)


@given(expressions(n_leaves=1, max_ops=5), finite_floats(-2, 2), st.integers(1, 3))
def test_orders_one_to_three_match_torch_func(expr: Expression, x: float, order: int) -> None:
    ours: Callable[..., Any] = expr
    ref: Callable[..., Any] = _on_torch(expr)
    for _ in range(order):
        ours, ref = grad(ours), tfunc.grad(ref)
    assert _close(ours(x), ref(_t(x))), str(expr)


@given(expressions(n_leaves=2, max_ops=5), pairs)
def test_eager_graph_through_a_closure_matches_torch(expr: Expression, xs: list[float]) -> None:
    # loss = e(w, x) + (d/dx e(w, x))^2 with w a recorded Value: backward reaches w both ways.
    w = Value(xs[0])
    loss = expr(w, xs[1]) + grad(lambda x: expr(w, x))(xs[1]) ** 2
    if not isinstance(loss, Value):
        return
    loss.backward()
    e = _on_torch(expr)
    tw = torch.tensor(xs[0], dtype=torch.float64, requires_grad=True)
    tl = e(tw, _t(xs[1])) + tfunc.grad(lambda x: e(tw, x))(_t(xs[1])) ** 2
    tl.backward()
    assert _close(loss, tl.detach()), str(expr)
    assert _close(w.grad, tw.grad), str(expr)


def test_int_and_bool_arguments_reach_the_function_unchanged() -> None:
    assert grad(lambda x, flag: x * x if flag else x)(3.0, False) == 1.0
    assert grad(lambda x, k: x * x if k == 0 else x**3)(3.0, 0) == 6.0


def test_a_leaf_made_under_no_grad_inside_f_is_its_own() -> None:
    def f(x: Any) -> Any:
        with no_grad():
            c = x * 2.0  # a constant, made inside f
        return x * c

    g = grad(f)(3.0)
    assert type(g) is float and g == 6.0
