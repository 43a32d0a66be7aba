"""Value, graph recording and the backward pass."""

from __future__ import annotations

import copy
import math
import pickle
import threading
from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np
import pytest

from autograd import (
    Value,
    custom_op,
    detect_anomaly,
    enable_grad,
    fastpaths,
    is_grad_enabled,
    no_grad,
    ops,
)
from autograd import engine as engine_module
from autograd.engine import operands, topological_order

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
    assert operands(y) == (x, 2.0)
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
    # pow checks its domain, so its operator stays the reference's, which calls the op
    assert Value.__pow__ is engine_module.Value.__dict__["__pow__"]
    assert Value.__pow__.__module__ == "autograd.engine"
    # add's forward traces: the fast path writes it into the operator, recording add nodes
    if fastpaths.installed():
        assert Value.__add__.__name__ == "add_entry"
    else:
        assert Value.__add__.__module__ == "autograd.engine"
    x, y = Value(1.5), Value(-4.0)
    for out in (x + y, x + 2.0, 2.0 + x, x - y, 2.0 - x, x * y, 3.0 * x, -x):
        assert out._maker is not None and out._maker.symbol == out._op
    assert (2.0 - x).data == 0.5 and operands(2.0 - x) == (2.0, x)
    assert operands(3.0 * x) == (3.0, x) and operands(x * 3.0) == (x, 3.0)
    with pytest.raises(TypeError, match="operand of mul must be a real number"):
        x * "a"  # type: ignore[operator]
    with no_grad():
        assert not (x * y)._prev


# --- trust: a failed pass loses nothing, threads do not double-count ---------------------


@pytest.mark.parametrize("create_graph", [False, True])
def test_a_backward_that_fails_leaves_every_grad_as_it_was(create_graph: bool) -> None:
    w = Value(2.0, label="w")
    x = Value(0.0, label="x")
    (w * 1.0).backward()  # w.grad = 1.0
    w.grad = 2.0
    x.grad = -0.5
    y = w * 3.0 + w * x.sqrt()  # sqrt'(0) is infinite: anomaly in the middle of the pass
    y.grad = 7.0
    with detect_anomaly(), pytest.raises(FloatingPointError, match=r"\binf\b"):
        y.backward(create_graph=create_graph)
    assert (w.grad, x.grad, y.grad) == (2.0, -0.5, 7.0)
    inner = [n for n in topological_order(y) if n not in (w, x, y)]
    assert all(n.grad == 0.0 for n in inner)


def test_a_rule_that_raises_part_way_restores_the_grads() -> None:
    @custom_op
    def fragile(x: float) -> float:
        return x

    def rule(g: Any, ans: Any, x: Any) -> Any:
        raise RuntimeError("rule failed")

    fragile.defvjp(rule)
    a = Value(1.0)
    a.grad = 5.0
    y = a * 2.0 + fragile(a)
    with pytest.raises(RuntimeError, match="rule failed"):
        y.backward()
    assert a.grad == 5.0


