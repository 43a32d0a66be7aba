"""The reference engine: Value, how ops record a graph, and the backward pass, in one file.

Read it in this order: `Value` (a float, the op that made it and its
operands), `Value.backward`, `backprop` (the loop over the graph, newest node
first) and `chain_rule` (one node's step: every operand's `.grad +=` the
gradient its rule returns). There is no calculus here: each op's derivative
sits next to its forward rule in `autograd/ops.py` (`+`, `*` and `tanh` are
the first entries there).

This is the engine that defines the results. `autograd/fastpaths.py`
installs generated code over parts of it (Value's operators, one float step
per op, the neuron kernel); the tests check those against this file bit for
bit, and `TAPEGRAD_REFERENCE=1` in the environment runs this file alone.
"""

from __future__ import annotations

import decimal
import itertools
import math
import numbers
import operator
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    from autograd.opdef import Op

Operand: TypeAlias = "Value | float | int"
Observer = Callable[["Value", list[Any]], None]

# --- the switches: no_grad and detect_anomaly -------------------------------------
# One context variable holds both, so recording an op reads it once. Bit NO_GRAD:
# recording off. Bit ANOMALY: NaN/inf checks on. Other threads and asyncio tasks
# keep their own setting.
NO_GRAD = 1
ANOMALY = 2
modes: ContextVar[int] = ContextVar("tapegrad_mode", default=0)


@contextmanager
def no_grad() -> Iterator[None]:
    """Context manager: operations inside record no graph and return leaf Values.

    Like `torch.no_grad()`; a context variable, so threads and tasks keep their own.
    """
    token = modes.set(modes.get() | NO_GRAD)
    try:
        yield
    finally:
        modes.reset(token)


@contextmanager
def enable_grad() -> Iterator[None]:
    """Context manager: turn recording back on inside a `no_grad()` block."""
    token = modes.set(modes.get() & ~NO_GRAD)
    try:
        yield
    finally:
        modes.reset(token)


def is_grad_enabled() -> bool:
    """True when operations on Values are being recorded."""
    return not modes.get() & NO_GRAD


@contextmanager
def detect_anomaly() -> Iterator[None]:
    """Context manager: the first op producing a NaN/inf value or gradient raises.

    The `FloatingPointError` names the op, its inputs and, in the backward
    pass, the node whose gradient went bad.
    """
    token = modes.set(modes.get() | ANOMALY)
    try:
        yield
    finally:
        modes.reset(token)


# Every node an op records gets the next number of this counter (`_seq`). An
# operand always exists before its result, so sorting a graph's nodes by number,
# newest first, is a reverse topological order: the order of recording, kept for free.
tick = itertools.count(1).__next__

# While a functional transform (`grad`, `hessian`, ...) runs, the leaves made with
# `Value(...)` are logged here, so it can tell its own leaves from outer ones.
leaf_log: ContextVar[list[Value] | None] = ContextVar("tapegrad_leaf_log", default=None)


