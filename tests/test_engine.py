"""Value, graph recording and the backward pass."""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest

from autograd import Value, detect_anomaly, enable_grad, is_grad_enabled, no_grad, ops
from autograd import engine as engine_module
from autograd.engine import topological_order

# --- construction and bad input ----------------------------------------------


@pytest.mark.parametrize(
    "data", [3, 2.5, True, np.float64(1.5), np.float32(0.25), np.int64(7), np.bool_(False)]
)
def test_value_accepts_real_numbers_as_python_floats(data: object) -> None:
    v = Value(data)
    assert type(v.data) is float
    assert v.data == float(data)  # type: ignore[arg-type]
    assert v.grad == 0.0


@pytest.mark.parametrize(
    ("data", "typename"),
    [
        ("3", "str"),
        (None, "NoneType"),
        (1 + 2j, "complex"),
        ([1.0], "list"),
        (np.zeros(2), "ndarray"),
    ],
)
def test_value_rejects_non_numbers_naming_the_type(data: object, typename: str) -> None:
    with pytest.raises(TypeError, match=typename):
        Value(data)


def test_value_inside_value_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="Value"):
        Value(Value(1.0))


@pytest.mark.parametrize("bad", ["a", None, [1.0], 1j])
def test_operators_reject_non_numbers(bad: object) -> None:
    with pytest.raises(TypeError):
        Value(1.0) + bad  # type: ignore[operator]
    with pytest.raises(TypeError):
        bad * Value(1.0)  # type: ignore[operator]


def test_micrograd_signature_and_attributes() -> None:
    a = Value(2.0, label="a")
    b = Value(3.0, label="b")
    c = Value(a.data * b.data, (a, b), "*", label="c")
    assert set(c._prev) == {a, b}
    assert c._op == "*"
    assert c.label == "c"
    assert c.item() == 6.0
    d = a * b
    assert d._prev == (a, b)
    assert d._op == "*"


def test_repr_shows_data_and_grad_at_full_precision_like_micrograd() -> None:
    x = Value(0.5, label="x")
    y = x.tanh()
    y.backward()
    assert repr(x) == f"Value(data=0.5, grad={1 - math.tanh(0.5) ** 2!r}, label='x')"
    assert repr(y) == f"Value(data={math.tanh(0.5)!r}, grad=1.0)"
    # Every digit survives: the printed numbers parse back to the same floats.
    third = Value(1 / 3)
    assert float(repr(third).split("data=")[1].split(",")[0]) == 1 / 3


# --- operators -----------------------------------------------------------------


def test_operators_with_numbers_on_either_side() -> None:
    x = Value(3.0)
    cases = {
        "x + 2": (x + 2, 5.0),
        "2 + x": (2 + x, 5.0),
        "x - 2": (x - 2, 1.0),
        "2 - x": (2 - x, -1.0),
        "x * 2": (x * 2, 6.0),
        "2 * x": (2 * x, 6.0),
        "x / 2": (x / 2, 1.5),
        "6 / x": (6 / x, 2.0),
        "x ** 2": (x**2, 9.0),
        "2 ** x": (2**x, 8.0),
        "x ** x": (x**x, 27.0),
        "-x": (-x, -3.0),
        "abs(-x)": (abs(-x), 3.0),
        "+x": (+x, 3.0),
    }
    for text, (v, expected) in cases.items():
        assert isinstance(v, Value), text
        assert v.data == expected, text


def test_in_place_forms_rebind_to_new_nodes() -> None:
    x = Value(1.0)
    y = x
    y += 2
    y *= x
    y -= 1
    y /= 2
    y **= 2
    assert x.data == 1.0  # the original is untouched, like micrograd
    assert y.data == 1.0
    y.backward()
    # y = ((x + 2) * x - 1) / 2) ** 2 ; dy/dx = 2 * 1 * (2x + 2) / 2 = 4 at x = 1
    assert x.grad == pytest.approx(4.0)


