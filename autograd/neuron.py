"""A neuron as one op: its weighted sum, bias and activation recorded as one graph node.

`neuron(ws, b, xs, activation)` is `activation(ws . xs + b)`. Its derivative
is not written again here: the rule composes the activation op's own rule
with the dot product's (`autograd/ops.py`), so it serves floats and Values
(higher order) like any op.

Beside that rule sits one fast path, because a network's time is spent in
its neurons: the float backward step (`float_kernel`) adds each share into the
operands' `.grad` in one loop, and skips a node whose activation passes no
gradient (a dead relu). `benchmarks/` measures it: it is what puts the demo
training step near hand-written float loops. Skipping is exact because such a
node is only recorded when its weighted sum is finite, so every operand is
finite and each share would be a zero.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import mul
from typing import Any

from autograd import ops
from autograd.engine import Value, _mode, _tick, constant, general_step
from autograd.opdef import Op

__all__ = [
    "ACTIVATIONS",
    "linear_neuron",
    "neuron",
    "neurons",
    "relu_neuron",
    "sigmoid_neuron",
    "tanh_neuron",
    "weighted_sum",
]

_new = object.__new__


class _NeuronValue(Value):
    """A neuron's output, which also keeps its weighted sum `_z` for the activation's rule."""

    __slots__ = ("_z",)

    _z: float


#: The activations a neuron node can carry (None: a linear neuron).
ACTIVATIONS: dict[str | None, Op | None] = {
    None: None,
    "relu": ops.relu,
    "tanh": ops.tanh,
    "sigmoid": ops.sigmoid,
}


def _make(act: Op | None) -> Op:
    """The neuron op for one activation: operands w0..wn-1, b, x0..xn-1."""
    name = f"{act.name}_neuron" if act is not None else "linear_neuron"

    def forward(*wbx: Any) -> Any:
        n = len(wbx) // 2
        z = ops._dot(*wbx[:n], *wbx[n + 1 :]) + wbx[n]  # ops, so arrays and the tracer follow
        return z if act is None else act(z)

    forward.__name__ = forward.__qualname__ = name
    forward.__doc__ = f"{act.name if act else 'identity'}(w . x + b), operands w, b, x."
    op = Op(forward, name=name, symbol=f"{act.name}(w·x+b)" if act else "w·x+b")

    def rule(g: Any, ans: Any, *wbx: Any) -> list[Any]:
        """d/dz act(z) by the activation's rule, then d/dw (w . x) = x, d/db = 1, d/dx = w."""
        n = len(wbx) // 2
        ws, b, xs = wbx[:n], wbx[n], wbx[n + 1 :]
        if act is None:
            gz = g
        else:
            assert act.vjps is not None
            gz = act.vjps[0](g, ans, ops.dot(ws, xs) + b)
        assert ops._dot.vjp_all is not None
        shares = list(ops._dot.vjp_all(gz, None, *ws, *xs))  # [gz x...] + [gz w...]
        return [*shares[:n], gz, *shares[n:]]

    op.defvjp_all(rule)
    op.float_kernel = _kernel(act, general_step(op))
    return op


def _kernel(act: Op | None, general: Callable[[Value], None]) -> Callable[[Value], None]:
    """The float backward step of a neuron node: the rule above, in one loop over the operands."""
    if act is None:

        def slope(g: float, ans: float, z: float) -> float:
            return g

    else:
        fast = getattr(act, "float_vjps", None) or act.vjps
        assert fast is not None
        slope = fast[0]

    def step(node: Value) -> None:
        try:
            z = node._z  # type: ignore[attr-defined]
        except AttributeError:  # recorded by the general path (a sum that was not finite)
            general(node)
            return
        gz = slope(node.grad, node.data, z)
        if not gz:  # every share is 0 (the operands are finite): nothing to add
            return
        operands = node._operands
        n = len(operands) // 2
        ws = operands[:n]
        xs = operands[n + 1 :]
        for w, x in zip(ws, xs):  # the same order as the rule's list: w, then b, then x
            w.grad += gz * x.data
        operands[n].grad += gz
        for w, x in zip(ws, xs):
            x.grad += gz * w.data

    return step


_OPS: dict[str | None, Op] = {key: _make(act) for key, act in ACTIVATIONS.items()}
# Module-level names, so the ops pickle by reference like the built-in ones.
linear_neuron, relu_neuron = _OPS[None], _OPS["relu"]
tanh_neuron, sigmoid_neuron = _OPS["tanh"], _OPS["sigmoid"]


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
