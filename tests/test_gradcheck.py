"""The gradient checkers see a wrong rule: seeds other than 1, zero seeds, argument checks."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings

from autograd import GradcheckError, Value, custom_op, gradcheck, gradgradcheck, ops
from autograd.gradcheck import SECOND_ORDER_SEEDS, SEED
from autograd.opdef import Op
from autograd.testing import assert_gradients, check_op, points, seeds

Rule = Callable[..., Any]


def _cubic(rule: Rule, name: str = "cubic") -> Op:
    """x^3 + x, whose derivative 3x^2 + 1 >= 1 never vanishes, with the given rule."""

    @custom_op(name=name, domain=(-3.0, 3.0))
    def cubic(x: float) -> float:
        return x**3 + x

    cubic.defvjp(rule)
    return cubic


def _d(x: Any) -> Any:
    """d/dx (x^3 + x), on floats or Values."""
    return 3.0 * x * x + 1.0


#: Rules wrong in every backward pass, plain or recorded.
WRONG_RULES: dict[str, Rule] = {
    "ignores g": lambda g, ans, x: _d(x),
    "wrong sign": lambda g, ans, x: -g * _d(x),
    "right only at g = 1 (g^2)": lambda g, ans, x: g * g * _d(x),
    "right only for g > 0 (|g|)": lambda g, ans, x: abs(g) * _d(x),
}

#: Rules right with plain floats that go wrong only in the recorded (create_graph) pass.
WRONG_WHEN_RECORDING: dict[str, Rule] = {
    "ignores g when recording": lambda g, ans, x: _d(x) if isinstance(g, Value) else g * _d(x),
    "g^2 when recording": lambda g, ans, x: (g * g if isinstance(g, Value) else g) * _d(x),
}

RIGHT: Rule = lambda g, ans, x: g * _d(x)  # noqa: E731
POINTS = points((-3.0, 3.0))


# --- a correct rule passes everything --------------------------------------------------


@given(POINTS)
def test_a_correct_rule_passes_every_checker(xs: tuple[float, ...]) -> None:
    op = _cubic(RIGHT)
    assert gradcheck(op, *xs)
    assert gradgradcheck(op, *xs)
    assert_gradients(op, *xs, order=2)


def test_a_correct_rule_passes_check_op() -> None:
    check_op(_cubic(RIGHT))


# --- first order: wrong in every pass ------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(WRONG_RULES))
@given(xs=POINTS)
def test_gradcheck_catches_a_wrong_rule(kind: str, xs: tuple[float, ...]) -> None:
    (x,) = xs
    with pytest.raises(GradcheckError) as info:
        gradcheck(_cubic(WRONG_RULES[kind]), x)
    err = info.value
    assert err.failed == [0]
    assert "argument 0" in str(err) and "analytic" in str(err) and "expected" in str(err)
    assert f"({x!r})" in str(err)  # the point
    true = 3.0 * x * x + 1.0
    if err.seed == 1.0:  # only the wrong sign fails already at g = 1
        assert kind == "wrong sign"
        assert err.analytic[0] == pytest.approx(-true)
    else:
        assert err.seed == SEED and f"seed {SEED!r}" in str(err)
        assert err.expected[0] == pytest.approx(SEED * true, rel=1e-6)
        assert "passes with seed 1" in str(err)


@pytest.mark.parametrize("kind", sorted(WRONG_RULES))
def test_gradgradcheck_assert_gradients_and_check_op_catch_a_wrong_rule(kind: str) -> None:
    op = _cubic(WRONG_RULES[kind])
    with pytest.raises(GradcheckError, match="seed"):
        gradgradcheck(op, 0.7)
    for order in (1, 2):
        with pytest.raises(AssertionError, match=r"seed.*\n  argument 0: analytic"):
            assert_gradients(op, 0.7, order=order)
        with pytest.raises(GradcheckError, match=r"op 'cubic': .*seed"):
            check_op(op, order=order, max_examples=10)


def test_a_rule_that_ignores_g_is_reported_with_the_seed_and_both_values() -> None:
    with pytest.raises(GradcheckError) as info:
        gradcheck(_cubic(WRONG_RULES["ignores g"]), 2.0)
    err = info.value
    assert err.seed == SEED
    assert err.analytic == [13.0]  # the rule's d/dx at g = 1, not scaled by the seed
    assert err.numeric[0] == pytest.approx(13.0, rel=1e-8)
    assert err.expected[0] == pytest.approx(SEED * 13.0, rel=1e-8)
    assert "analytic 13.0" in str(err)


def test_the_zero_seed_demands_exact_zeros() -> None:
    """A rule right at g = 1 and g = SEED but not at g = 0 fails on the zero seed."""
    op = _cubic(lambda g, ans, x: g * _d(x) if g != 0.0 else 1e-9)
    with pytest.raises(GradcheckError) as info:
        gradcheck(op, 1.0)
    err = info.value
    assert err.seed == 0.0 and err.expected == [0.0] and err.analytic == [1e-9]
    assert "zero seed" in str(err) and "exactly 0.0" in str(err)
    with pytest.raises(AssertionError, match=r"seed 0\.0"):
        assert_gradients(op, 1.0)
    with pytest.raises(GradcheckError, match=r"op 'cubic'.*seed 0\.0"):
        check_op(op, order=1, max_examples=10)


def test_the_brief_example_mysin_fails_every_checker() -> None:
    """mysin's rule returns cos(x) without g: (mysin(x) * 2).backward() would be half the truth."""

    @custom_op
    def mysin(x: float) -> float:
        return math.sin(x)

    mysin.defvjp(lambda g, ans, x: ops.cos(x))
    with pytest.raises(GradcheckError, match="seed"):
        gradcheck(mysin, 0.3)
    with pytest.raises(GradcheckError, match="seed"):
        gradgradcheck(mysin, 0.3)
    with pytest.raises(AssertionError, match="seed"):
        assert_gradients(mysin, 0.3)
    with pytest.raises(GradcheckError, match="op 'mysin'"):
        check_op(mysin, max_examples=20)