class Value:
    """One float in a computation graph, with the gradient a backward pass leaves in it.

    `Value(data, _children=(), _op='', label='')` has micrograd's signature, so
    code written for micrograd (and its graph-drawing snippet) keeps working.
    A node made by an op holds:

    - `data`: its float; `grad`: d(output)/d(this node) after `backward()`;
    - `_operands`: the Values it was computed from, in the op's argument order
      (a number an op received is stored as a `Constant`; `_prev` leaves those out);
    - `_maker`: the `Op` that made it (None for a leaf); `_op` is its symbol;
    - `_seq`: when it was recorded (0 for leaves and constants).

    A Value takes attributes of your own (`p.m = 0.0`), as micrograd's does.
    An op can also be added the micrograd way: build `out = Value(data, (x, ...),
    'name')` and assign `out._backward = fn`, where `fn()` adds `local *
    out.grad` into each operand's `.grad`. Reading `node._backward` gives a
    function that applies the node's rule once, as micrograd's closure does.
    """

    __slots__ = ("__dict__", "_maker", "_operands", "_seq", "data", "grad")

    data: float
    grad: Any  # a float; a Value after backward(create_graph=True); None counts as 0
    _operands: tuple[Value | Constant, ...]
    _maker: Op | ManualRule | None
    _seq: int

    def __init__(
        self, data: Any, _children: Iterable[Value] = (), _op: str = "", label: str = ""
    ) -> None:
        self.data = data if type(data) is float else as_float(data)
        self.grad = ZERO
        if label:
            self.label = label
        self._operands = tuple(_children)
        for c in self._operands:
            if not isinstance(c, Value):
                raise TypeError(f"Value children must be Values, got {type(c).__name__}: {c!r}")
        # A node built by hand (micrograd style) has no rule until `_backward` is assigned.
        self._maker = ManualRule(None, _op) if self._operands or _op else None
        self._seq = tick() if self._operands else 0
        log = leaf_log.get()
        if log is not None and not self._operands:
            log.append(self)

    def backward(self, gradient: Operand = 1.0, *, create_graph: bool = False) -> None:
        """Apply the chain rule from this Value to every node of its graph.

        Each node's `.grad` gets `gradient * d(self)/d(node)` added to it, so
        gradients accumulate across calls as in PyTorch: call `zero_grad()` or
        set `.grad = 0.0` between steps. A pass starts from zero and adds its
        result to what each node held, so a gradient left in an intermediate
        node by an earlier pass is kept, never propagated again. (micrograd
        propagates such leftovers a second time, a known bug of its: code that
        calls `backward()` twice on overlapping graphs, like an early microgpt
        once per position, gets different weight gradients there.)

        Nodes are visited newest first (the reverse of recording order, a
        topological order), with no recursion, so chains of any depth work. A
        pass that fails, or is interrupted, leaves every `.grad` as it was.

        Args:
            gradient: the seed d(loss)/d(self); 1.0 for a scalar loss.
            create_graph: record the backward pass itself, so every `.grad`
                becomes a Value that can be differentiated again.
        """
        backprop(self, gradient, create_graph=create_graph)

    # Operators and methods only dispatch into autograd.ops, where each op's
    # forward and derivative live side by side.
    def __add__(self, other: Operand) -> Value:
        return ops.add(self, other)

    def __radd__(self, other: Operand) -> Value:
        return ops.add(other, self)

    def __sub__(self, other: Operand) -> Value:
        return ops.sub(self, other)

    def __rsub__(self, other: Operand) -> Value:
        return ops.sub(other, self)

    def __mul__(self, other: Operand) -> Value:
        return ops.mul(self, other)

    def __rmul__(self, other: Operand) -> Value:
        return ops.mul(other, self)

    def __truediv__(self, other: Operand) -> Value:
        return ops.div(self, other)

    def __rtruediv__(self, other: Operand) -> Value:
        return ops.div(other, self)

    def __pow__(self, other: Operand) -> Value:
        return ops.pow(self, other)

    def __rpow__(self, other: Operand) -> Value:
        return ops.pow(other, self)

    def __neg__(self) -> Value:
        return ops.neg(self)

    def __pos__(self) -> Value:
        return self

    def __abs__(self) -> Value:
        return ops.abs(self)

    def exp(self) -> Value:
        """e ** self."""
        return ops.exp(self)

    def log(self) -> Value:
        """Natural logarithm; self must be > 0."""
        return ops.log(self)

    def sqrt(self) -> Value:
        """Square root; self must be >= 0."""
        return ops.sqrt(self)

    def sin(self) -> Value:
        """Sine."""
        return ops.sin(self)

    def cos(self) -> Value:
        """Cosine."""
        return ops.cos(self)

    def tanh(self) -> Value:
        """Hyperbolic tangent."""
        return ops.tanh(self)

    def sigmoid(self) -> Value:
        """Logistic function 1 / (1 + e**-self), computed stably."""
        return ops.sigmoid(self)

    def relu(self) -> Value:
        """max(0, self); derivative 0 at 0, as in PyTorch."""
        return ops.relu(self)

    def leaky_relu(self, slope: Operand = 0.01) -> Value:
        """self if self > 0 else slope * self."""
        return ops.leaky_relu(self, slope)

    def softplus(self) -> Value:
        """log(1 + e**self), computed stably."""
        return ops.softplus(self)

    def item(self) -> float:
        """The wrapped number as a Python float."""
        return self.data

    # Comparisons look at .data only; == and hash stay identity so Values live in sets.
    def __lt__(self, other: Operand) -> bool:
        return self.data < (other.data if isinstance(other, Value) else other)

    def __le__(self, other: Operand) -> bool:
        return self.data <= (other.data if isinstance(other, Value) else other)

    def __gt__(self, other: Operand) -> bool:
        return self.data > (other.data if isinstance(other, Value) else other)

    def __ge__(self, other: Operand) -> bool:
        return self.data >= (other.data if isinstance(other, Value) else other)

    def __repr__(self) -> str:
        # Full precision, as micrograd prints it: repr(float) round-trips exactly.
        label = self.label
        extra = f", label={label!r}" if label else ""
        return f"Value(data={self.data!r}, grad={self.grad!r}{extra})"

    # micrograd's names for what a node holds.
    #: A name for drawings and tapes ('' when none was given). Set, it lives in the
    #: Value's own `__dict__`: the many unnamed nodes an op makes carry no slot for it.
    label: str = ""

    @property
    def _op(self) -> str:
        """The symbol of the op that made this node ('' for a leaf), as micrograd names it."""
        maker = self._maker
        return "" if maker is None else maker.symbol

    @property
    def _prev(self) -> tuple[Value, ...]:
        """The Values this node was computed from (constants left out), as micrograd names them."""
        return tuple([a for a in self._operands if type(a) is not Constant])  # type: ignore[misc]

    @property
    def _backward(self) -> Callable[[], None]:
        """This node's chain-rule step: adds `local derivative * self.grad` into each operand."""
        maker = self._maker
        if isinstance(maker, ManualRule) and maker.fn is not None:
            return maker.fn
        return lambda: chain_rule(self)

    @_backward.setter
    def _backward(self, fn: Callable[[], None]) -> None:
        if not callable(fn):
            raise TypeError(f"_backward must be a function, got {type(fn).__name__}")
        if self._operands:  # a leaf has no operands to pass a gradient to (micrograd's no-op)
            self._maker = ManualRule(fn, self._op)

    # Copies and pickles walk the whole graph iteratively (autograd/copying.py).
    def __copy__(self) -> Value:
        from autograd import copying

        return copying.shallow_copy(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> Value:
        from autograd import copying

        return copying.deep_copy(self, memo)

    def __reduce_ex__(self, protocol: Any) -> tuple[Any, ...]:
        from autograd import copying

        return copying.reduce(self)

    def __getstate__(self) -> dict[str, Any]:
        from autograd import copying

        return copying.state(self)

    def __setstate__(self, state: Any) -> None:
        from autograd import copying

        copying.set_state(self, state)


class Constant:
    """A number an op received, kept among the node's operands (not a Value: no graph, no gradient).

    A node's `_operands` hold Values and Constants, so every operand has `.data`
    (and a `.grad` the fast paths may add into, which nothing reads). `_prev`,
    drawings and tapes leave it out or show it as the number it is. Five slots
    and no `__dict__`: a graph holds many of them (`x * 0.5`), so they stay small.
    Wherever a number is accepted, a Constant is too (it is one).
    """

    __slots__ = ("_maker", "_operands", "_seq", "data", "grad")

    label = ""
    _op = ""
    _prev = ()
    _maker: None
    _operands: tuple[()]
    _seq: int
    data: float
    grad: Any

    def __repr__(self) -> str:
        return f"Constant({self.data!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        # every pickle protocol (0 and 1 cannot pickle bare __slots__ by themselves)
        return (constant, (self.data,))


#: What a node's `_operands` hold.
Node: TypeAlias = Value | Constant


def constant(x: Any, where: str = "operand") -> Constant:
    """A `Constant` holding the number x (`where` names it in a TypeError)."""
    c = object.__new__(Constant)
    c.data = x if type(x) is float else as_float(x, where)
    c.grad = ZERO
    c._operands = ()
    c._maker = None
    c._seq = 0
    return c


# --- backward -----------------------------------------------------------------------


def backward_order(root: Value) -> tuple[set[Value | Constant], list[Value]]:
    """(every node `root` depends on, the op-made ones newest first: the backward order).

    One sweep with a stack (no recursion) collects the graph; sorting by
    recording number, newest first, orders it so each node comes before its
    operands: its gradient is complete before its rule passes it on.
    """
    seen: set[Value | Constant] = {root}
    stack = [root]
    made = [root] if root._maker is not None else []
    while stack:
        for a in stack.pop()._operands:
            if a not in seen:
                seen.add(a)
                if a._maker is not None:  # (a Constant, like a leaf, has no maker)
                    stack.append(a)
                    made.append(a)
    made.sort(key=_recorded, reverse=True)
    return seen, made


_recorded = operator.attrgetter("_seq")
_sign = math.copysign

#: The +0.0 every new node's `.grad` holds (one object: `g is ZERO` is a quick test).
ZERO = 0.0

# Passes keep their running gradients in the nodes' `.grad`, so two passes over shared
# nodes must not interleave: one at a time (re-entrant: a rule may differentiate too).
backward_lock = threading.RLock()

# Counts backward(create_graph=True) passes, which leave Values in `.grad`: a compiled
# program checks it to turn such gradients back into floats before adding floats.
graph_grads_epoch = 0


def backprop(
    root: Value,
    gradient: Any = 1.0,
    *,
    create_graph: bool = False,
    wrt: Sequence[Value] | None = None,
    observe: Observer | None = None,
) -> list[Any] | None:
    """The backward pass from `root` (what `Value.backward` runs); see there.

    Each node's `.grad` is set aside, the pass runs from zero (the seed in
    `root.grad`) calling `chain_rule` on every node in `backward_order`, and
    at the end each node holds what it had plus what the pass brought. With
    `wrt`, returns those nodes' gradients from this pass and leaves every
    `.grad` as it was (the functional API). `observe(node, grads)` is called
    at each step with the gradients the node passes on (`explain` records them).
    """
    global graph_grads_epoch
    seed: Any
    if create_graph:
        seed = gradient if isinstance(gradient, Value) else Value(as_float(gradient, "gradient"))
    else:
        seed = gradient.data if isinstance(gradient, Value) else as_float(gradient, "gradient")
    backward_lock.acquire()
    try:  # (not `with`: a trace function may raise at any line, and must not leak the lock)
        nodes, order = backward_order(root)
        # Set aside every gradient but +0.0 (a -0.0 too: a pass starts from +0.0 exactly,
        # so the fast paths may skip adding zero shares, as the reference's sums allow).
        # Nodes start out holding ZERO itself, so most zeros need no look at their sign.
        kept = [
            (n, g)
            for n in nodes
            if (g := n.grad) is not ZERO and (type(g) is not float or g or _sign(1.0, g) < 0.0)
        ]
        try:  # from the first change on: whatever happens, every .grad is put back
            for n, _ in kept:
                n.grad = ZERO
            root.grad = seed
            if create_graph:
                graph_grads_epoch += 1  # before the pass: a failed one may leave Values
                with enable_grad():  # rules (and the sums below) record even in no_grad()
                    for node in order:
                        chain_rule(node)
                    for n in nodes:
                        if type(n.grad) is float:
                            n.grad = Value(n.grad)
                    totals = _totals(kept, wrt, graph=True)
            else:
                if observe is not None or modes.get() & ANOMALY:
                    for node in order:
                        chain_rule(node, observe)
                else:
                    float_pass(order)
                totals = _totals(kept, wrt, graph=False)
            if wrt is not None:
                result = [n.grad for n in wrt]
                _restore(nodes, kept)
                return result
            for n, total in totals:  # every sum is made before any is stored
                n.grad = total
        except BaseException:
            _restore(nodes, kept)
            raise
    finally:
        backward_lock.release()
    return None


def chain_rule(node: Value, observe: Observer | None = None) -> None:
    """One step of backward: `operand.grad += g * d(node)/d(operand)` for each operand.

    The op's rules compute those products from the node's gradient `g`, its
    value `ans` and its operands: on floats, or on Values when `g` is a Value
    (`create_graph`), which records them as a graph of their own.
    """
    maker = node._maker
    if maker is None:  # a leaf: nothing below it
        return
    if isinstance(maker, ManualRule):
        maker.run(node)
        return
    g = 0.0 if node.grad is None else node.grad
    graph = isinstance(g, Value)
    args = node._operands
    if graph:  # the rules get Values (and constants as numbers), and record what they do
        with enable_grad():
            grads = maker.vjp(node, g, node, operands(node), graph=True)
    else:
        grads = maker.vjp(node, g, node.data, [a.data for a in args], graph=False)
    if modes.get() & ANOMALY:
        _check_finite(node, grads)
    if observe is not None:
        observe(node, grads)
    for a, d in zip(args, grads):
        if d is not None:  # None: a constant operand, which takes no gradient
            old = a.grad
            a.grad = d if old is None or (graph and type(old) is float and old == 0.0) else old + d


def reference_pass(order: list[Value]) -> None:
    """The float backward loop: `chain_rule` on every node, in order."""
    for node in order:
        chain_rule(node)


# What `backprop` runs for a plain float pass: this file's loop, or the faster one
# autograd/fastpaths.py installs (each op's generated step), which tests check against it.
float_pass: Callable[[list[Value]], None] = reference_pass


def _totals(
    kept: list[tuple[Node, Any]], wrt: Sequence[Value] | None, graph: bool
) -> list[tuple[Node, Any]]:
    """Each node's gradient before the pass plus what the pass brought (none for `wrt`)."""
    if wrt is not None:
        return []
    totals = []
    for n, old in kept:
        if old is None:  # None is PyTorch's "no gradient yet": it counts as 0
            continue
        if not graph and isinstance(old, Value):  # plain accumulation never grows a graph
            old = old.data
        totals.append((n, old + n.grad))
    return totals


def _restore(nodes: Iterable[Node], kept: list[tuple[Node, Any]]) -> None:
    """Put every `.grad` of `nodes` back as it was before the pass, even if interrupted."""
    while True:
        try:
            for n in nodes:
                n.grad = ZERO
            for n, g in kept:
                n.grad = g
            return
        except BaseException:  # a second interrupt while restoring: finish restoring first
            continue


def _check_finite(node: Value, grads: Iterable[Any]) -> None:
    """Under detect_anomaly: every gradient a rule returns must be finite."""
    for d in grads:
        v = d.data if isinstance(d, Value) else d
        if d is not None and not math.isfinite(v):
            g = node.grad.data if isinstance(node.grad, Value) else node.grad
            raise FloatingPointError(
                f"backward of op '{node._op}' produced gradient {v!r} "
                f"(its output {node.data!r}, incoming gradient {g!r}, "
                f"inputs {describe(operands(node))})"
            )


class ManualRule:
    """The derivative of a node built by hand, micrograd style: `out._backward = fn`.

    `fn()` adds `local * out.grad` into the operands' `.grad` itself. It works
    on floats, so `backward(create_graph=True)` refuses it rather than silently
    missing second-order terms. `fn` is None for a node built with children and
    no rule yet (backward then says so). It has an op's attributes (no forward,
    no rules), so tools that read `_maker` refuse it by name.
    """

    nargs = -1
    vjps = None
    vjp_all = None
    defaults = ()
    kinks = ()
    domain = (-math.inf, math.inf)
    float_kernel = None

    def __init__(self, fn: Callable[[], None] | None, symbol: str = "") -> None:
        self.fn = fn
        self.symbol = symbol  # what `_op` shows: the name the node was built with
        self.name = symbol or "unnamed"
        self.float_step = self.run  # what the fast backward loop calls

    def __repr__(self) -> str:
        return f"<op {self.name} with an assigned _backward>"

    def __reduce__(self) -> Any:
        if self.fn is None:  # a node built by hand and not given a rule yet
            return (ManualRule, (None, self.symbol))
        import pickle

        raise pickle.PicklingError(
            f"cannot pickle op {self.name!r}: its _backward was assigned by hand and refers "
            "to the nodes; define the op with @custom_op"
        )

    @staticmethod
    def forward(*xs: float) -> float:
        """A hand-built node has no forward rule to call."""
        raise TypeError("an op whose _backward was assigned by hand has no forward rule to call")

    def run(self, node: Value) -> None:
        """Call the assigned function (it adds into the operands' `.grad` itself)."""
        if isinstance(node.grad, Value):
            raise TypeError(
                f"backward(create_graph=True) cannot differentiate through op {node._op!r}: "
                "its _backward was assigned micrograd-style and works on floats only; define "
                "the op with @custom_op to get higher-order derivatives"
            )
        if self.fn is None:
            if node._operands:
                raise TypeError(
                    f"{node!r} (op {node._op!r}) was built with {len(node._prev)} children but "
                    "no derivative rule, so backward cannot pass through it: assign "
                    "out._backward = fn (micrograd style) or build it from tapegrad's ops"
                )
            return  # a leaf given an op name: nothing to pass a gradient to
        self.fn()


# --- the graph as a list ---------------------------------------------------------------


def topological_order(root: Value) -> list[Value]:
    """Every Value `root` depends on, each once, leaves first and `root` last.

    Iterative depth-first search (no recursion), so a chain of a million
    nodes is fine. The order is that of a recursive post-order walk through
    each node's operands, as micrograd's `build_topo`, so it is the same on
    every run; `backward()` does not need it (it replays the recording order).
    """
    order: list[Value] = []
    seen = {root}
    stack = [(root, iter(root._prev))]
    while stack:
        node, children = stack[-1]
        for child in children:
            if child not in seen:
                seen.add(child)
                stack.append((child, iter(child._prev)))
                break
        else:
            stack.pop()
            order.append(node)
    return order


def operands(v: Value) -> tuple[Any, ...]:
    """A node's operands as displays show them: Values, and constants as their numbers."""
    return tuple([a.data if type(a) is Constant else a for a in v._operands])


def is_constant(v: Value | Constant) -> bool:
    """True for a Value that stands for a number an op received (see `Constant`)."""
    return type(v) is Constant


# --- numbers in, messages out -------------------------------------------------------------


def as_float(x: object, where: str = "Value data") -> float:
    """Convert a real number to a Python float; anything else is a TypeError.

    Real numbers are ints, floats, bools, `fractions.Fraction`, `decimal.Decimal`
    and numpy's integer, float and bool scalars; complex numbers, strings, None
    and containers are not.
    """
    if type(x) is float:
        return x
    if isinstance(x, (int, float)):  # bool is an int; numpy float64 is a float
        return float(x)
    if type(x) is Constant:
        return x.data
    if isinstance(x, Value):
        raise TypeError(f"{where} must be a number, got a Value ({x!r}); pass the Value itself")
    if isinstance(x, (numbers.Real, decimal.Decimal)):  # Fraction, Decimal, numpy scalars
        return float(x)
    kind = getattr(getattr(x, "dtype", None), "kind", None)
    if kind in ("b", "i", "u", "f") and getattr(x, "ndim", None) == 0:
        return float(x)  # type: ignore[arg-type]  # a 0-d numpy array
    raise TypeError(
        f"{where} must be a real number (int, float, bool or numpy scalar), "
        f"got {type(x).__name__}: {x!r}"
    )


def describe(args: Iterable[Any]) -> str:
    """Operands for an error message: `(Value 'x' = 1.0, 2.0)`."""
    parts = []
    for a in args:
        if isinstance(a, Value):
            parts.append(f"Value '{a.label}' = {a.data!r}" if a.label else repr(a.data))
        else:
            parts.append(repr(a))
    return "(" + ", ".join(parts) + ")"


# The one import that goes back up: Value's operators dispatch into the op table,
# which is built on this module (so it is imported last, when Value exists).
from autograd import ops  # noqa: E402
from autograd.ops import Op, custom_op  # noqa: E402  (re-exported: `autograd.engine.Op`)

__all__ = [
    "Constant",
    "ManualRule",
    "Op",
    "Value",
    "backprop",
    "chain_rule",
    "constant",
    "custom_op",
    "detect_anomaly",
    "enable_grad",
    "is_constant",
    "is_grad_enabled",
    "no_grad",
    "operands",
    "topological_order",
]