def test_constants_are_not_wrapped_in_nodes() -> None:
    x = Value(3.0)
    y = x * 2.0
    assert y._prev == (x,)
    assert y._args == (x, 2.0)
    assert len(topological_order(y)) == 2


def test_comparisons_use_data_but_equality_is_identity() -> None:
    a, b = Value(1.0), Value(2.0)
    assert a < b and a <= b and b > a and b >= a
    assert a < 1.5 and b > 1.5 and a <= 1 and a >= 1
    c = Value(1.0)
    assert a != c
    assert a == a
    assert len({a, c}) == 2
    assert {a: 1, c: 2}[c] == 2


# --- backward --------------------------------------------------------------------


def test_backward_micrograd_neuron() -> None:
    x1, x2 = Value(2.0), Value(0.0)
    w1, w2 = Value(-3.0), Value(1.0)
    b = Value(6.8813735870195432)
    o = (x1 * w1 + x2 * w2 + b).tanh()
    o.backward()
    assert o.data == pytest.approx(math.sqrt(0.5))
    assert x1.grad == pytest.approx(-1.5)
    assert w1.grad == pytest.approx(1.0)
    assert x2.grad == pytest.approx(0.5)
    assert w2.grad == pytest.approx(0.0)


def test_shared_subexpression_accumulates() -> None:
    a = Value(3.0)
    b = a + a  # the same operand twice
    c = b * a
    c.backward()  # c = 2a^2
    assert a.grad == pytest.approx(12.0)
    assert b.grad == pytest.approx(3.0)


def test_gradients_accumulate_across_backward_calls() -> None:
    x = Value(2.0)
    y = x * x
    y.backward()
    y.backward()
    assert x.grad == pytest.approx(8.0)
    # interior nodes accumulate too, and each pass flows only its own gradient
    assert y.grad == pytest.approx(2.0)
    z = x * 3
    z.backward()
    assert x.grad == pytest.approx(11.0)


def test_backward_gradient_seed() -> None:
    x = Value(2.0)
    (x * x).backward(0.5)
    assert x.grad == pytest.approx(2.0)


def test_each_node_visited_once_in_a_diamond_lattice() -> None:
    # 2^60 paths from top to bottom: a walk per path would never finish
    x = Value(1.0)
    v = x
    for _ in range(60):
        v = v * 0.5 + v * 0.5
    v.backward()
    assert x.grad == pytest.approx(1.0)


def test_deep_chain_of_a_million_nodes() -> None:
    x = Value(0.5)
    y = x
    for _ in range(1_000_000):
        y = y + 1e-6
    y.backward()
    assert x.grad == 1.0
    assert y.data == pytest.approx(1.5)


def test_wide_sum_of_200k_terms() -> None:
    xs = [Value(float(i)) for i in range(200_000)]
    s = ops.sum(x * x for x in xs)
    s.backward()
    assert s.data == pytest.approx(sum(float(i) ** 2 for i in range(200_000)))
    assert xs[12345].grad == 2 * 12345.0


def test_wide_chain_of_additions() -> None:
    xs = [Value(1.0) for _ in range(200_000)]
    total = xs[0]
    for x in xs[1:]:
        total = total + x
    total.backward()
    assert all(x.grad == 1.0 for x in xs)


def test_topological_order_is_leaves_first_and_complete() -> None:
    a, b = Value(1.0), Value(2.0)
    c = a * b
    d = c + a
    e = d.tanh()
    order = topological_order(e)
    assert order[-1] is e
    assert len(order) == len(set(order)) == 5
    pos = {v: i for i, v in enumerate(order)}
    for v in order:
        for child in v._prev:
            assert pos[child] < pos[v]


# --- higher order ----------------------------------------------------------------


