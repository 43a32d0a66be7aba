"""Code from micrograd's lecture, run on tapegrad: manual backprop, ops added by hand, printing.

The lecture builds a neuron out of Values, fills in every gradient by hand,
then by calling each node's `_backward()` in reverse topological order, and
finally with `backward()`. All three must agree, on the lecture's own numbers.
"""

from __future__ import annotations

import math

import pytest

from autograd import Value
from autograd.engine import topological_order


def _neuron() -> dict[str, Value]:
    # The lecture's neuron: o = tanh(x1 w1 + x2 w2 + b), with b chosen so that n = 0.8814.
    x1, x2 = Value(2.0, label="x1"), Value(0.0, label="x2")
    w1, w2 = Value(-3.0, label="w1"), Value(1.0, label="w2")
    b = Value(6.8813735870195432, label="b")
    x1w1 = x1 * w1
    x1w1.label = "x1*w1"
    x2w2 = x2 * w2
    x2w2.label = "x2*w2"
    s = x1w1 + x2w2
    s.label = "x1*w1 + x2*w2"
    n = s + b
    n.label = "n"
    o = n.tanh()
    o.label = "o"
    return {v.label: v for v in (x1, x2, w1, w2, b, x1w1, x2w2, s, n, o)}


def _expected(n: float) -> dict[str, float]:
    # The chain rule by hand: do/dn = 1 - tanh(n)^2, '+' passes it on, '*' swaps operands.
    dn = 1 - math.tanh(n) ** 2
    return {"x1": dn * -3.0, "w1": dn * 2.0, "x2": dn * 1.0, "w2": dn * 0.0, "b": dn, "n": dn}


def test_node_by_node_backward_matches_the_lecture() -> None:
    v = _neuron()
    o = v["o"]
    assert o.data == pytest.approx(0.7071067811865476, rel=1e-12)  # the lecture's 0.7071
    o.grad = 1.0
    for node in reversed(topological_order(o)):
        node._backward()
    expected = _expected(v["n"].data)
    for name, g in expected.items():
        assert v[name].grad == pytest.approx(g, rel=1e-12), name
    assert v["x1"].grad == pytest.approx(-1.5, rel=1e-9)  # the lecture's numbers
    assert v["w1"].grad == pytest.approx(1.0, rel=1e-9)
    assert v["x2"].grad == pytest.approx(0.5, rel=1e-9)
    assert v["w2"].grad == 0.0


def test_backward_gives_the_same_gradients_as_the_manual_walk() -> None:
    manual, auto = _neuron(), _neuron()
    manual["o"].grad = 1.0
    for node in reversed(topological_order(manual["o"])):
        node._backward()
    auto["o"].backward()
    for name in ("x1", "x2", "w1", "w2", "b", "n", "x1*w1 + x2*w2"):
        assert auto[name].grad == manual[name].grad, name


def test_tanh_built_from_exp_like_the_lecture() -> None:
    # The lecture's second version: tanh written as (e^2n - 1) / (e^2n + 1).
    v = _neuron()
    e = (2 * v["n"]).exp()
    o = (e - 1) / (e + 1)
    o.backward()
    for name, g in _expected(v["n"].data).items():
        assert v[name].grad == pytest.approx(g, rel=1e-9), name


def test_a_value_used_twice_accumulates_like_the_lectures_bug_fix() -> None:
    a = Value(3.0, label="a")
    b = a + a  # the lecture's bug: overwriting instead of += gave 1
    b.backward()
    assert a.grad == 2.0
    x, y = Value(-2.0), Value(3.0)
    d, e = x * y, x + y
    f = d * e
    f.backward()
    assert (x.grad, y.grad) == (-3.0, -8.0)


def test_repr_prints_full_precision_like_micrograd() -> None:
    v = _neuron()
    v["o"].backward()
    text = repr(v["o"])
    data = float(text.split("data=")[1].split(",")[0])
    assert data == v["o"].data  # every digit kept
    assert text.startswith("Value(data=0.70710678118654")
