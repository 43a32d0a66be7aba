"""The tape listing: format_tape and the node names draw_dot shares."""

from __future__ import annotations

import math

from autograd import Value, draw_dot, format_tape, topological_order
from autograd.viz import node_names


def test_format_tape_lists_every_node_in_order() -> None:
    x = Value(0.5, label="x")
    w = Value(2.0, label="w")
    y = (x * w + 1).tanh()
    y.label = "y"
    y.backward()
    lines = format_tape(y).splitlines()
    assert len(lines) == 5
    assert lines[0].startswith("x = input") and "data=0.5" in lines[0]
    dw = 0.5 * (1 - math.tanh(2.0) ** 2)  # dy/dw = x (1 - tanh^2)
    assert lines[1].startswith("w = input") and f"grad={dw:.6g}" in lines[1]
    assert lines[2].startswith("v2 = x * w")
    assert lines[3].startswith("v3 = v2 + 1 ")
    assert lines[4].startswith("y = tanh(v3)") and "grad=1" in lines[4]


def test_format_tape_function_style_for_named_ops() -> None:
    a, b = Value(1.0, label="a"), Value(2.0, label="b")
    s = a.leaky_relu(0.1) + b.sigmoid()
    text = format_tape(s)
    assert "leaky_relu(a, 0.1)" in text
    assert "sigmoid(b)" in text


def test_node_names_are_unique_with_repeated_labels() -> None:
    a, b = Value(1.0, label="w"), Value(2.0, label="w")
    c = a * b
    names = node_names(topological_order(c))
    assert len(set(names.values())) == 3
    assert names[a] == "w#0" and names[b] == "w#1"


def test_draw_dot_and_format_tape_agree_on_names() -> None:
    a, b = Value(1.0, label="a"), Value(2.0)
    c = (a * b).exp()
    source = draw_dot(c).source
    for name in node_names(topological_order(c)).values():
        assert name in format_tape(c)
        assert name in source
