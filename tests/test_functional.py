"""grad, value_and_grad and hessian: closed forms, nesting, and PyTorch as the reference."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given

from autograd import (
    GradcheckError,
    Value,
    grad,
    gradcheck,
    gradgradcheck,
    hessian,
    no_grad,
    value_and_grad,
)
from autograd.testing import finite_floats


def test_grad_on_floats_returns_floats() -> None:
    df = grad(lambda x: x * x.sin())
    d = df(1.3)
    assert type(d) is float
    assert d == pytest.approx(math.sin(1.3) + 1.3 * math.cos(1.3))


def test_grad_of_plain_float_functions_of_values() -> None:
    assert grad(lambda x: 3 * x**2 + 2 * x)(2.0) == pytest.approx(14.0)
    assert grad(lambda x, y: x * y, argnums=1)(3.0, 5.0) == pytest.approx(3.0)


def test_argnums_tuple_and_value_and_grad() -> None:
    value, (dx, dy) = value_and_grad(lambda x, y: x**2 * y, argnums=(0, 1))(3.0, 2.0)
    assert value == 18.0
    assert (dx, dy) == (pytest.approx(12.0), pytest.approx(9.0))
    with pytest.raises(ValueError, match="out of range"):
        grad(lambda x: x, argnums=2)(1.0)


def test_constant_function_and_unused_argument_have_zero_gradient() -> None:
    assert grad(lambda x: 5.0)(1.0) == 0.0
    assert grad(lambda x, y: y * 2, argnums=(0, 1))(1.0, 1.0) == (0.0, 2.0)


def test_grad_rejects_non_scalar_results() -> None:
    with pytest.raises(TypeError, match="list"):
        grad(lambda x: [x, x])(1.0)


@given(finite_floats(-3, 3))
def test_nested_grad_gives_higher_derivatives_of_sin(x: float) -> None:
    f = lambda t: t.sin()  # noqa: E731
    d1, d2, d3, d4 = grad(f), grad(grad(f)), grad(grad(grad(f))), grad(grad(grad(grad(f))))
    assert d1(x) == pytest.approx(math.cos(x), abs=1e-12)
    assert d2(x) == pytest.approx(-math.sin(x), abs=1e-12)
    assert d3(x) == pytest.approx(-math.cos(x), abs=1e-12)
    assert d4(x) == pytest.approx(math.sin(x), abs=1e-12)


@given(finite_floats(-2, 2))
def test_higher_derivatives_of_tanh_closed_form(x: float) -> None:
    t = math.tanh(x)
    f = lambda v: v.tanh()  # noqa: E731
    assert grad(grad(f))(x) == pytest.approx(-2 * t * (1 - t * t), abs=1e-12)
    assert grad(grad(grad(f)))(x) == pytest.approx(-2 * (1 - t * t) * (1 - 3 * t * t), abs=1e-12)


def test_grad_does_not_touch_grads_of_the_surrounding_graph() -> None:
    w = Value(3.0)
    g = grad(lambda x: x * w)(2.0)
    # The gradient depends on w, a Value made outside: it is a Value that keeps that link.
    assert isinstance(g, Value) and g.data == 3.0
    assert w.grad == 0.0  # the functional API leaves .grad alone
    with no_grad():  # nothing is being recorded: plain numbers
        assert grad(lambda x: x * w)(2.0) == 3.0


def test_grad_inside_a_recorded_computation() -> None:
    # d/dx [x * d/dx(x^3)] = d/dx 3x^3 = 9x^2
    x = Value(2.0)
    y = x * grad(lambda t: t**3)(x)
    y.backward()
    assert y.data == pytest.approx(24.0)
    assert x.grad == pytest.approx(36.0)


def test_hessian_closed_form() -> None:
    h = hessian(lambda x, y: x * x * y + y.sin())(1.0, 2.0)
    assert h == [
        [pytest.approx(4.0), pytest.approx(2.0)],
        [pytest.approx(2.0), pytest.approx(-math.sin(2.0))],
    ]


def _rosenbrock(x: Any, y: Any) -> Any:
    return (1 - x) ** 2 + 100 * (y - x * x) ** 2


@given(finite_floats(-2, 2), finite_floats(-2, 2))
def test_hessian_matches_pytorch(x: float, y: float) -> None:
    torch = pytest.importorskip("torch")
    ours = hessian(lambda a, b: _rosenbrock(a, b).tanh() + (a * b).sin())(x, y)
    ref = torch.autograd.functional.hessian(
        lambda a, b: torch.tanh(_rosenbrock(a, b)) + torch.sin(a * b),
        (torch.tensor(x, dtype=torch.float64), torch.tensor(y, dtype=torch.float64)),
    )
    for i in range(2):
        for j in range(2):
            assert ours[i][j] == pytest.approx(ref[i][j].item(), rel=1e-9, abs=1e-9)


@given(finite_floats(-2, 2), finite_floats(0.1, 3))
def test_second_derivatives_match_torch_create_graph(x: float, y: float) -> None:
    torch = pytest.importorskip("torch")

    def f(a: Any, b: Any) -> Any:
        return (a * b).sigmoid() * b.log() + a.exp() / b

    gx, gy = grad(f, argnums=(0, 1))(x, y)
    gxx = grad(lambda a, b: grad(f, argnums=0)(a, b), argnums=(0, 1))(x, y)
    ta = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    tb = torch.tensor(y, dtype=torch.float64, requires_grad=True)
    out = torch.sigmoid(ta * tb) * torch.log(tb) + torch.exp(ta) / tb
    tgx, tgy = torch.autograd.grad(out, (ta, tb), create_graph=True)
    tgxx = torch.autograd.grad(tgx, (ta, tb))
    assert (gx, gy) == (pytest.approx(tgx.item(), rel=1e-10), pytest.approx(tgy.item(), rel=1e-10))
    assert gxx[0] == pytest.approx(tgxx[0].item(), rel=1e-9, abs=1e-12)
    assert gxx[1] == pytest.approx(tgxx[1].item(), rel=1e-9, abs=1e-12)


# --- gradcheck -------------------------------------------------------------------


def test_gradcheck_passes_and_reports_per_argument() -> None:
    assert gradcheck(lambda x, y: (x * y).tanh() + x.exp(), 0.3, 0.7)
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda x, y: x * y + (x if x.data > 0 else 0), 1e-9, 2.0)
    message = str(info.value)
    assert "argument 0" in message and "argument 1" in message
    assert info.value.failed == [0]
    assert isinstance(info.value, RuntimeError)


def test_gradgradcheck_catches_a_wrong_second_derivative() -> None:
    from autograd import custom_op

    @custom_op
    def quartic(x: float) -> float:
        return x**4

    # The rule's value is right, but it is written with a float (x.data), so its
    # own derivative (the second derivative of the op) is lost.
    quartic.defvjp(lambda g, ans, x: g * 4 * (x.data if isinstance(x, Value) else x) ** 3)
    assert gradcheck(quartic, 1.5)
    with pytest.raises(GradcheckError, match="second derivative"):
        gradgradcheck(quartic, 1.5)


@given(finite_floats(-5, 5), finite_floats(-5, 5))
def test_gradgradcheck_on_smooth_functions(x: float, y: float) -> None:
    assert gradgradcheck(lambda a, b: (a * b).sin() + a.tanh() * b, x, y, atol=1e-4)
