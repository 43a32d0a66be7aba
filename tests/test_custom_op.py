"""User-defined ops are first-class: every engine feature treats them like built-ins."""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import numpy as np
import pytest

from autograd import (
    Op,
    Value,
    custom_op,
    detect_anomaly,
    draw_dot,
    format_tape,
    grad,
    gradgradcheck,
    no_grad,
    ops,
)
from autograd.engine import operands
from autograd.testing import check_op


@custom_op(kinks=(0.0,))
def softsign(x: float) -> float:
    return x / (1 + abs(x))


@softsign.defvjp
def softsign_vjp(g, ans, x):  # type: ignore[no-untyped-def]
    return g / (1 + abs(x)) ** 2


@custom_op(kinks=(0.0,))  # not differentiable at the origin
def hypot(x: float, y: float) -> float:
    return math.hypot(x, y)


hypot.defvjp(lambda g, ans, x, y: g * x / ans, lambda g, ans, x, y: g * y / ans)


def test_plain_numbers_in_float_out() -> None:
    assert softsign(1.0) == 0.5
    assert type(softsign(3)) is float
    assert isinstance(softsign, Op)
    assert softsign.kinks == (0.0,)
    assert softsign.domain == (-math.inf, math.inf)


def test_value_in_one_node_out_named_after_the_function() -> None:
    x = Value(1.0)
    y = softsign(x)
    assert isinstance(y, Value)
    assert y._op == "softsign"
    assert y._prev == (x,)
    assert y._maker is softsign


def test_backward_and_mixing_with_builtins() -> None:
    x, y = Value(3.0), Value(4.0)
    z = hypot(x, y) * softsign(x)
    z.backward()
    s = 3 / 4
    assert z.data == pytest.approx(5 * s)
    assert x.grad == pytest.approx(3 / 5 * s + 5 / 16)
    assert y.grad == pytest.approx(4 / 5 * s)


def test_constant_operand() -> None:
    x = Value(3.0)
    z = hypot(x, 4.0)
    assert z._prev == (x,) and operands(z) == (x, 4.0)
    z.backward()
    assert x.grad == pytest.approx(0.6)


def test_higher_order_through_a_custom_op() -> None:
    # softsign'' = -2 sign(x) / (1 + |x|)^3
    assert grad(grad(softsign))(1.0) == pytest.approx(-2 / 8)
    assert gradgradcheck(hypot, 1.5, -0.5)
    x = Value(2.0)
    softsign(x).backward(create_graph=True)
    g = x.grad
    x.grad = 0.0
    g.backward()
    assert x.grad == pytest.approx(-2 / 27)


def test_check_op_passes_for_correct_rules() -> None:
    check_op(softsign)
    check_op(hypot)


def test_no_grad_records_nothing() -> None:
    x = Value(1.0)
    with no_grad():
        y = softsign(x)
    assert y._prev == () and y._maker is None and y.data == 0.5


def test_detect_anomaly_names_the_custom_op() -> None:
    @custom_op
    def blowup(x: float) -> float:
        return math.inf if x > 1 else x

    blowup.defvjp(lambda g, ans, x: g)
    with detect_anomaly(), pytest.raises(FloatingPointError, match="blowup"):
        blowup(Value(2.0))

    @custom_op
    def steep(x: float) -> float:
        return x

    steep.defvjp(lambda g, ans, x: g * math.inf)
    y = steep(Value(1.0))
    with detect_anomaly(), pytest.raises(FloatingPointError, match="steep"):
        y.backward()


def test_format_tape_and_draw_dot_show_it() -> None:
    x = Value(1.0, label="x")
    y = softsign(x)
    assert "softsign(x)" in format_tape(y)
    assert "softsign" in draw_dot(y).source


# --- errors ----------------------------------------------------------------------


def test_rule_of_the_wrong_arity() -> None:
    with pytest.raises(TypeError, match=r"'bad'.*softsign.*takes 2.*expected 3: \(g, ans, x0\)"):

        @softsign.defvjp
        def bad(g, ans):  # type: ignore[no-untyped-def]
            return g


def test_wrong_number_of_rules() -> None:
    with pytest.raises(TypeError, match=r"hypot' takes 2 argument.*needs 2 rule"):
        hypot.defvjp(lambda g, ans, x, y: g)


def test_defvjp_on_something_that_is_not_a_custom_op() -> None:
    def plain(x: float) -> float:
        return x

    with pytest.raises(TypeError, match="not a custom op"):
        Op.defvjp(plain, lambda g, ans, x: g)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="needs a function"):
        custom_op(3.0)  # type: ignore[call-overload]


def test_backward_through_an_op_without_a_rule() -> None:
    @custom_op
    def norule(x: float) -> float:
        return 2 * x

    assert norule(2.0) == 4.0
    y = norule(Value(2.0))
    with pytest.raises(NotImplementedError, match="op 'norule' has no derivative rule"):
        y.backward()
    with pytest.raises(NotImplementedError, match="norule"):
        (norule(Value(1.0)) * 3).backward(create_graph=True)


def test_forward_returning_a_non_number() -> None:
    @custom_op
    def broken(x: float) -> float:
        return "oops"  # type: ignore[return-value]

    with pytest.raises(TypeError, match="op 'broken' returned str 'oops'"):
        broken(1.0)
    with pytest.raises(TypeError, match="op 'broken'"):
        broken(Value(1.0))


def test_wrong_number_of_arguments_and_empty_domain() -> None:
    with pytest.raises(TypeError, match="softsign' takes 1 argument"):
        softsign(1.0, 2.0)
    with pytest.raises(ValueError, match="domain"):
        custom_op(domain=(1.0, 0.0))(lambda x: x)


