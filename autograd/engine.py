"""The engine: Value, graph recording through ops, topological order and the backward loop.

There is no calculus in this file. Every derivative lives next to its forward
rule in `autograd/ops.py`; this module only records which op made which Value
from which operands, and walks that record backwards applying the rules.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeAlias

Operand: TypeAlias = "Value | float | int"
Rule = Callable[..., Any]

# One context variable holds both switches so the hot path reads it once.
# Bit 1: recording disabled (no_grad).  Bit 2: anomaly detection on.
_NO_GRAD = 1
_ANOMALY = 2
_mode: ContextVar[int] = ContextVar("tapegrad_mode", default=0)

# Counts the backward(create_graph=True) passes, which may leave Values in
# `.grad` fields: a compiled program, which adds floats into `.grad`, turns such
# gradients back into floats first (as a plain backward does) when it changes.
graph_grads_epoch = 0


@contextmanager
def no_grad() -> Iterator[None]:
    """Context manager: operations inside record no graph and return leaf Values.

    Like `torch.no_grad()`. It is a context variable, so other threads and
    asyncio tasks keep their own setting.
    """
    token = _mode.set(_mode.get() | _NO_GRAD)
    try:
        yield
    finally:
        _mode.reset(token)


@contextmanager
def enable_grad() -> Iterator[None]:
    """Context manager: turn recording back on inside a `no_grad()` block."""
    token = _mode.set(_mode.get() & ~_NO_GRAD)
    try:
        yield
    finally:
        _mode.reset(token)


def is_grad_enabled() -> bool:
    """True when operations on Values are being recorded."""
    return not _mode.get() & _NO_GRAD


@contextmanager
def detect_anomaly() -> Iterator[None]:
    """Context manager: the first op producing a NaN/inf value or gradient raises.

    The `FloatingPointError` names the op, its inputs and, in the backward
    pass, the node whose gradient went bad.
    """
    token = _mode.set(_mode.get() | _ANOMALY)
    try:
        yield
    finally:
        _mode.reset(token)


def _type_error(x: object, where: str) -> TypeError:
    return TypeError(
        f"{where} must be a real number (int, float, bool or numpy scalar), "
        f"got {type(x).__name__}: {x!r}"
    )


def as_float(x: object, where: str = "Value data") -> float:
    """Convert a real number to a Python float; anything else is a TypeError."""
    if type(x) is float:
        return x
    if isinstance(x, (int, float)):  # bool is an int; numpy float64 is a float
        return float(x)
    if isinstance(x, Value):
        raise TypeError(f"{where} must be a number, got a Value ({x!r}); pass the Value itself")
    kind = getattr(getattr(x, "dtype", None), "kind", None)
    if kind in ("b", "i", "u", "f") and getattr(x, "ndim", None) == 0:
        return float(x)  # type: ignore[arg-type]  # a numpy scalar
    raise _type_error(x, where)


def _ops_not_loaded(*args: Any) -> Any:
    raise RuntimeError("autograd.ops failed to load, so Value has no operators")


# Value's operators dispatch to these ops. autograd/ops.py defines them and binds
# them here when it loads (it imports this module first, so binding goes that way).
_add: Callable[[Operand, Operand], Value] = _ops_not_loaded
_sub: Callable[[Operand, Operand], Value] = _ops_not_loaded
_mul: Callable[[Operand, Operand], Value] = _ops_not_loaded
_div: Callable[[Operand, Operand], Value] = _ops_not_loaded
_pow: Callable[[Operand, Operand], Value] = _ops_not_loaded
_neg: Callable[[Value], Value] = _ops_not_loaded
_abs: Callable[[Value], Value] = _ops_not_loaded


class Value:
    """One float in a computation graph, with the gradient a backward pass leaves in it.

    `Value(data, _children=(), _op='', label='')` has micrograd's signature, so
    code written for micrograd (and its graph-drawing snippet) keeps working.
    Values made by ops also remember the op (`_fn`) and, when some operands
    were plain numbers, the full operand list (`_args`); `_prev` holds only the
    Value operands.
    """

    __slots__ = ("__weakref__", "_args", "_fn", "_op", "_prev", "data", "grad", "label")

    data: float
    grad: Any  # a float, or a Value after backward(create_graph=True)
    label: str
    _prev: tuple[Value, ...]
    _op: str
    _fn: Op | None
    _args: tuple[Any, ...] | None

    def __init__(
        self, data: Any, _children: Iterable[Value] = (), _op: str = "", label: str = ""
    ) -> None:
        self.data = data if type(data) is float else as_float(data)
        self.grad = 0.0
        self.label = label
        self._prev = tuple(_children)
        self._op = _op
        self._fn = None
        self._args = None

    def __repr__(self) -> str:
        grad = self.grad.data if isinstance(self.grad, Value) else self.grad
        extra = f", op={self._op!r}" if self._op else ""
        if self.label:
            extra += f", label={self.label!r}"
        return f"Value(data={self.data:.6g}, grad={grad:.6g}{extra})"

    def item(self) -> float:
        """The wrapped number as a Python float."""
        return self.data

    # Operators and methods only dispatch into autograd.ops.
    def __add__(self, other: Operand) -> Value:
        return _add(self, other)

    def __radd__(self, other: Operand) -> Value:
        return _add(other, self)

    def __sub__(self, other: Operand) -> Value:
        return _sub(self, other)

    def __rsub__(self, other: Operand) -> Value:
        return _sub(other, self)

    def __mul__(self, other: Operand) -> Value:
        return _mul(self, other)

    def __rmul__(self, other: Operand) -> Value:
        return _mul(other, self)

    def __truediv__(self, other: Operand) -> Value:
        return _div(self, other)

    def __rtruediv__(self, other: Operand) -> Value:
        return _div(other, self)

    def __pow__(self, other: Operand) -> Value:
        return _pow(self, other)

    def __rpow__(self, other: Operand) -> Value:
        return _pow(other, self)

    def __neg__(self) -> Value:
        return _neg(self)

    def __pos__(self) -> Value:
        return self

    def __abs__(self) -> Value:
        return _abs(self)

    # Comparisons look at .data only; == and hash stay identity so Values live in sets.
    def __lt__(self, other: Operand) -> bool:
        return self.data < (other.data if isinstance(other, Value) else other)

    def __le__(self, other: Operand) -> bool:
        return self.data <= (other.data if isinstance(other, Value) else other)

    def __gt__(self, other: Operand) -> bool:
        return self.data > (other.data if isinstance(other, Value) else other)

    def __ge__(self, other: Operand) -> bool:
        return self.data >= (other.data if isinstance(other, Value) else other)

    def exp(self) -> Value:
        """e ** self."""
        return _ops.exp(self)  # type: ignore[no-any-return]

    def log(self) -> Value:
        """Natural logarithm; self must be > 0."""
        return _ops.log(self)  # type: ignore[no-any-return]

    def sqrt(self) -> Value:
        """Square root; self must be >= 0."""
        return _ops.sqrt(self)  # type: ignore[no-any-return]

    def sin(self) -> Value:
        """Sine."""
        return _ops.sin(self)  # type: ignore[no-any-return]

    def cos(self) -> Value:
        """Cosine."""
        return _ops.cos(self)  # type: ignore[no-any-return]

    def tanh(self) -> Value:
        """Hyperbolic tangent."""
        return _ops.tanh(self)  # type: ignore[no-any-return]

    def sigmoid(self) -> Value:
        """Logistic function 1 / (1 + e**-self), computed stably."""
        return _ops.sigmoid(self)  # type: ignore[no-any-return]

    def relu(self) -> Value:
        """max(0, self); derivative 0 at 0, as in PyTorch."""
        return _ops.relu(self)  # type: ignore[no-any-return]

    def leaky_relu(self, slope: Operand = 0.01) -> Value:
        """self if self > 0 else slope * self."""
        return _ops.leaky_relu(self, slope)  # type: ignore[no-any-return]

    def softplus(self) -> Value:
        """log(1 + e**self), computed stably."""
        return _ops.softplus(self)  # type: ignore[no-any-return]

    def backward(self, gradient: Operand = 1.0, *, create_graph: bool = False) -> None:
        """Apply the chain rule from this Value to every node of its graph.

        Each node's `.grad` gets `gradient * d(self)/d(node)` added to it, so
        gradients accumulate across calls exactly as in PyTorch and micrograd
        (call `zero_grad()` or set `.grad = 0.0` between steps). The graph is
        ordered iteratively, so chains of any depth work.

        Args:
            gradient: the seed d(loss)/d(self); 1.0 for a scalar loss.
            create_graph: record the backward pass itself, so every `.grad`
                becomes a Value that can be differentiated again.
        """
        order = topological_order(self)
        _backprop(order, self, gradient, create_graph, None)


def topological_order(root: Value) -> list[Value]:
    """Every Value `root` depends on, each once, leaves first and `root` last.

    Iterative depth-first search (no recursion), so a chain of a million
    nodes is fine.
    """
    order: list[Value] = []
    seen = {root}
    add = seen.add
    stack = [(root, iter(root._prev))]
    push = stack.append
    pop = stack.pop
    append = order.append
    while stack:
        node, children = stack[-1]
        for child in children:
            if child not in seen:
                add(child)
                push((child, iter(child._prev)))
                break
        else:
            pop()
            append(node)
    return order


def _backprop(
    order: list[Value],
    root: Value,
    gradient: Any,
    create_graph: bool,
    wrt: Sequence[Value] | None,
) -> list[Any] | None:
    """The backward loop over `order` (leaves first).

    The gradient flowing in this pass is kept in the nodes' `.grad` fields,
    starting from zero; whatever they held before is set aside and added back
    at the end, which is what makes repeated passes accumulate. With `wrt`
    the pass returns the gradients of those nodes and leaves every `.grad` as
    it was (the functional API uses this).
    """
    kept = [(n, g) for n in order if type(g := n.grad) is not float or g]
    for n, _ in kept:
        n.grad = 0.0
    if create_graph and not isinstance(gradient, Value):
        gradient = Value(gradient)
    elif not create_graph:
        gradient = gradient.data if isinstance(gradient, Value) else as_float(gradient, "gradient")
    root.grad = gradient
    check = bool(_mode.get() & _ANOMALY)
    if create_graph:
        global graph_grads_epoch
        graph_grads_epoch += 1  # before the pass: one that fails may leave Values in .grad
        token = _mode.set(_mode.get() & ~_NO_GRAD)
        try:
            _pass_graph(order, check)
        finally:
            _mode.reset(token)
        for n in order:
            if type(n.grad) is float:
                n.grad = Value(n.grad)
    else:
        _pass_float(order, check)

    result = None
    if wrt is not None:
        result = [n.grad for n in wrt]
        for n in order:
            n.grad = 0.0
        for n, g in kept:
            n.grad = g
    else:
        for n, g in kept:
            new = n.grad
            if not create_graph:  # plain accumulation: never grow a graph here
                g = g.data if isinstance(g, Value) else g
            n.grad = g + new
    return result


def _pass_float(order: list[Value], check: bool) -> None:
    """Backward over floats: every rule receives and returns plain numbers."""
    for node in reversed(order):
        op = node._fn
        if op is None:
            continue
        g = node.grad
        args = node._args
        if args is None:  # every operand is a Value: the common, fast case
            prev = node._prev
            vjps = op.vjps
            if vjps is None:
                args = prev  # variadic or rule-less: the general path below
            elif op.nargs == 1:
                (x,) = prev
                d = vjps[0](g, node.data, x.data)
                if check:
                    _check_grads(node, (d,))
                x.grad += d
                continue
            elif op.nargs == 2:
                x, y = prev
                xd = x.data
                yd = y.data
                dx = vjps[0](g, node.data, xd, yd)
                dy = vjps[1](g, node.data, xd, yd)
                if check:
                    _check_grads(node, (dx, dy))
                x.grad += dx
                y.grad += dy
                continue
            else:
                args = prev
        xs = [a.data if isinstance(a, Value) else a for a in args]
        grads = _vjp(op, g, node.data, xs, args)
        if check:
            grads = _check_grads(node, grads)
        for a, d in zip(args, grads):
            if isinstance(a, Value):
                a.grad += d


def _pass_graph(order: list[Value], check: bool) -> None:
    """Backward that records itself: rules receive Values, so gradients get graphs."""
    for node in reversed(order):
        op = node._fn
        if op is None:
            continue
        args = node._args if node._args is not None else node._prev
        grads = _vjp(op, node.grad, node, args, args)
        if check:
            grads = _check_grads(node, grads)
        for a, d in zip(args, grads):
            if isinstance(a, Value):
                old = a.grad
                a.grad = d if type(old) is float and old == 0.0 else old + d


def _vjp(op: Op, g: Any, ans: Any, xs: Sequence[Any], args: Sequence[Any]) -> Sequence[Any]:
    """All of one node's operand gradients: None where the operand is a constant."""
    if op.vjp_all is not None:
        return op.vjp_all(g, ans, *xs)  # type: ignore[no-any-return]
    if op.vjps is None:
        raise NotImplementedError(
            f"op '{op.name}' has no derivative rule, so backward cannot pass through it; "
            f"define one with @{op.name}.defvjp"
        )
    return [rule(g, ans, *xs) if isinstance(a, Value) else None for rule, a in zip(op.vjps, args)]


def _check_grads(node: Value, grads: Iterable[Any]) -> tuple[Any, ...]:
    """The gradients, read once (a rule may return a generator), each checked to be finite."""
    grads = tuple(grads)
    for d in grads:
        if d is None:
            continue
        v = d.data if isinstance(d, Value) else d
        if not math.isfinite(v):
            raise FloatingPointError(
                f"backward of op '{node._op}' produced gradient {v!r} "
                f"(its output {node.data!r}, incoming gradient {_data(node.grad)!r}, "
                f"inputs {_describe(node._args or node._prev)})"
            )
    return grads


def _data(x: Any) -> Any:
    return x.data if isinstance(x, Value) else x


def _describe(args: Iterable[Any]) -> str:
    parts = []
    for a in args:
        if isinstance(a, Value):
            parts.append(f"Value '{a.label}' = {a.data!r}" if a.label else repr(a.data))
        else:
            parts.append(repr(a))
    return "(" + ", ".join(parts) + ")"


# ops.py defines the operators through opdef.py, which imports this module: load them last.
from autograd import ops as _ops  # noqa: E402  (binds the operators above)
from autograd.opdef import Op  # noqa: E402  (re-exported: autograd.engine.Op)