def test_create_graph_gives_second_derivative() -> None:
    x = Value(3.0)
    y = x**3
    y.backward(create_graph=True)
    g = x.grad
    assert isinstance(g, Value)
    assert g.data == pytest.approx(27.0)
    x.grad = 0.0
    g.backward()
    assert x.grad == pytest.approx(18.0)


def test_create_graph_accumulates_like_pytorch() -> None:
    x = Value(3.0)
    (x**3).backward(create_graph=True)
    x.grad.backward()  # adds d2y/dx2 = 18 to the 27 already there
    assert x.grad == pytest.approx(27.0 + 18.0)


def test_third_derivative_through_nested_backward() -> None:
    x = Value(0.7)
    y = x.sin()
    y.backward(create_graph=True)
    g1 = x.grad
    x.grad = 0.0
    g1.backward(create_graph=True)
    g2 = x.grad
    x.grad = 0.0
    g2.backward()
    assert x.grad == pytest.approx(-math.cos(0.7))


# --- no_grad, anomaly --------------------------------------------------------------


def test_no_grad_records_nothing() -> None:
    x = Value(2.0)
    with no_grad():
        assert not is_grad_enabled()
        y = x * x + 1
        with enable_grad():
            z = x * x
    assert is_grad_enabled()
    assert y._prev == () and y._op == "" and y.data == 5.0
    assert z._prev == (x, x)
    y.backward()
    assert x.grad == 0.0


def test_no_grad_does_not_leak_into_other_threads() -> None:
    seen: list[bool] = []
    with no_grad():
        t = threading.Thread(target=lambda: seen.append(is_grad_enabled()))
        t.start()
        t.join()
    assert seen == [True]


def test_detect_anomaly_forward_names_the_op() -> None:
    x = Value(1e308)
    with detect_anomaly(), pytest.raises(FloatingPointError, match=r"op 'mul'"):
        x * 10
    assert math.isinf((x * 10).data)  # outside the context: no check


def test_detect_anomaly_backward_names_the_op() -> None:
    x = Value(0.0)
    y = x.sqrt()  # finite value, infinite derivative at 0
    with detect_anomaly(), pytest.raises(FloatingPointError, match="sqrt"):
        y.backward()


def test_detect_anomaly_nan_from_inf_minus_inf() -> None:
    a = Value(math.inf)
    with detect_anomaly(), pytest.raises(FloatingPointError, match=r"op 'sub'.*nan"):
        a - a


# --- domain errors -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "error", "pattern"),
    [
        (lambda x: x.log(), ValueError, r"log is undefined for x = -1\.0 \(Value 'x'\)"),
        (lambda x: (x * 0).log(), ValueError, r"log is undefined for x = -0\.0"),
        (lambda x: x.sqrt(), ValueError, r"sqrt is undefined for x = -1\.0 \(Value 'x'\)"),
        (lambda x: x**0.5, ValueError, r"negative base to a non-integer power: -1\.0 \*\* 0\.5"),
        (lambda x: x / 0, ZeroDivisionError, r"division by zero in -1\.0 / 0\.0 \(Value 'x'\)"),
        (lambda x: (x + 1) ** -1, ZeroDivisionError, r"0\.0 \*\* -1\.0"),
        (lambda x: (x * -1000).exp(), OverflowError, r"exp overflows for x = 1000\.0"),
        (lambda x: (x * -10) ** 400, OverflowError, r"pow overflows"),
    ],
)
def test_domain_errors_name_op_and_value(make, error, pattern) -> None:  # type: ignore[no-untyped-def]
    x = Value(-1.0, label="x")
    with pytest.raises(error, match=pattern):
        make(x)


def test_negative_base_integer_power_is_fine() -> None:
    x = Value(-2.0)
    y = x**3
    y.backward()
    assert y.data == -8.0
    assert x.grad == pytest.approx(12.0)


def test_ops_module_binds_the_operators() -> None:
    assert engine_module._add is ops.add
    assert engine_module._pow is ops.pow
