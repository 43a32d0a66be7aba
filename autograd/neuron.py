"""A layer of neurons as graph nodes: each `activation(w . x + b)` one node of a neuron op.

`neurons(rows, xs, activation)` makes `activation(ws . xs + b)` for each row as
one node of `ops.NEURONS[activation]` (its forward and derivative are in
`autograd/ops.py`, with every other derivative). This is the reference;
autograd/fastpaths.py installs a faster recording over `neurons` (the inputs'
numbers read once per layer, the weighted sum kept for the backward kernel).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from autograd import ops
from autograd.engine import Value, constant

__all__ = ["ACTIVATIONS", "neuron", "neurons", "weighted_sum"]

#: The activations a neuron node can carry (None: a linear neuron); the ops live in autograd.ops.
ACTIVATIONS = ops.NEURON_ACTIVATIONS


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
    op = ops.NEURONS[activation]
    xv = tuple([x if isinstance(x, Value) else constant(x, "neuron input") for x in xs])
    return [op(*ws, b, *xv) for ws, b in rows]


def weighted_sum(v: Value) -> float | None:
    """`w . x + b` of a neuron node (its activation's input), or None for any other Value."""
    if v._maker not in ops.NEURONS.values():
        return None
    z = getattr(v, "_z", None)  # kept by the fast recording (autograd/fastpaths.py)
    if z is None:  # recorded by the op's own call: add it up again
        z = ops.NEURONS[None].forward(*[a.data for a in v._operands])
    return float(z)
