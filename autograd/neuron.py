"""Recording a layer of neurons fast: each neuron one node of autograd.ops' neuron ops.

`neurons(rows, xs, activation)` makes `activation(ws . xs + b)` for each row as
one node of `ops.NEURONS[activation]` (its forward, rule and float fast path
are in `autograd/ops.py`, with every other derivative). This module is the
recording side: the inputs' numbers are read once per layer, the weighted
sum is added up in C, and the node keeps that sum (`_z`) for the fast
backward step. A sum that is not finite, or a mode (`no_grad`,
`detect_anomaly`), takes the op's general call instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import mul
from typing import Any

from autograd import ops
from autograd.engine import Value, _mode, _tick, constant

__all__ = ["ACTIVATIONS", "neuron", "neurons", "weighted_sum"]

_new = object.__new__


class _NeuronValue(Value):
    """A neuron's output, which also keeps its weighted sum `_z` for the activation's rule."""

    __slots__ = ("_z",)

    _z: float


#: The activations a neuron node can carry (None: a linear neuron); the ops live in autograd.ops.
ACTIVATIONS = ops.NEURON_ACTIVATIONS
_OPS = ops.NEURONS  # the neuron op of each activation


def neuron(ws: Sequence[Value], b: Value, xs: Sequence[Any], activation: str | None) -> Value:
    """`activation(ws . xs + b)` as one node (see `neurons`)."""
    return neurons([(ws, b)], xs, activation)[0]


def neurons(
    rows: Sequence[tuple[Sequence[Value], Value]], xs: Sequence[Any], activation: str | None
) -> list[Value]:
    """A layer's outputs: `activation(ws . xs + b)` for each `(ws, b)` of `rows`, one node each.

    `xs` may hold Values and numbers (numbers become constants). `activation`
    is a key of `ACTIVATIONS`. Every output is an ordinary Value; its node's
    `_operands` are `(*ws, b, *xs)`.
    """
    op = _OPS[activation]
    act = ACTIVATIONS[activation]
    xv = tuple([x if isinstance(x, Value) else constant(x, "neuron input") for x in xs])
    if _mode.get():  # no_grad / detect_anomaly: the general path honours them
        return [op(*ws, b, *xv) for ws, b in rows]
    xd = [x.data for x in xv]
    forward = act.float_forward if act is not None else None
    outs = []
    for ws, b in rows:
        try:
            # = ops.dot's forward (its sum starts from the first product; -0.0 + p is p)
            z = sum(map(mul, [w.data for w in ws], xd), -0.0) + b.data
        except AttributeError:  # a weight that is not a Value: the general path converts it
            outs.append(op(*ws, b, *xv))
            continue
        if z - z != 0.0 or len(ws) != len(xd):  # not finite, or a size mismatch: the general path
            outs.append(op(*ws, b, *xv))
            continue
        out = _new(_NeuronValue)
        out.data = z if forward is None else forward(z)
        out.grad = 0.0
        out._z = z
        out._operands = (*ws, b, *xv)
        out._fn = op
        out._n = _tick()
        outs.append(out)
    return outs


def weighted_sum(v: Value) -> float | None:
    """`w . x + b` of a neuron node (its activation's input), or None for any other Value."""
    fn = v._fn
    if fn is None or fn not in _OPS.values():
        return None
    z = getattr(v, "_z", None)
    if z is None:  # recorded by the general path: add it up again
        data = [a.data for a in v._operands]
        z = _OPS[None].forward(*data)
    return float(z)