def test_builtin_ops_are_plain_functions_too() -> None:
    assert ops.cos(0.0) == 1.0
    assert isinstance(ops.cos(Value(0.0)), Value)


def test_a_rule_may_return_a_generator_also_under_detect_anomaly() -> None:
    @custom_op
    def squares(*xs: float) -> float:
        return float(sum(x * x for x in xs))

    squares.defvjp_all(lambda g, ans, *xs: (2.0 * g * x for x in xs))
    for checked in (False, True):
        for create_graph in (False, True):
            a = Value(3.0)
            out = squares(a, 2.0)
            if checked:
                with detect_anomaly():
                    out.backward(create_graph=create_graph)
            else:
                out.backward(create_graph=create_graph)
            assert float(getattr(a.grad, "data", a.grad)) == 6.0, (checked, create_graph)


# --- a rule's results and an op's declaration are checked -------------------------------


def _op_with_rule(result: Any) -> Any:
    @custom_op
    def shaky(x: float) -> float:
        return 2.0 * x

    shaky.defvjp(lambda g, ans, x: result)
    return shaky


@pytest.mark.parametrize("bad", [1j, None, "0.5", [1.0], np.array([1.0, 2.0])])
@pytest.mark.parametrize("create_graph", [False, True])
def test_a_rule_returning_a_non_number_is_refused_naming_the_op(
    bad: Any, create_graph: bool
) -> None:
    shaky = _op_with_rule(bad)
    x = Value(1.0)
    with pytest.raises(TypeError, match=r"rule '<lambda>' of op 'shaky' returned .* argument 0"):
        (shaky(x) * 3.0).backward(create_graph=create_graph)
    assert x.grad == 0.0


def test_numeric_rule_results_become_floats() -> None:
    for result in (2, np.float32(2.0), np.int64(2), Fraction(2)):
        x = Value(1.0)
        _op_with_rule(result)(x).backward()
        assert type(x.grad) is float and x.grad == 2.0


@pytest.mark.parametrize("count", [1, 3])
def test_defvjp_all_returning_the_wrong_number_of_gradients(count: int) -> None:
    @custom_op
    def pair(x: float, y: float) -> float:
        return x * y

    pair.defvjp_all(lambda g, ans, x, y: [g * y, g * x, g][:count])
    a, b = Value(2.0), Value(3.0)
    with pytest.raises(TypeError, match=rf"op 'pair' returned {count} gradient\(s\) for 2"):
        pair(a, b).backward()
    assert a.grad == b.grad == 0.0


def test_defvjp_all_returning_a_non_sequence() -> None:
    @custom_op
    def one(*xs: float) -> float:
        return xs[0]

    one.defvjp_all(lambda g, ans, *xs: 1.0)
    with pytest.raises(TypeError, match=r"op 'one' returned float 1.0; it must return one"):
        one(Value(1.0)).backward()


def test_an_exception_class_with_its_own_constructor_keeps_its_type() -> None:
    class OutOfRange(ValueError):
        def __init__(self, value: float, limit: float) -> None:
            super().__init__(f"{value} is beyond {limit}")
            self.value = value

    @custom_op
    def bounded(x: float) -> float:
        if x > 1.0:
            raise OutOfRange(x, 1.0)
        return x

    with pytest.raises(OutOfRange, match=r"2\.0 is beyond 1\.0") as info:
        bounded(Value(2.0, label="x"))
    assert info.value.value == 2.0
    assert "Value 'x'" in "".join(getattr(info.value, "__notes__", ["Value 'x'"]))


def test_an_op_with_a_default_argument_can_be_called_without_it() -> None:
    @custom_op
    def scaled(x: float, k: float = 2.0) -> float:
        return k * x

    scaled.defvjp(lambda g, ans, x, k: g * k, lambda g, ans, x, k: g * x)
    assert scaled(3.0) == 6.0 and scaled(3.0, 3.0) == 9.0
    x = Value(3.0)
    y = scaled(x)
    assert operands(y) == (x, 2.0)
    y.backward()
    assert x.grad == 2.0
    with pytest.raises(TypeError, match=r"'scaled' takes 1 to 2 argument\(s\), got 3"):
        scaled(1.0, 2.0, 3.0)
    with pytest.raises(TypeError, match="default of parameter 'k'"):
        custom_op(lambda x, k="two": x)


@pytest.mark.parametrize("domain", [None, 3.0, (1.0,), ("a", "b"), (0.0, 1.0, 2.0)])
def test_a_malformed_domain_is_a_clear_error(domain: Any) -> None:
    with pytest.raises(TypeError, match=r"domain must be a pair \(lo, hi\) of numbers"):
        custom_op(domain=domain)(lambda x: x)


@pytest.mark.parametrize("kinks", [None, ("a",), (math.nan,), (math.inf,)])
def test_malformed_kinks_are_a_clear_error(kinks: Any) -> None:
    with pytest.raises((TypeError, ValueError), match=r"kinks must be"):
        custom_op(kinks=kinks)(lambda x: x)


def test_a_users_exception_keeps_its_attributes_when_labelled() -> None:
    class DomainErr(ValueError):
        def __init__(self, message: str, point: float | None = None) -> None:
            super().__init__(message)
            self.point = point

    @custom_op
    def picky(x: float) -> float:
        raise DomainErr("picky is undefined here", point=x)

    with pytest.raises(DomainErr, match=r"\(Value 'x'\)") as info:
        picky(Value(4.0, label="x"))
    assert info.value.point == 4.0