# --- second order: wrong only when the backward pass is recorded ------------------------------


@pytest.mark.parametrize("kind", sorted(WRONG_WHEN_RECORDING))
@given(xs=POINTS)
def test_gradgradcheck_catches_a_rule_wrong_only_when_recording(
    kind: str, xs: tuple[float, ...]
) -> None:
    op = _cubic(WRONG_WHEN_RECORDING[kind])
    assert gradcheck(op, *xs)  # first order cannot see it
    with pytest.raises(GradcheckError) as info:
        gradgradcheck(op, *xs)
    err = info.value
    assert isinstance(err.seed, tuple) and err.seed[0] != 1.0  # the inner seed exposed it
    assert err.seed in (SECOND_ORDER_SEEDS, (0.0, SECOND_ORDER_SEEDS[1]))
    assert "inner pass, create_graph" in str(err)


@pytest.mark.parametrize("kind", sorted(WRONG_WHEN_RECORDING))
def test_check_op_and_assert_gradients_catch_a_rule_wrong_only_when_recording(kind: str) -> None:
    op = _cubic(WRONG_WHEN_RECORDING[kind])
    assert_gradients(op, 0.7, order=1)
    with pytest.raises(AssertionError, match="inner pass"):
        assert_gradients(op, 0.7, order=2)
    check_op(op, order=1, max_examples=10)
    with pytest.raises(GradcheckError, match=r"op 'cubic'.*inner pass"):
        check_op(op, order=2, max_examples=10)


def test_gradgradcheck_catches_a_wrong_rule_met_only_in_the_derivative_graph() -> None:
    """mysin's rule is right, but it calls mycos, whose rule ignores g: only order 2 runs it."""

    @custom_op
    def mycos(x: float) -> float:
        return math.cos(x)

    mycos.defvjp(lambda g, ans, x: -ops.sin(x))

    @custom_op
    def mysin(x: float) -> float:
        return math.sin(x)

    mysin.defvjp(lambda g, ans, x: g * mycos(x))
    assert gradcheck(mysin, 0.4)
    with pytest.raises(GradcheckError) as info:
        gradgradcheck(mysin, 0.4)
    assert info.value.seed != (1.0, 1.0)
    assert "second derivative" in str(info.value)


def test_the_second_order_seeds_differ_from_one_and_each_other() -> None:
    inner, outer = SECOND_ORDER_SEEDS
    assert len({inner, outer, inner * outer, 1.0, -1.0, 0.0}) == 6
    assert SEED not in (1.0, -1.0, 0.0)


