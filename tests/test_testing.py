"""autograd.testing: the strategies and checks users put in their own suites."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autograd import GradcheckError, Value, custom_op, ops
from autograd.testing import (
    Expression,
    assert_gradients,
    check_op,
    expressions,
    finite_floats,
    points,
)


@given(points(ops.log))
def test_points_stay_inside_the_domain(xs: tuple[float, ...]) -> None:
    (x,) = xs
    assert 0.0 < x <= 10.0


@given(points(ops.relu, kinks=(2.0,)))
def test_points_stay_away_from_kinks(xs: tuple[float, ...]) -> None:
    (x,) = xs
    assert abs(x) > 1e-3 and abs(x - 2.0) > 1e-3 and -10.0 <= x <= 10.0


@given(points(ops.leaky_relu), points(ops.OPS["dot"]))
def test_points_match_the_op_arity(two: tuple[float, ...], four: tuple[float, ...]) -> None:
    assert len(two) == 2 and len(four) == 4


def test_points_reject_an_interval_without_room() -> None:
    with pytest.raises(ValueError, match="no room"):
        points((20.0, 30.0))


@given(finite_floats(-1, 1))
def test_finite_floats_are_finite_and_bounded(x: float) -> None:
    assert -1 <= x <= 1


@given(expressions(n_leaves=2, max_ops=5), st.lists(finite_floats(-2, 2), min_size=2, max_size=2))
def test_expressions_evaluate_alike_on_floats_and_values(expr: Expression, xs: list[float]) -> None:
    plain = expr(*xs)
    recorded = expr(*map(Value, xs))
    assert 1 <= len(expr.nodes) <= 5
    assert (recorded.data if isinstance(recorded, Value) else recorded) == plain


def test_expression_prints_as_a_formula() -> None:
    e = Expression(2, [(ops.mul, (0, 1)), (ops.tanh, (2,)), (ops.add, (3, 2))])
    assert str(e) == "tanh((x0 * x1)) + (x0 * x1)"
    assert e(1.0, 2.0) == pytest.approx(2.0 + 0.9640275800758169)


def test_expressions_share_subexpressions() -> None:
    """Somewhere in a few hundred draws an operand is used twice."""
    from hypothesis import find

    shared = find(
        expressions(n_leaves=2, max_ops=4),
        lambda e: (
            any(len(set(idx)) < len(idx) for _, idx in e.nodes)
            or len({i for _, idx in e.nodes for i in idx}) < sum(len(idx) for _, idx in e.nodes)
        ),
    )
    assert shared.nodes


def test_assert_gradients_reports_like_a_failing_test() -> None:
    assert_gradients(lambda x, y: x * y.exp(), 0.5, 0.25, order=2)
    with pytest.raises(AssertionError, match="analytic") as info:
        assert_gradients(lambda x: x * x.data, 3.0)  # .data hides a dependence
    text = str(info.value)
    assert "at (3.0) with seed 1.0" in text  # the point and the seed
    assert "argument 0: analytic 3.0  expected 6.0" in text  # numeric d/dx x^2 = 6.000000000...
    assert isinstance(info.value.__cause__, GradcheckError)


def test_assert_gradients_reports_a_rule_that_ignores_g_with_its_seed() -> None:
    @custom_op
    def twice(x: float) -> float:
        return 2.0 * x

    twice.defvjp(lambda g, ans, x: 2.0)  # forgets g
    with pytest.raises(AssertionError, match=r"at \(1\.5\) with seed -0\.7315") as info:
        assert_gradients(twice, 1.5)
    assert "analytic 2.0  expected -1.46" in str(info.value)
    assert "passes with seed 1" in str(info.value)


def test_check_op_report_names_the_op_the_point_and_the_drawn_seed() -> None:
    @custom_op
    def twice(x: float) -> float:
        return 2.0 * x

    twice.defvjp(lambda g, ans, x: 2.0)  # forgets g
    with pytest.raises(GradcheckError) as info:
        check_op(twice, max_examples=20)
    err = info.value
    assert isinstance(err.seed, float) and err.seed not in (0.0, 1.0)
    assert str(err).startswith("op 'twice': gradient mismatch at (")
    assert f"seed {err.seed!r}" in str(err)
    assert err.analytic == [2.0]
    assert err.expected[0] == pytest.approx(2.0 * err.seed, rel=1e-6)


def test_import_without_hypothesis_says_how_to_install() -> None:
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'hypothesis' or name.startswith('hypothesis.'):\n"
        "            raise ImportError('blocked: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import autograd\n"
        "try:\n"
        "    import autograd.testing\n"
        "except ImportError as e:\n"
        "    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert 'pip install "tapegrad[testing]"' in out.stdout