def test_concurrent_backward_passes_into_a_shared_leaf_add_up() -> None:
    w = Value(1.5)
    passes, threads = 200, 4

    def work(seed: float) -> None:
        for k in range(passes):
            x = Value(seed + k)
            (w * x * x + w.tanh()).backward()

    pool = [threading.Thread(target=work, args=(float(t),)) for t in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    expected = sum(
        (t + k) ** 2 + (1 - math.tanh(1.5) ** 2) for t in range(threads) for k in range(passes)
    )
    assert w.grad == pytest.approx(expected, rel=1e-12)


def test_grad_none_counts_as_zero_like_pytorch_set_to_none() -> None:
    a, b = Value(2.0), Value(3.0)
    a.grad = None
    (a * b).backward()
    assert a.grad == 3.0 and b.grad == 2.0
    b.grad = None
    (a * b).backward(create_graph=True)
    assert a.grad.data == 6.0 and b.grad.data == 2.0


def test_any_real_number_is_accepted_and_stored_as_a_float() -> None:
    for x, expected in [
        (Fraction(1, 3), 1 / 3),
        (Decimal("0.1"), 0.1),
        (np.int64(7), 7.0),
        (np.float32(0.5), 0.5),
        (np.bool_(True), 1.0),
        (np.array(2.5), 2.5),
    ]:
        v = Value(x)
        assert type(v.data) is float and v.data == expected
    assert (Value(1.0) + Fraction(1, 2)).data == 1.5
    with pytest.raises(TypeError, match="got complex"):
        Value(1j)


# --- micrograd-style ops and manual backprop ---------------------------------------------


class MicroValue(Value):
    """An op added the way micrograd tutorials add one: a subclass method with a closure."""

    def sigmoid(self) -> MicroValue:  # type: ignore[override]
        s = 1.0 / (1.0 + math.exp(-self.data))
        out = MicroValue(s, (self,), "sigmoid")

        def _backward() -> None:
            self.grad += s * (1.0 - s) * out.grad

        out._backward = _backward
        return out


def test_an_op_added_the_micrograd_way_gets_its_gradient() -> None:
    x = MicroValue(0.3)
    y = x.sigmoid() * 2.0 + x
    y.backward()
    s = 1.0 / (1.0 + math.exp(-0.3))
    assert x.grad == pytest.approx(2.0 * s * (1 - s) + 1.0, rel=1e-15)


def test_an_assigned_backward_on_a_plain_value() -> None:
    a = Value(3.0)
    out = Value(a.data**2, (a,), "square")
    out._backward = lambda: setattr(a, "grad", a.grad + 2 * a.data * out.grad)
    (out * 5.0).backward()
    assert a.grad == 30.0


def test_a_hand_built_node_without_a_rule_is_an_error_not_a_zero_gradient() -> None:
    a = Value(3.0)
    out = Value(9.0, (a,), "square")
    with pytest.raises(TypeError, match=r"'square'.*no derivative rule.*_backward"):
        out.backward()
    assert a.grad == 0.0 and out.grad == 0.0  # and nothing changed
    with pytest.raises(TypeError, match="children must be Values"):
        Value(1.0, (2.0,), "+")  # type: ignore[arg-type]


def test_an_assigned_backward_cannot_be_recorded_for_higher_order() -> None:
    x = MicroValue(0.3)
    y = x.sigmoid()
    with pytest.raises(TypeError, match=r"create_graph=True.*'sigmoid'.*@custom_op"):
        y.backward(create_graph=True)
    assert x.grad == 0.0


def test_calling_backward_of_each_node_by_hand_like_the_lecture() -> None:
    a, b = Value(2.0), Value(-3.0)
    c = Value(10.0)
    e = a * b
    d = e + c
    f = Value(-2.0)
    L = d * f
    L.grad = 1.0
    for node in (L, d, e):  # reverse topological order, by hand
        node._backward()
    for leaf in (a, b, c, f):
        leaf._backward()  # a leaf's step does nothing, as in micrograd
    assert (a.grad, b.grad, c.grad, f.grad, d.grad, e.grad) == (6.0, -4.0, -2.0, 4.0, -2.0, -2.0)
    # The same numbers as the engine's own pass.
    for v in (a, b, c, f, d, e, L):
        v.grad = 0.0
    L.backward()
    assert (a.grad, b.grad, c.grad, f.grad) == (6.0, -4.0, -2.0, 4.0)


def test_a_nodes_backward_step_records_when_its_grad_is_a_value() -> None:
    x = Value(0.5)
    y = x.tanh()
    y.grad = Value(1.0)
    y._backward()
    first = x.grad
    assert isinstance(first, Value)
    t = math.tanh(0.5)
    assert first.data == pytest.approx(1 - t * t)
    x.grad = 0.0
    first.backward()  # d/dx tanh'(x) = -2 tanh(x) (1 - tanh(x)^2)
    assert x.grad == pytest.approx(-2 * t * (1 - t * t))


# --- copying and pickling ------------------------------------------------------------


def test_deepcopy_of_a_deep_chain_is_iterative_and_keeps_the_builtin_ops() -> None:
    x = Value(0.5)
    y = x
    for _ in range(5000):
        y = (y * 1.0001).tanh() + 0.01
    z = copy.deepcopy(y)
    assert z is not y and z.data == y.data
    assert z._maker is y._maker is ops.add  # ops are shared, not duplicated
    z.backward()
    y.backward()
    leaf = topological_order(z)[0]
    assert leaf is not x and leaf.grad == x.grad != 0.0


def test_pickle_round_trip_of_a_graph() -> None:
    a = Value(2.0, label="a")
    b = a * a + ops.sum([a, 3.0])
    c = pickle.loads(pickle.dumps(b))
    assert c._maker is ops.add and c.data == b.data
    c.backward()
    b.backward()
    assert topological_order(c)[0].grad == a.grad == 5.0
    assert pickle.loads(pickle.dumps(ops.tanh)) is ops.tanh


def test_an_op_that_cannot_be_found_by_name_refuses_to_pickle_clearly() -> None:
    local = custom_op(lambda x: x, name="local")
    with pytest.raises(pickle.PicklingError, match="cannot pickle op 'local'"):
        pickle.dumps(local)
    assert copy.deepcopy(local) is local


def test_pickle_of_a_deep_chain_keeps_values_shared_with_the_rest_of_the_pickle() -> None:
    x = Value(0.5, label="x")
    y = x
    for _ in range(20_000):
        y = y * 1.0001 + 0.01
    x2, y2 = pickle.loads(pickle.dumps((x, y)))
    assert y2.data == y.data and x2.label == "x"
    assert topological_order(y2)[0] is x2  # the leaf is the same object as the pickled x
    y2.backward()
    y.backward()
    assert x2.grad == x.grad


def test_a_micrograd_style_node_refuses_to_pickle_clearly() -> None:
    a = Value(1.0)
    out = Value(2.0, (a,), "double")
    copy = pickle.loads(pickle.dumps(out))  # no rule yet: pickles, and still has none
    assert copy._op == "double" and copy._prev[0].data == 1.0
    with pytest.raises(TypeError, match="no derivative rule"):
        copy.backward()
    out._backward = lambda: None
    with pytest.raises(pickle.PicklingError, match="_backward was assigned"):
        pickle.dumps(out * 2.0)


def test_a_copied_graph_still_compiles_for_numpy_batches() -> None:
    from autograd import compile

    w, x = Value(0.3), Value(1.0)
    out = (w * x).tanh() + ops.relu(x)
    w2, x2, out2 = copy.deepcopy((w, x, out))
    prog = compile(out2, [x2])
    batch = np.array([0.5, -1.0, 2.0])
    assert prog(batch) == pytest.approx(np.tanh(0.3 * batch) + np.maximum(batch, 0.0), rel=1e-15)
    assert w2 is not w and w.grad == 0.0


# --- from the second review ------------------------------------------------------------


def test_create_graph_inside_no_grad_still_records_the_accumulated_gradient() -> None:
    a = Value(2.0)
    (a * a * a).backward(create_graph=True)  # a.grad = 3a^2, a Value
    z = a * a * a
    with no_grad():
        z.backward(create_graph=True)  # a.grad = 3a^2 + 3a^2, still differentiable
    g = a.grad
    a.grad = 0.0
    g.backward()
    assert g.data == 24.0 and a.grad == 24.0  # d/da 6a^2 = 12a


def test_a_failed_accumulation_under_create_graph_restores_every_grad() -> None:
    a, b, c = Value(1.0), Value(2.0), Value(3.0)
    a.grad, b.grad = Value(1e308), Value(7.0)
    z = a * 1e308 + b * 2.0 + c * 4.0
    with detect_anomaly(), pytest.raises(FloatingPointError):
        z.backward(create_graph=True)  # 1e308 + 1e308 overflows while adding back
    assert (a.grad.data, b.grad.data, c.grad) == (1e308, 7.0, 0.0)


def test_compiled_and_eager_backward_in_two_threads_add_up() -> None:
    from autograd import compile

    ws = [Value(1.0), Value(2.0), Value(3.0)]
    x = Value(1.0)
    prog = compile(ops.sum([w * x for w in ws]), [x])
    n = 3000

    def compiled() -> None:
        for _ in range(n):
            prog.backward(1.0)

    def eager() -> None:
        for _ in range(n):
            (ws[0] + ws[1] + ws[2]).backward()

    pool = [threading.Thread(target=compiled), threading.Thread(target=eager)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert [w.grad for w in ws] == [2.0 * n] * 3


def test_compiled_backward_counts_a_none_grad_as_zero() -> None:
    from autograd import compile

    w, v, x = Value(1.0), Value(2.0), Value(1.0)
    w.grad, v.grad = 1.0, None
    compile(w * x + v * x, [x]).backward(3.0)
    assert (w.grad, v.grad) == (4.0, 3.0)


def test_a_shallow_copy_of_a_hand_built_node_is_refused() -> None:
    a = Value(3.0)
    out = Value(9.0, (a,), "square")
    out._backward = lambda: None
    with pytest.raises(TypeError, match="cannot copy"):
        copy.copy(out)
    assert copy.copy(a * 2.0)._prev == (a,)


def test_assigning_backward_on_a_leaf_is_micrograds_no_op() -> None:
    class Micro(Value):
        def __init__(self, data: float, children: tuple[Value, ...] = (), op: str = "") -> None:
            super().__init__(data, children, op)
            self._backward = lambda: None  # micrograd's constructor does this for every node

    x = Micro(2.0)
    y = x * x
    y.backward(create_graph=True)
    assert x.grad.data == 4.0 and x._maker is None


@pytest.mark.parametrize(("depth", "how"), [(2000, "deepcopy"), (40, "pickle")])
def test_copies_of_graphs_whose_grads_are_values(depth: int, how: str) -> None:
    # Gradient graphs refer back to the nodes above (tanh's rule uses its output), so
    # pickling them nests; deepcopy makes every node first and fills them in after.
    x = Value(0.3)
    y = x
    for _ in range(depth):
        y = (y * 1.001).tanh() + 0.1
    y.backward(create_graph=True)  # every .grad is a Value with its own graph
    clone = copy.deepcopy(y) if how == "deepcopy" else pickle.loads(pickle.dumps(y))
    leaf = topological_order(clone)[0]
    assert isinstance(leaf.grad, Value) and leaf.grad.data == x.grad.data
    leaf.grad.backward()  # the copied gradient graph leads back to the copied leaf


def test_a_failed_pickle_does_not_affect_the_next_one() -> None:
    local = custom_op(lambda v: v, name="local")
    local.defvjp(lambda g, ans, v: g)
    with pytest.raises(pickle.PicklingError):
        pickle.dumps(local(Value(1.0)) * 2.0)
    y = Value(0.5)
    for _ in range(20_000):
        y = y * 1.0001 + 0.01
    assert pickle.loads(pickle.dumps(y)).data == y.data


def test_a_value_does_not_turn_into_a_float_silently() -> None:
    # math.exp(v) would cut the graph without a word: it must fail, as in micrograd.
    with pytest.raises(TypeError):
        math.exp(Value(1.0))  # type: ignore[arg-type]