@settings(max_examples=200)
@given(seeds())
def test_drawn_seeds_stay_away_from_one_and_zero(g: float) -> None:
    assert 0.25 <= abs(g) <= 4.0 and abs(g - 1.0) > 0.05


def test_drawn_seeds_take_both_signs() -> None:
    from hypothesis import find

    assert find(seeds(), lambda g: g < 0.0) < 0.0
    assert find(seeds(), lambda g: g > 0.0) > 0.0


# --- arguments are checked, each by name -------------------------------------------------------


CHECKERS: dict[str, Callable[..., Any]] = {
    "gradcheck": gradcheck,
    "gradgradcheck": gradgradcheck,
    "assert_gradients": assert_gradients,
}


@pytest.mark.parametrize("who", sorted(CHECKERS))
@pytest.mark.parametrize(
    ("kwargs", "error", "name"),
    [
        ({"eps": 0}, ValueError, "eps"),
        ({"eps": 0.0}, ValueError, "eps"),
        ({"eps": -1e-6}, ValueError, "eps"),
        ({"eps": math.nan}, ValueError, "eps"),
        ({"eps": math.inf}, ValueError, "eps"),
        ({"eps": "1e-6"}, TypeError, "eps"),
        ({"atol": -1.0}, ValueError, "atol"),
        ({"atol": math.nan}, ValueError, "atol"),
        ({"atol": None}, TypeError, "atol"),
        ({"rtol": -1e-3}, ValueError, "rtol"),
        ({"rtol": math.nan}, ValueError, "rtol"),
        ({"rtol": True}, TypeError, "rtol"),
    ],
)
def test_bad_tolerances_are_refused_by_name(
    who: str, kwargs: dict[str, Any], error: type[Exception], name: str
) -> None:
    with pytest.raises(error, match=rf"{name} must be .*got .*{re.escape(repr(kwargs[name]))}"):
        CHECKERS[who](ops.sin, 0.3, **kwargs)


def test_check_op_refuses_bad_tolerances_and_options_by_name() -> None:
    with pytest.raises(ValueError, match="check_op: eps must be a finite number > 0, got 0"):
        check_op(ops.sin, eps=0)
    with pytest.raises(ValueError, match="check_op: rtol"):
        check_op(ops.sin, rtol=math.nan)
    with pytest.raises(ValueError, match="check_op: order must be 1 or 2, got 3"):
        check_op(ops.sin, order=3)
    with pytest.raises(ValueError, match="max_examples must be a positive int, got 0"):
        check_op(ops.sin, max_examples=0)
    with pytest.raises(ValueError, match="assert_gradients: order must be 1 or 2, got 0"):
        assert_gradients(ops.sin, 0.3, order=0)


@pytest.mark.parametrize("who", ["gradcheck", "gradgradcheck"])
def test_bad_points_are_refused_by_argument(who: str) -> None:
    check = CHECKERS[who]
    with pytest.raises(TypeError, match=rf"{who}: argument 1 must be a real number.*str"):
        check(ops.mul, 0.3, "2")
    with pytest.raises(TypeError, match=rf"{who}: argument 0 .*NoneType"):
        check(ops.sin, None)
    with pytest.raises(TypeError, match=rf"{who}: argument 0 .*complex"):
        check(ops.sin, 1j)
    with pytest.raises(ValueError, match=rf"{who}: argument 0 is nan; the point must be finite"):
        check(ops.sin, math.nan)
    with pytest.raises(ValueError, match=rf"{who}: argument 1 is inf"):
        check(ops.mul, 1.0, math.inf)
    with pytest.raises(ValueError, match="at least one argument"):
        check(ops.sin)
    with pytest.raises(TypeError, match=rf"{who}: f must be a function, got float"):
        check(1.0, 0.3)


def test_points_may_be_ints_bools_and_values() -> None:
    assert gradcheck(ops.mul, 2, True)
    assert gradgradcheck(ops.mul, Value(2.0), 3)


def test_a_wrong_rule_in_a_function_closing_over_a_value_is_a_gradcheck_error() -> None:
    bad = custom_op(lambda x: 3.0 * x, name="triple_bad")
    bad.defvjp(lambda g, ans, x: g * 2.0)
    w = Value(1.5)
    with pytest.raises(GradcheckError):
        gradcheck(lambda x: bad(x) * w, 0.7)
